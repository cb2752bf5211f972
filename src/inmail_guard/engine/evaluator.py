"""Engine: rules -> detectors (via pluggy) -> score -> Decision.

``Engine(policy)`` compiles the policy once (rule closures over sets and ints, one detector
instance per enabled detector); ``evaluate`` is then pure given (policy, message, facts): the
only clock it reads is ``facts.now`` (``duration_ms`` and ``decision_id`` aside).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import MAXYEAR, UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from inmail_guard.engine.content import SOURCE_LIMIT_FACTOR, Content, parse_body
from inmail_guard.engine.history import NO_ANNOTATIONS, SendAnnotations, SendHistory
from inmail_guard.engine.plans import PlanLimits
from inmail_guard.engine.rules import Context, compile_rules, rule_names
from inmail_guard.engine.types import (
    Credits,
    Decision,
    Facts,
    Message,
    PolicyRef,
    Reason,
    ShadowHit,
    Signal,
    SpamResult,
)
from inmail_guard.fieldpath import format_path
from inmail_guard.plugins.base import Detector
from inmail_guard.plugins.manager import Plugins
from inmail_guard.policies.schema import Policy
from inmail_guard.reasons import SENDER_MESSAGES

_ZERO = timedelta(0)
SKIPPED_STATIC = "a static rule rejected the send"
SKIPPED_DECIDED = "the spam score had already reached restrict_at"


class PolicyCompileError(ValueError):
    """The policy validated but cannot run with the installed plugins (e.g. unknown detector)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems  # (key path, message)
        super().__init__("; ".join(f"{path}: {msg}" for path, msg in problems))


@dataclass(frozen=True, slots=True)
class _Slot:
    """One enabled detector as compiled: the instance and whether it runs in shadow mode."""

    detector: Detector
    shadow: bool
    fail_closed: bool
    expensive: bool


