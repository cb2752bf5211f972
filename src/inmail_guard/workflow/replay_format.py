"""The replay record: one JSON object per line (format in docs/workflow.md).

``{"message": {...}, "facts": {...}, "decision": {...}?}``

* ``message`` and ``facts`` are exactly what ``POST /v1/evaluate`` takes. A record may store
  the body only as a hash: ``message.body_sha256`` and ``message.body_length`` instead of
  ``message.body``; replay then skips the rules and detectors that read the body.
* ``decision`` (optional) is the Decision JSON recorded when the send was evaluated. Replay
  reads ``outcome``, ``reasons[].code``/``rule`` and ``spam.signals``/``spam.reject_at``;
  other fields are ignored. With no ``--baseline`` policy it is the baseline.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ConfigDict, TypeAdapter, ValidationError

from inmail_guard.engine.types import Facts, Message
from inmail_guard.engine.wire import RequestError, parse_request
from inmail_guard.workflow.records import HASHED_BODY_KEYS

try:  # orjson parses a log line ~3x faster; the stdlib is the fallback
    import orjson

    loads: Callable[[bytes], Any] = orjson.loads
except ImportError:  # pragma: no cover
    import json

    loads = json.loads

_RECORD_KEYS = {"message", "facts", "decision"}


class ReplayRecordError(ValueError):
    """A traffic line that is not a replay record (not JSON, an unknown field, a message or
    facts that do not validate, a recorded decision without an outcome). Distinct from
    :class:`inmail_guard.workflow.records.RecordError`, which names a bad message or facts
    mapping in a policy test suite."""


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: str
    codes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "codes": list(self.codes)}


@dataclass(slots=True)
class Record:
    line: int
    source: bytes
    message: Message
    facts: Facts
    hashed: bool
    recorded: Mapping[str, Any] | None

    @property
    def raw(self) -> dict[str, Any]:
        """The record as read (parsed again: only flipped records need it)."""
        return loads(self.source)  # type: ignore[no-any-return]


@dataclass(frozen=True, slots=True)
class _Plain:
    """A record with a plain body: validated straight from the JSON bytes, in one pass."""

    __pydantic_config__ = ConfigDict(extra="forbid")
    message: Message
    facts: Facts
    decision: dict[str, Any] | None = None


_PLAIN = TypeAdapter(_Plain)


def parse_record(line_no: int, line: bytes) -> Record:
    try:
        plain = _PLAIN.validate_json(line)
    except ValidationError:
        return _parse_slow(line_no, line)  # hashed body, or an error to describe well
    recorded = plain.decision
    if recorded is not None and recorded.get("outcome") not in ("accepted", "rejected"):
        raise ReplayRecordError("decision.outcome: expected accepted or rejected")
    return Record(line_no, line, plain.message, plain.facts, False, recorded)


def _parse_slow(line_no: int, line: bytes) -> Record:
    try:
        data = loads(line)
    except ValueError as exc:
        raise ReplayRecordError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ReplayRecordError(f"expected a JSON object, found {type(data).__name__}")
    unknown = sorted(set(data) - _RECORD_KEYS)
    if unknown:
        raise ReplayRecordError(f"unknown field(s) {', '.join(unknown)}; expected message, facts"
                          " and optionally decision")
    message = data.get("message")
    hashed = False
    if isinstance(message, dict) and "body" not in message and "body_sha256" in message:
        hashed = True
        message = {k: v for k, v in message.items() if k not in HASHED_BODY_KEYS}
    elif isinstance(message, dict) and any(k in message for k in HASHED_BODY_KEYS):
        message = {k: v for k, v in message.items() if k not in HASHED_BODY_KEYS}
    try:
        request = {k: data[k] for k in ("message", "facts") if k in data}
        if message is not None:
            request["message"] = message
        msg, facts = parse_request(request)
    except RequestError as exc:
        raise ReplayRecordError(str(exc)) from None
    recorded = data.get("decision")
    if recorded is not None and (not isinstance(recorded, dict)
                                 or recorded.get("outcome") not in ("accepted", "rejected")):
        raise ReplayRecordError("decision.outcome: expected accepted or rejected")
    return Record(line_no, line, msg, facts, hashed, recorded)


def recorded_verdict(recorded: Mapping[str, Any], skipped_rules: frozenset[str]) -> Verdict:
    """The recorded decision, minus what replay cannot re-check when the body is a hash.

    ``skipped_rules`` empty: the decision as recorded. Otherwise reasons from skipped rules are
    dropped, and ``spam_detected`` is kept only if the signals of detectors that did not read
    the body still reach the recorded ``reject_at``.
    """
    reasons = recorded.get("reasons") or []
    codes = [str(r.get("code")) for r in reasons if isinstance(r, dict)]
    if not skipped_rules:
        return Verdict(str(recorded["outcome"]), tuple(sorted(codes)))
    kept: list[str] = []
    spam = recorded.get("spam") if isinstance(recorded.get("spam"), dict) else None
    for r in reasons:
        if not isinstance(r, dict) or r.get("rule") in skipped_rules:
            continue
        if r.get("code") == "spam_detected" and spam and isinstance(spam.get("signals"), list):
            score = sum(float(s.get("score", 0)) for s in spam["signals"]
                        if isinstance(s, dict) and not s.get("shadow")
                        and f"spam.detectors.{s.get('detector')}" not in skipped_rules)
            if score < float(spam.get("reject_at", 0) or 0):
                continue
        kept.append(str(r.get("code")))
    return Verdict("rejected" if kept else "accepted", tuple(sorted(kept)))
