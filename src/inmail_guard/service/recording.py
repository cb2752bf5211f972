"""Opt-in recording of evaluation inputs, so ``inmail-guard replay`` can run real traffic
against a candidate policy.

Each send the service evaluates becomes one JSON line ``{message, facts, decision}`` in the
replay record format (docs/workflow.md), appended to ``DIR/evaluations-YYYY-MM-DD-PID.jsonl``
(one file per day and process, so several workers never interleave lines). Files older than
the retention are deleted when a new day's file is opened. With ``bodies: hash`` (the default)
the body is kept only as ``body_sha256`` and ``body_length``; replay then skips the rules and
detectors that read the body, and says so.

Recording happens after the send's transaction commits and never fails a send: an I/O error
is logged (without the body) and counted.

Configured with environment variables (read by ``RecordingSettings.from_env``):
``INMAIL_GUARD_RECORD_DIR`` (unset: no recording), ``INMAIL_GUARD_RECORD_RETENTION``
(a duration, default ``30d``), ``INMAIL_GUARD_RECORD_BODIES`` (``hash`` or ``full``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import IO, Any, Literal

from pydantic import TypeAdapter

from inmail_guard.engine.types import Decision, Facts, Message
from inmail_guard.policies.schema import parse_duration

log = logging.getLogger(__name__)
_FILE = re.compile(r"^evaluations-(\d{4}-\d{2}-\d{2})-\d+\.jsonl$")


@dataclass(frozen=True, slots=True)
class RecordingSettings:
    directory: Path
    retention: timedelta = timedelta(days=30)
    bodies: Literal["hash", "full"] = "hash"

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> RecordingSettings | None:
        env = dict(os.environ) if env is None else env
        directory = env.get("INMAIL_GUARD_RECORD_DIR")
        if not directory:
            return None
        bodies = env.get("INMAIL_GUARD_RECORD_BODIES", "hash")
        if bodies not in ("hash", "full"):
            raise ValueError(
                f"INMAIL_GUARD_RECORD_BODIES: expected hash or full, found {bodies!r}")
        try:
            retention = parse_duration(env.get("INMAIL_GUARD_RECORD_RETENTION", "30d"))
        except ValueError as exc:
            raise ValueError(f"INMAIL_GUARD_RECORD_RETENTION: {exc}") from None
        return cls(Path(directory), retention, bodies)  # type: ignore[arg-type]


@lru_cache(maxsize=1)
def _adapters() -> tuple[TypeAdapter[Message], TypeAdapter[Facts]]:
    return TypeAdapter(Message), TypeAdapter(Facts)


def replay_record(message: Message, facts: Facts, decision: Decision | None,
                  bodies: Literal["hash", "full"] = "hash") -> dict[str, Any]:
    """One record in the replay format; with ``bodies="hash"`` the body is only a hash."""
    message_adapter, facts_adapter = _adapters()
    msg = message_adapter.dump_python(message, mode="json")
    if bodies == "hash":
        body = msg.pop("body")
        msg["body_sha256"] = hashlib.sha256(body.encode("utf-8")).hexdigest()
        msg["body_length"] = len(body)
    record: dict[str, Any] = {"message": msg,
                              "facts": facts_adapter.dump_python(facts, mode="json")}
    if decision is not None:
        record["decision"] = decision.to_dict()
    return record


class Recorder:
    """Appends replay records to daily files; thread-safe within a process."""

    def __init__(self, settings: RecordingSettings) -> None:
        self.settings = settings
        self.errors = 0
        self._lock = threading.Lock()
        self._day: date | None = None
        self._file: IO[str] | None = None

    def record(self, message: Message, facts: Facts, decision: Decision) -> None:
        try:
            line = json.dumps(replay_record(message, facts, decision, self.settings.bodies),
                              separators=(",", ":"))
            with self._lock:
                self._open(facts.now).write(line + "\n")
                self._file.flush()  # type: ignore[union-attr]
        except (OSError, ValueError) as exc:
            self.errors += 1
            log.error("could not record decision %s: %s", decision.decision_id, exc)

    def purge(self, now: datetime) -> int:
        """Delete record files older than the retention; returns how many."""
        cutoff = (now - self.settings.retention).date()
        removed = 0
        for path in self.settings.directory.glob("evaluations-*.jsonl"):
            m = _FILE.match(path.name)
            if m and date.fromisoformat(m.group(1)) < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def _open(self, now: datetime) -> IO[str]:
        day = now.date()
        if self._file is None or day != self._day:
            if self._file is not None:
                self._file.close()
            self.settings.directory.mkdir(parents=True, exist_ok=True)
            name = f"evaluations-{day.isoformat()}-{os.getpid()}.jsonl"
            self._file = (self.settings.directory / name).open("a", encoding="utf-8")
            self._day = day
            self.purge(now)
        return self._file
