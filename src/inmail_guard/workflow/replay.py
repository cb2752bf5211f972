"""Replay traffic through a new policy and count the decisions that flip.

The traffic file is read line by line and evaluated in chunks with ``Engine.evaluate_many``;
only counters, a few examples per direction and the current chunk are held in memory, so a
million-line log replays in bounded memory. Flipped records are streamed to ``flips`` (JSONL).

Records whose body was stored only as a hash (see :mod:`replay_format`) are evaluated by a
second engine of the same policy in which every rule with ``needs_body`` and every detector
that reads the body runs in shadow mode; their shadow output is ignored and the report says
which rules were skipped.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from inmail_guard.engine.evaluator import Engine
from inmail_guard.engine.plans import UnknownPlanError
from inmail_guard.engine.rules import RULES, rule_names
from inmail_guard.engine.types import Decision
from inmail_guard.policies.schema import Policy
from inmail_guard.workflow.engines import what_if_engine
from inmail_guard.workflow.replay_format import (
    Record,
    ReplayRecordError,
    Verdict,
    parse_record,
    recorded_verdict,
)

ACCEPTED_TO_REJECTED = "accepted→rejected"
REJECTED_TO_ACCEPTED = "rejected→accepted"
DIRECTIONS = (ACCEPTED_TO_REJECTED, REJECTED_TO_ACCEPTED)
CHUNK_SIZE = 2000
MAX_INVALID_SHOWN = 5


@dataclass(frozen=True, slots=True)
class Example:
    line: int
    sender_id: str
    plan: str
    baseline: Verdict
    new: Verdict


@dataclass(slots=True)
class ReplayReport:
    new_policy: str
    baseline: str
    lines: int = 0
    evaluated: int = 0
    hashed: int = 0
    skipped_rules: tuple[str, ...] = ()
    invalid: int = 0
    invalid_shown: list[tuple[int, str]] = field(default_factory=list)
    flips: Counter[str] = field(default_factory=Counter)
    by_code: dict[str, Counter[str]] = field(
        default_factory=lambda: {d: Counter() for d in DIRECTIONS})
    by_plan: dict[str, Counter[str]] = field(
        default_factory=lambda: {d: Counter() for d in DIRECTIONS})
    examples: dict[str, list[Example]] = field(
        default_factory=lambda: {d: [] for d in DIRECTIONS})
    codes_changed: int = 0
    """Still rejected by both, for a different set of reason codes."""
    outcomes: Counter[str] = field(default_factory=Counter)
    """Baseline outcome -> count, over evaluated records."""
    seconds: float = 0.0

    @property
    def flipped(self) -> int:
        return sum(self.flips.values())

    @property
    def lines_per_second(self) -> float:
        return self.lines / self.seconds if self.seconds else 0.0


class _Side:
    """One policy as replay evaluates it: a normal engine and a hashed-body engine."""

    def __init__(self, policy: Policy) -> None:
        self.engine = what_if_engine(policy)
        names = [n for n in rule_names(policy) if n in RULES and RULES[n].needs_body]
        names += [s.detector.name for s in self.engine.detectors if s.detector.needs_body]
        self.skipped_rules = frozenset(
            n if n in RULES else f"spam.detectors.{n}" for n in names)
        modes = dict(policy.rules_mode) | {n: "shadow" for n in names}
        hashed_policy = policy.model_copy(update={"rules_mode": modes})
        self.hashed_engine = what_if_engine(hashed_policy)

    def evaluate(self, records: list[Record]) -> list[Decision | BaseException]:
        out: list[Decision | BaseException | None] = [None] * len(records)
        for hashed, engine in ((False, self.engine), (True, self.hashed_engine)):
            index = [i for i, r in enumerate(records) if r.hashed == hashed]
            if not index:
                continue
            for i, result in zip(index, _evaluate_many(engine, [records[i] for i in index]),
                                 strict=True):
                out[i] = result
        return out  # type: ignore[return-value]


def _evaluate_many(engine: Engine, records: list[Record]) -> list[Decision | BaseException]:
    try:
        return list(engine.evaluate_many((r.message, r.facts) for r in records))
    except Exception:
        # One bad record (an undeclared plan...) fails the batch: find it, keep the rest.
        results: list[Decision | BaseException] = []
        for r in records:
            try:
                results.append(engine.evaluate(r.message, r.facts))
            except Exception as exc:
                results.append(exc)
        return results


def verdict(decision: Decision) -> Verdict:
    return Verdict(decision.outcome, tuple(sorted(decision.codes)))


#: How replay shows a send refused because the sender's plan is not in the policy: evaluate
#: raises UnknownPlanError for it (HTTP 422 ``unknown_plan``), so no Decision exists.
UNKNOWN_PLAN = "unknown_plan"
_UNKNOWN_PLAN_VERDICT = Verdict("rejected", (UNKNOWN_PLAN,))


def _verdict_of(result: Decision | BaseException) -> Verdict | None:
    """A decision's verdict; a plan the policy lacks as a refusal; None for a broken record."""
    if isinstance(result, UnknownPlanError):
        return _UNKNOWN_PLAN_VERDICT
    if isinstance(result, BaseException):
        return None
    return verdict(result)


