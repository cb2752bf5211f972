"""What every collaborator of :class:`~inmail_guard.service.InMailService` shares: one
:class:`ServiceContext` (store, clock, recorder, and the active policy).

The active policy is one immutable :class:`ActivePolicy`: the engine and the :class:`Terms`
compiled from it. A policy reload replaces it with one assignment (``ctx.active = ...``), and
each operation reads ``ctx.active`` once when it starts, so a request never mixes the engine of
one policy with the terms of another: requests in flight finish with what they started with.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from inmail_guard.engine.evaluator import Engine
from inmail_guard.engine.plans import PlanLimits
from inmail_guard.plugins.manager import Plugins
from inmail_guard.policies.schema import Policy
from inmail_guard.service.errors import check_service_policy
from inmail_guard.service.recording import Recorder
from inmail_guard.store import Store


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    """``prefix_`` + 16 hex digits of wall-clock nanoseconds + 16 random hex digits: unique,
    and roughly time-ordered, so new rows land at the right edge of each index (locality) and
    ties between equal ``sent_at`` break newest-first."""
    return f"{prefix}_{time.time_ns():016x}{secrets.token_hex(8)}"


@dataclass(frozen=True, slots=True)
class Terms:
    """The service's terms, compiled once from an engine's policy and detectors.

    ``abuse_window``/``abuse_threshold``, ``bodies_window`` and ``fingerprint_version`` are what
    the enabled detectors declared (``Engine.history``), never read from their settings here.
    """

    expire_after: timedelta
    retract_within: timedelta
    preview_chars: int
    body_max_chars: int
    rollover_cap: int
    refund_within: timedelta | None
    restrict_on_abuse: bool
    abuse_window: timedelta
    abuse_threshold: int
    bodies_window: timedelta | None
    fingerprint_version: int
    timezone: str

    @classmethod
    def of(cls, engine: Engine) -> Terms:
        policy, history = engine.policy, engine.history
        life = policy.lifecycle
        return cls(
            expire_after=life.expire_unopened_after,
            retract_within=life.retract_within,
            preview_chars=life.preview_chars,
            body_max_chars=policy.content.body.max_chars,
            rollover_cap=policy.credits.rollover_cap,
            refund_within=policy.credits.refund_on_response_within,
            restrict_on_abuse=policy.spam.restriction.on_abuse_report,
            abuse_window=history.abuse_reports_window,
            abuse_threshold=history.abuse_reports_threshold,
            bodies_window=history.bodies_window,
            fingerprint_version=history.fingerprint_version,
            timezone=policy.credits.timezone,
        )


@dataclass(frozen=True, slots=True)
class ActivePolicy:
    """The engine and the terms compiled from it: swapped together or not at all."""

    engine: Engine
    terms: Terms

    @classmethod
    def of(cls, engine: Engine) -> ActivePolicy:
        """Check the engine's policy can run the service, and compile its terms."""
        from inmail_guard.plugins.sinks import register_builtin_sinks

        check_service_policy(engine.policy)
        terms = Terms.of(engine)
        register_builtin_sinks(engine.plugins)
        return cls(engine, terms)

    @property
    def policy(self) -> Policy:
        return self.engine.policy

    @property
    def plugins(self) -> Plugins:
        return self.engine.plugins

    @property
    def plans(self) -> PlanLimits:
        return self.engine.plans

    def plan_limit(self, plan: str) -> int:
        """The plan's monthly credits, as the service asks (``unknown_plan`` names ``plan``)."""
        return self.engine.plans.limit(plan, field="plan", what="plan")

    def windows(self, now: datetime) -> tuple[datetime, datetime]:
        """(start of the credit window holding ``now``, start of the one before it)."""
        start = self.engine.window_start(now)
        return start, self.engine.window_start(start - timedelta(seconds=1))


class ServiceContext:
    """The one object the collaborators share. Only ``active`` changes after construction
    (:meth:`swap`), in one assignment."""

    __slots__ = ("active", "clock", "recorder", "store")

    def __init__(self, store: Store, engine: Engine, clock: Callable[[], datetime],
                 recorder: Recorder | None) -> None:
        self.store = store
        self.clock = clock
        #: Opt-in: every evaluated send written as a replay record (service.recording).
        self.recorder = recorder
        self.active = ActivePolicy.of(engine)

    def swap(self, engine: Engine) -> ActivePolicy:
        """Use ``engine`` from the next operation on; a policy the service cannot run raises
        ``ValueError`` and changes nothing."""
        active = ActivePolicy.of(engine)
        self.active = active
        return active

    def now(self) -> datetime:
        now = self.clock()
        if now.tzinfo is None:
            raise ValueError("the service clock must return aware datetimes")
        return now.astimezone(UTC)


__all__ = ["ActivePolicy", "ServiceContext", "Terms", "new_id", "utc_now"]
