"""inmail-guard: a policy engine and service for paid direct messages (InMail).

The public Python API::

    import inmail_guard as ig

    engine = ig.Engine(ig.default_policy())
    decision = engine.evaluate(message, facts)
"""

from __future__ import annotations

from inmail_guard.engine.evaluator import Engine, PolicyCompileError
from inmail_guard.engine.rules import UnknownPlanError
from inmail_guard.engine.types import (
    Advice,
    Attachment,
    BodyFingerprint,
    Client,
    Decision,
    Facts,
    Member,
    Message,
    Reason,
    Signal,
)
from inmail_guard.plugins.base import Detector, DetectorConfig
from inmail_guard.plugins.hookspecs import hookimpl
from inmail_guard.policies.loader import PolicyError, default_policy, load_policy
from inmail_guard.policies.schema import Policy

__all__ = [
    "Advice",
    "Attachment",
    "BodyFingerprint",
    "Client",
    "Decision",
    "Detector",
    "DetectorConfig",
    "Engine",
    "Facts",
    "Member",
    "Message",
    "Policy",
    "PolicyCompileError",
    "PolicyError",
    "Reason",
    "Signal",
    "UnknownPlanError",
    "default_policy",
    "hookimpl",
    "load_policy",
]