def iter_lines(stream: IO[bytes]) -> Iterator[tuple[int, bytes]]:
    return enumerate(stream, start=1)


def chunks(lines: Iterable[tuple[int, bytes]], size: int) -> Iterator[list[tuple[int, bytes]]]:
    chunk: list[tuple[int, bytes]] = []
    for item in lines:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def replay(
    stream: IO[bytes],
    new: Policy,
    baseline: Policy | None = None,
    *,
    flips: IO[str] | None = None,
    on_bytes: Callable[[int], None] | None = None,
    chunk_size: int = CHUNK_SIZE,
    max_examples: int = 3,
) -> ReplayReport:
    """Replay every line of ``stream``; compare with ``baseline`` or the recorded decisions."""
    started = time.perf_counter()
    new_side = _Side(new)
    old_side = _Side(baseline) if baseline is not None else None
    report = ReplayReport(
        new_policy=f"{new.name} ({new.source or 'in memory'})",
        baseline=(f"{baseline.name} ({baseline.source or 'in memory'})" if baseline is not None
                  else "recorded decisions"),
        skipped_rules=tuple(sorted(new_side.skipped_rules
                                   | (old_side.skipped_rules if old_side else frozenset()))),
    )
    for chunk in chunks(iter_lines(stream), chunk_size):
        if on_bytes is not None:
            on_bytes(sum(len(line) for _, line in chunk))
        records: list[Record] = []
        for number, line in chunk:
            report.lines += 1
            if not line.strip():
                report.lines -= 1  # blank lines are not records
                continue
            try:
                record = parse_record(number, line)
                if old_side is None and record.recorded is None:
                    raise ReplayRecordError("no decision to compare with: record the decision or"
                                      " pass --baseline")
                records.append(record)
            except ReplayRecordError as exc:
                _invalid(report, number, str(exc))
        if records:
            _compare_chunk(report, records, new_side, old_side, flips, max_examples)
    report.seconds = time.perf_counter() - started
    return report


def _invalid(report: ReplayReport, line: int, problem: str) -> None:
    report.invalid += 1
    if len(report.invalid_shown) < MAX_INVALID_SHOWN:
        report.invalid_shown.append((line, problem))


def _compare_chunk(report: ReplayReport, records: list[Record], new_side: _Side,
                   old_side: _Side | None, flips: IO[str] | None, max_examples: int) -> None:
    new_results = new_side.evaluate(records)
    old_results = old_side.evaluate(records) if old_side is not None else None
    for i, record in enumerate(records):
        new_decision = new_results[i]
        after = _verdict_of(new_decision)
        if after is None:
            _invalid(report, record.line, f"new policy: {new_decision}")
            continue
        if old_results is not None:
            old_decision = old_results[i]
            old_verdict = _verdict_of(old_decision)
            if old_verdict is None:
                _invalid(report, record.line, f"baseline policy: {old_decision}")
                continue
            before = old_verdict
        else:
            assert record.recorded is not None
            skipped = new_side.skipped_rules if record.hashed else frozenset()
            before = recorded_verdict(record.recorded, skipped)
        report.evaluated += 1
        report.hashed += record.hashed
        report.outcomes[before.outcome] += 1
        if before.outcome == after.outcome:
            if before.codes != after.codes:
                report.codes_changed += 1
            continue
        direction = ACCEPTED_TO_REJECTED if after.outcome == "rejected" else REJECTED_TO_ACCEPTED
        report.flips[direction] += 1
        plan = record.facts.sender.plan
        report.by_plan[direction][plan] += 1
        report.by_code[direction].update(after.codes if after.outcome == "rejected"
                                         else before.codes)
        if len(report.examples[direction]) < max_examples:
            report.examples[direction].append(
                Example(record.line, record.message.sender_id, plan, before, after))
        if flips is not None:
            flips.write(json.dumps(_flip_line(record, direction, before, new_decision),
                                   ensure_ascii=False) + "\n")


def _flip_line(record: Record, direction: str, before: Verdict,
               after: Decision | BaseException) -> dict[str, Any]:
    if isinstance(after, BaseException):  # the sender's plan is not in the new policy
        new = {**_UNKNOWN_PLAN_VERDICT.to_dict(),
               "reasons": [{"code": UNKNOWN_PLAN, "rule": "credits", "detail": str(after),
                            "sender_message": None}],
               "spam_score": 0.0}
    else:
        new = {**verdict(after).to_dict(), "reasons": [r.to_dict() for r in after.reasons],
               "spam_score": after.spam.score}
    return {
        "line": record.line,
        "flip": direction,
        "plan": record.facts.sender.plan,
        "sender_id": record.message.sender_id,
        "recipient_id": record.message.recipient_id,
        "body_hashed": record.hashed,
        "baseline": before.to_dict(),
        "new": new,
        "record": record.raw,
    }
