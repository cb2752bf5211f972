"""Event delivery: the outbox dispatcher (see docs/events.md). Events are queued by the
operation that makes the change, in its transaction; this delivers them to the
``inmail_guard_event`` hook, at least once, and keeps the outbox's upkeep."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from inmail_guard.service.context import ServiceContext
from inmail_guard.store import outbox

log = logging.getLogger("inmail_guard.service")


class EventDispatcher:
    """``expire_due`` is the inbox's (expiry events), run on the dispatcher's schedule."""

    def __init__(self, ctx: ServiceContext, expire_due: Callable[[], int],
                 retention: timedelta | None) -> None:
        self.ctx = ctx
        self.expire_due = expire_due
        #: Delivered events older than this are purged; None: kept forever.
        self.retention = retention
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def dispatch(self, batch: int = 100) -> int:
        ctx = self.ctx
        plugins = ctx.active.plugins
        lease = outbox.LEASE
        claimed = outbox.claim_due(ctx.store, ctx.now(), batch, lease)
        # Deliver for at most half the lease: an event still being delivered when its lease
        # ends may be claimed by another dispatcher too (a duplicate; at-least-once allows it,
        # but slow sinks made it routine). What is left goes back for the next round.
        budget = time.monotonic() + lease.total_seconds() / 2
        done: list[int] = []
        for i, item in enumerate(claimed):
            if time.monotonic() >= budget:
                outbox.release(ctx.store, [c.seq for c in claimed[i:]], ctx.now())
                break
            try:
                plugins.event(dict(item.event))
            except Exception as exc:
                log.warning("event %s (%s) not delivered, attempt %d: %s", item.event_id,
                            item.event.get("type"), item.attempts + 1, exc)
                outbox.mark_failed(ctx.store, item.seq, item.attempts + 1,
                                   f"{type(exc).__name__}: {exc}", ctx.now())
            else:
                done.append(item.seq)
        outbox.mark_delivered(ctx.store, done, ctx.now())
        return len(done)

    def purge(self) -> int:
        if self.retention is None:
            return 0
        return outbox.purge_delivered(self.ctx.store, self.ctx.now() - self.retention)

    def start(self, interval: float = 1.0, *, expire_every: float = 60.0) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()

        def run() -> None:
            next_expiry = time.monotonic()
            while not self._stop.is_set():
                try:
                    if time.monotonic() >= next_expiry:
                        next_expiry = time.monotonic() + expire_every
                        self.expire_due()
                        self.purge()
                    delivered = self.dispatch()
                except Exception:
                    log.exception("event dispatcher failed; retrying in %ss", interval)
                    delivered = 0
                if delivered < 100:
                    self._stop.wait(interval)

        self._thread = threading.Thread(target=run, name="inmail-guard-events", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


__all__ = ["EventDispatcher"]
