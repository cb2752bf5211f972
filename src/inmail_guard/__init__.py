"""inmail-guard: a policy engine and service for paid direct messages (InMail).

The public Python API::

    import inmail_guard as ig

    engine = ig.Engine(ig.default_policy())
    decision = engine.evaluate(message, facts)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inmail_guard.engine.evaluator import Engine, PolicyCompileError
    from inmail_guard.engine.plans import UnknownPlanError
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
    from inmail_guard.service import InMailService, ManualClock, ServiceError

# Imported on first use (PEP 562), so ``inmail-guard --help`` and the CLI's verbs pay only for
# what they use: the engine pulls in pydantic models, pluggy and the policy schema.
_EXPORTS = {
    "Engine": "inmail_guard.engine.evaluator",
    "PolicyCompileError": "inmail_guard.engine.evaluator",
    "UnknownPlanError": "inmail_guard.engine.plans",
    **dict.fromkeys(("Advice", "Attachment", "BodyFingerprint", "Client", "Decision", "Facts",
                     "Member", "Message", "Reason", "Signal"), "inmail_guard.engine.types"),
    "Detector": "inmail_guard.plugins.base",
    "DetectorConfig": "inmail_guard.plugins.base",
    "hookimpl": "inmail_guard.plugins.hookspecs",
    "PolicyError": "inmail_guard.policies.loader",
    "default_policy": "inmail_guard.policies.loader",
    "load_policy": "inmail_guard.policies.loader",
    "Policy": "inmail_guard.policies.schema",
    **dict.fromkeys(("InMailService", "ManualClock", "ServiceError"), "inmail_guard.service"),
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'inmail_guard' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


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
    "InMailService",
    "ManualClock",
    "Member",
    "Message",
    "Policy",
    "PolicyCompileError",
    "PolicyError",
    "Reason",
    "ServiceError",
    "Signal",
    "UnknownPlanError",
    "default_policy",
    "hookimpl",
    "load_policy",
]
