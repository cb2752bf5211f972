"""Engines for what-if evaluation (replay, qa), and the policy check that comes first.

A replayed or mass-checked send is not a real send: decision observers (audit logs, metrics)
must not see it, and advice is never looked at, so :class:`QuietPlugins` calls neither. The
detectors are exactly those of an ordinary engine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from inmail_guard.engine.evaluator import Engine
from inmail_guard.engine.types import Advice, Decision, Facts, Message
from inmail_guard.plugins.manager import Plugins
from inmail_guard.policies.errors import PolicyError
from inmail_guard.policies.schema import Policy


class QuietPlugins(Plugins):
    def advise(self, message: Message, facts: Facts, content: Any) -> tuple[Advice, ...]:
        return ()

    def has_decision_observers(self) -> bool:
        return False

    def decision(self, message: Message, facts: Facts, decision: Decision) -> None:
        return None


def what_if_engine(policy: Policy) -> Engine:
    return Engine(policy, QuietPlugins())


def checked_policy(ref: str | Path, *, build_engine: bool = True) -> Policy:
    """Load ``ref`` (a file or ``builtin:default``) and check that an engine can run it, as
    ``policy validate`` does: detectors, their settings and models (a classifier model that is
    missing or fails its sha256 check). Raises :class:`PolicyError` with every issue located
    at file:line:col. ``build_engine=False`` checks the detectors' settings without loading
    any model (see :func:`~inmail_guard.policies.check.check_policy`)."""
    from inmail_guard.policies.check import check_policy

    policy, issues = check_policy(ref, build_engine=build_engine)
    if policy is None:
        raise PolicyError(issues)
    return policy
