"""The console's Traffic page data: the latest decisions of this process and per-minute counts by
outcome and reason code, kept in memory by an ordinary ``inmail_guard_decision`` plugin.

Nothing here is persisted: a restart empties it, and with ``serve --workers N`` each worker
keeps its own (the page says which process answered). The store's ``decision_log`` keeps every
send's decision for good; this ring also sees stateless ``/v1/evaluate`` calls, which the store
never does. A message body is kept only when the process records full bodies
(``INMAIL_GUARD_RECORD_BODIES=full`` with ``INMAIL_GUARD_RECORD_DIR``), and the console shows it
only to admin keys.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from inmail_guard.engine.types import Decision, Message
from inmail_guard.plugins.hookspecs import hookimpl

#: How many decisions the Latest table can show.
RING_SIZE = 500
#: How many minutes of counts the charts can show.
MINUTES = 24 * 60


@dataclass(frozen=True, slots=True)
class Seen:
    at: float  # server time the decision was observed (epoch seconds)
    decision: Decision
    sender_id: str
    recipient_id: str
    subject_len: int
    body_len: int
    body: str | None  # only when full bodies are recorded


class RecentDecisions:
    """Observes every decision of the engines it is registered with."""

    def __init__(self, keep_bodies: bool = False, size: int = RING_SIZE,
                 minutes: int = MINUTES, clock: Any = time.time) -> None:
        self.keep_bodies = keep_bodies
        self._ring: deque[tuple[Any, ...]] = deque(maxlen=size)  # Seen's fields
        self._minutes: dict[int, dict[str, int]] = {}
        self._max_minutes = minutes
        self._lock = threading.Lock()
        self._clock = clock
        self.started = clock()

    @hookimpl
    def inmail_guard_decision(self, message: Message, decision: Decision) -> None:
        # On every decision's path: a tuple and a few dict updates (Seen is built on reading).
        now = self._clock()
        minute = int(now // 60)
        # The message itself is not kept: its body only when full bodies are recorded.
        entry = (now, decision, message.sender_id, message.recipient_id,
                 len(message.subject or ""), len(message.body or ""),
                 message.body if self.keep_bodies else None)
        with self._lock:
            self._ring.append(entry)
            counts = self._minutes.get(minute)
            if counts is None:
                counts = self._minutes[minute] = {}
                if len(self._minutes) > self._max_minutes:
                    del self._minutes[min(self._minutes)]
            key = decision.outcome
            counts[key] = counts.get(key, 0) + 1
            for reason in decision.reasons:
                key = "code:" + reason.code
                counts[key] = counts.get(key, 0) + 1

    @staticmethod
    def _seen(entry: tuple[Any, ...]) -> Seen:
        return Seen(*entry)

    def latest(self, limit: int = 50, outcome: str | None = None,
               code: str | None = None) -> list[Seen]:
        with self._lock:
            items = list(self._ring)
        items.reverse()
        if outcome:
            items = [e for e in items if e[1].outcome == outcome]
        if code:
            items = [e for e in items if code in e[1].codes]
        return [self._seen(e) for e in items[:limit]]

    def find(self, decision_id: str) -> Seen | None:
        with self._lock:
            for entry in self._ring:
                if entry[1].decision_id == decision_id:
                    return self._seen(entry)
        return None

    def series(self, minutes: int = 60) -> dict[str, Any]:
        """Counts per minute over the last ``minutes`` (oldest first), by outcome and by reason
        code, with the totals over that span."""
        minutes = max(1, min(minutes, self._max_minutes))
        end = int(self._clock() // 60)
        span = range(end - minutes + 1, end + 1)
        with self._lock:
            rows = [dict(self._minutes.get(m, {})) for m in span]
        keys = sorted({k for row in rows for k in row})
        outcomes = {k: [row.get(k, 0) for row in rows]
                    for k in keys if not k.startswith("code:")}
        for name in ("accepted", "rejected"):
            outcomes.setdefault(name, [0] * len(rows))
        codes = {k[5:]: [row.get(k, 0) for row in rows] for k in keys if k.startswith("code:")}
        by_count = sorted(codes.items(), key=lambda kv: (-sum(kv[1]), kv[0]))
        # Lists of [name, values] (not objects): JSON keeps their order, most frequent first.
        return {
            "minutes": [time.strftime("%H:%M", time.gmtime(m * 60)) for m in span],
            "outcomes": [[k, v] for k, v in sorted(outcomes.items())],
            "codes": [[k, v] for k, v in by_count],
            "totals": {"outcomes": [[k, sum(v)] for k, v in sorted(outcomes.items())],
                       "codes": [[k, sum(v)] for k, v in by_count]},
        }