@dataclass(slots=True)
class _State:
    """One send being evaluated; shared by ``evaluate`` and ``evaluate_many``."""

    message: Message
    facts: Facts
    content: Content
    reasons: list[Reason]
    shadow: list[ShadowHit]
    started: float
    static_rejected: bool = False
    score: float = 0.0
    signals: list[Signal] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class Engine:
    """Evaluates sends against one compiled policy."""

    def __init__(self, policy: Policy, plugins: Plugins | None = None) -> None:
        self.policy = policy
        self.plugins = plugins if plugins is not None else Plugins()
        self.ref = PolicyRef(policy.name, policy.version)
        #: Each plan's monthly credits, compiled once: the credit rule, the decision's credits
        #: and the service's accounts all read them here.
        self.plans = PlanLimits.of(policy)
        self._tz = ZoneInfo(policy.credits.timezone)
        self._utc = policy.credits.timezone in ("UTC", "Etc/UTC")
        self._window_ends: dict[tuple[int, int], datetime] = {}
        self._max_source = policy.content.body.max_chars * SOURCE_LIMIT_FACTOR
        self._reject_at = policy.spam.reject_at
        self._restrict_at = policy.spam.restrict_at
        self._durations = tuple(policy.spam.restriction.durations)
        self.detectors = self._compile_detectors()
        modes = policy.rules_mode
        known = set(rule_names(policy)) | {s.detector.name for s in self.detectors}
        unknown = sorted(set(modes) - known)
        if unknown:
            raise PolicyCompileError([
                (f"rules_mode.{name}",
                 f"expected a rule or enabled detector name, found {name!r}"
                 f" (known: {', '.join(sorted(known))})")
                for name in unknown
            ])
        self._rules = [(name, check, modes.get(name) == "shadow")
                       for name, check in compile_rules(policy)]
        self._observed = self.plugins.has_decision_observers()
        try:
            #: What the enabled detectors need kept and read back across sends.
            self.history = SendHistory.merge(
                (slot.detector.name, need) for slot in self.detectors
                if (need := slot.detector.history()) is not None)
        except ValueError as exc:
            raise PolicyCompileError([("spam.detectors", str(exc))]) from None

    # --- compile ---------------------------------------------------------------------------

    def _compile_detectors(self) -> list[_Slot]:
        classes = self.plugins.detector_classes()
        problems: list[tuple[str, str]] = []
        slots: list[_Slot] = []
        for name, settings in self.policy.spam.detectors.items():
            cls = classes.get(name)
            if cls is None:
                problems.append((f"spam.detectors.{name}",
                                 f"unknown detector {name!r}; installed detectors:"
                                 f" {', '.join(classes) or 'none'}"))
                continue
            try:
                detector = cls.from_settings(settings or {}, self.policy)
            except ValidationError as exc:
                for err in exc.errors():
                    problems.append((format_path(("spam", "detectors", name, *err["loc"])),
                                     err["msg"]))
                continue
            if not detector.config.enabled:
                continue
            slots.append(_Slot(detector, self.policy.rules_mode.get(name) == "shadow",
                               detector.config.on_error == "fail_closed", cls.expensive))
        if problems:
            raise PolicyCompileError(problems)
        slots.sort(key=lambda s: (s.expensive, s.detector.name))
        for slot in slots:
            self.plugins.register_detector(slot.detector)
        return slots

    # --- evaluate --------------------------------------------------------------------------

    def evaluate(self, message: Message, facts: Facts, *, observe: bool = True) -> Decision:
        """The decision on ``message`` given ``facts``. ``observe=False`` leaves the
        ``inmail_guard_decision`` observers out: for a caller that may discard the decision
        (a send whose read went stale decides again) and calls :meth:`observe` for the one it
        keeps."""
        state = self._static(message, facts)
        if not state.static_rejected:
            for slot in self.detectors:
                if self._skippable(state, slot):
                    state.skipped.append(slot.detector.name)
                    continue
                signal, error, _ = self.plugins.check(slot.detector, message, facts,
                                                      state.content)
                self._apply(state, slot, signal, error)
        return self._finish(state, observe)

    def observe(self, message: Message, facts: Facts, decision: Decision) -> None:
        """Tell the ``inmail_guard_decision`` observers about a decision made with
        ``evaluate(..., observe=False)``."""
        if self._observed:
            self.plugins.decision(message, facts, decision)

    def evaluate_many(self, pairs: Iterable[tuple[Message, Facts]]) -> list[Decision]:
        """Same decisions as ``[evaluate(m, f) for m, f in pairs]``, detectors run in batches."""
        states = [self._static(m, f) for m, f in pairs]
        live = [s for s in states if not s.static_rejected]
        for slot in self.detectors:
            batch = []
            for state in live:
                if self._skippable(state, slot):
                    state.skipped.append(slot.detector.name)
                else:
                    batch.append(state)
            if not batch:
                continue
            for state, (signal, error) in zip(batch, self._check_many(slot, batch), strict=True):
                self._apply(state, slot, signal, error)
        return [self._finish(s) for s in states]

    def _check_many(
        self, slot: _Slot, batch: Sequence[_State]
    ) -> list[tuple[Signal | None, BaseException | None]]:
        try:
            signals = slot.detector.check_many([(s.message, s.facts, s.content) for s in batch])
            return [(sig, None) for sig in signals]
        except Exception:
            # Isolate the failing item(s): fall back to one call each.
            out = []
            for s in batch:
                signal, error, _ = self.plugins.check(slot.detector, s.message, s.facts, s.content)
                out.append((signal, error))
            return out

    def _static(self, message: Message, facts: Facts) -> _State:
        started = time.perf_counter()
        content = parse_body(message.body, max_source_chars=self._max_source)
        ctx = Context(message, facts, content, self.plans)
        reasons: list[Reason] = []
        shadow: list[ShadowHit] = []
        for _name, check, shadowed in self._rules:
            found = check(ctx)
            if found:
                if shadowed:
                    shadow.extend(ShadowHit(r.code, r.rule, r.detail) for r in found)
                else:
                    reasons.extend(found)
        return _State(message, facts, content, reasons, shadow, started, bool(reasons))

    def _skippable(self, state: _State, slot: _Slot) -> bool:
        # Once the score reached restrict_at nothing a non-negative signal adds can change the
        # outcome, the reasons or the restriction; fail_closed detectors still run because
        # their failure would add a reason.
        return slot.expensive and not slot.fail_closed and state.score >= self._restrict_at

    def _apply(
        self, state: _State, slot: _Slot, signal: Signal | None, error: BaseException | None
    ) -> None:
        name = slot.detector.name
        if error is None and signal is not None and signal.score < 0:
            error = ValueError(f"negative score {signal.score}")
        if error is not None:
            signal = Signal(name, 0.0, f"detector failed: {type(error).__name__}",
                            error=f"{type(error).__name__}: {error}", shadow=slot.shadow)
            if slot.fail_closed:
                hit = Reason("detector_failed", f"spam.detectors.{name}",
                             f"{name} raised {type(error).__name__}: {error}",
                             SENDER_MESSAGES["detector_failed"])
                if slot.shadow:
                    state.shadow.append(ShadowHit(hit.code, hit.rule, hit.detail))
                else:
                    state.reasons.append(hit)
        elif signal is None:
            return
        elif slot.shadow:
            signal = replace(signal, shadow=True)
        state.signals.append(signal)
        if not slot.shadow:
            state.score += signal.score

    def _finish(self, state: _State, observe: bool = True) -> Decision:
        facts = state.facts
        restrict_until = None
        if state.static_rejected and self.detectors:
            skipped: tuple[str, ...] = tuple(s.detector.name for s in self.detectors)
            skipped_reason: str | None = SKIPPED_STATIC
        else:
            skipped = tuple(state.skipped)
            skipped_reason = SKIPPED_DECIDED if skipped else None
        score = round(state.score, 6)
        if state.signals:
            if score >= self._reject_at:
                top = sorted((s for s in state.signals if not s.shadow and s.score > 0),
                             key=lambda s: (-s.score, s.detector))
                state.reasons.append(Reason(
                    "spam_detected", "spam.reject_at",
                    f"spam score {score:g} >= reject_at {self._reject_at:g} ("
                    + ", ".join(f"{s.detector} {s.score:g}" for s in top) + ")",
                    SENDER_MESSAGES["spam_detected"]))
                if score >= self._restrict_at:
                    restrict_until = facts.now + self.restriction_duration(
                        facts.prior_restrictions)
            else:
                for s in state.signals:
                    if s.shadow and s.score > 0 and score + s.score >= self._reject_at:
                        state.shadow.append(ShadowHit(
                            "spam_detected", f"spam.detectors.{s.detector}",
                            f"{s.detector} {s.score:g} would bring the score to"
                            f" {score + s.score:g} >= reject_at {self._reject_at:g}"))
        rejected = bool(state.reasons)
        advice = () if rejected else self.plugins.advise(state.message, facts, state.content)
        restricted = facts.restricted_until
        decision = Decision(
            decision_id=os.urandom(16).hex(),
            outcome="rejected" if rejected else "accepted",
            reasons=tuple(state.reasons),
            spam=SpamResult(score, self._reject_at, self._restrict_at, tuple(state.signals),
                            skipped, skipped_reason),
            credits=self._credits(facts),
            policy=self.ref,
            evaluated_at=facts.now,
            duration_ms=(time.perf_counter() - state.started) * 1000.0,
            shadow=tuple(state.shadow),
            restrict_sender_until=restrict_until,
            restricted_until=restricted if restricted and restricted > facts.now else None,
            advice=advice,
        )
        if observe and self._observed:
            self.plugins.decision(state.message, facts, decision)
        return decision

    # --- credits ---------------------------------------------------------------------------

    def _credits(self, facts: Facts) -> Credits:
        plan = facts.sender.plan
        limit = self.plans.limit(plan) + facts.credits_extra
        used = facts.credits_used
        return Credits(plan, limit, used, max(limit - used, 0), self.window_end(facts.now))

    def window_end(self, now: datetime) -> datetime:
        """End of the calendar month containing ``now`` in the policy's time zone, in UTC."""
        local = now if self._utc and now.utcoffset() == _ZERO else now.astimezone(self._tz)
        key = (local.year, local.month)
        end = self._window_ends.get(key)
        if end is None:
            year, month0 = divmod(local.year * 12 + local.month, 12)  # next month, 0-based
            if year > MAXYEAR:  # December 9999: the window never ends
                end = datetime.max.replace(tzinfo=UTC)
            else:
                end = datetime(year, month0 + 1, 1, tzinfo=self._tz).astimezone(UTC)
            if len(self._window_ends) > 256:
                self._window_ends.clear()
            self._window_ends[key] = end
        return end

    def window_start(self, now: datetime) -> datetime:
        local = now.astimezone(self._tz)
        return datetime(local.year, local.month, 1, tzinfo=self._tz).astimezone(UTC)

    def send_annotations(self, message: Message) -> SendAnnotations:
        """What the store keeps of ``message`` once it is sent, for the detectors that read it
        back from later sends' facts (:mod:`inmail_guard.engine.history`): today the body's
        fingerprint, when an enabled detector declares one."""
        make = self.history.fingerprint
        if make is None:
            return NO_ANNOTATIONS
        return SendAnnotations(make(message.body), self.history.fingerprint_version)

    def restriction_duration(self, prior_restrictions: int) -> timedelta:
        """How long a new restriction lasts: escalates per earlier one, the last repeats."""
        return self._durations[min(prior_restrictions, len(self._durations) - 1)]
