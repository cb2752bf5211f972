"""Engines for what-if evaluation (replay, qa).

A replayed or mass-checked send is not a real send: decision observers (audit logs, metrics)
must not see it, and advice is never looked at, so :class:`QuietPlugins` calls neither. The
detectors are exactly those of an ordinary engine.
"""

from __future__ import annotations

from typing import Any

from inmail_guard.engine.evaluator import Engine
from inmail_guard.engine.types import Advice, Decision, Facts, Message
from inmail_guard.plugins.manager import Plugins
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
