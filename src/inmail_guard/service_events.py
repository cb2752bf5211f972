"""Event delivery for :class:`~inmail_guard.service.InMailService`: the outbox dispatcher
(see docs/events.md). Mixed into the service."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from inmail_guard.plugins.manager import Plugins
from inmail_guard.store import Store, outbox

log = logging.getLogger("inmail_guard.service")


class EventDispatch:
    # Provided by InMailService.
    store: Store
    plugins: Plugins
    clock: Callable[[], datetime]
    _dispatcher: threading.Thread | None
    _stop: threading.Event
    event_retention: timedelta | None

    if TYPE_CHECKING:
        def _now(self) -> datetime: ...
        def expire_due(self) -> int: ...

    # --- events ----------------------------------------------------------------------------

    def dispatch_events(self, batch: int = 100) -> int:
        """Deliver due outbox events to the ``inmail_guard_event`` hook; returns how many were
        delivered. A sink that raises leaves its event queued with exponential backoff."""
        lease = outbox.LEASE
        claimed = outbox.claim_due(self.store, self._now(), batch, lease)
        # Deliver for at most half the lease: an event still being delivered when its lease
        # ends may be claimed by another dispatcher too (a duplicate; at-least-once allows it,
        # but slow sinks made it routine). What is left goes back for the next round.
        budget = time.monotonic() + lease.total_seconds() / 2
        done: list[int] = []
        for i, item in enumerate(claimed):
            if time.monotonic() >= budget:
                outbox.release(self.store, [c.seq for c in claimed[i:]], self._now())
                break
            try:
                self.plugins.event(dict(item.event))
            except Exception as exc:
                log.warning("event %s (%s) not delivered, attempt %d: %s", item.event_id,
                            item.event.get("type"), item.attempts + 1, exc)
                outbox.mark_failed(self.store, item.seq, item.attempts + 1,
                                   f"{type(exc).__name__}: {exc}", self._now())
            else:
                done.append(item.seq)
        outbox.mark_delivered(self.store, done, self._now())
        return len(done)

    def purge_events(self) -> int:
        """Delete events delivered more than ``event_retention`` ago (never an undelivered
        one); returns how many. Nothing is purged when the retention is None."""
        if self.event_retention is None:
            return 0
        return outbox.purge_delivered(self.store, self._now() - self.event_retention)

    def start_dispatcher(self, interval: float = 1.0, *, expire_every: float = 60.0) -> None:
        """Deliver events from a daemon thread every ``interval`` seconds until stopped, and
        every ``expire_every`` seconds run :meth:`expire_due` and :meth:`purge_events`, so
        ``inmail.expired`` events and the outbox's upkeep need no cron either."""
        if self._dispatcher is not None and self._dispatcher.is_alive():
            return
        self._stop.clear()

        def run() -> None:
            next_expiry = time.monotonic()
            while not self._stop.is_set():
                try:
                    if time.monotonic() >= next_expiry:
                        next_expiry = time.monotonic() + expire_every
                        self.expire_due()
                        self.purge_events()
                    delivered = self.dispatch_events()
                except Exception:
                    log.exception("event dispatcher failed; retrying in %ss", interval)
                    delivered = 0
                if delivered < 100:
                    self._stop.wait(interval)

        self._dispatcher = threading.Thread(target=run, name="inmail-guard-events",
                                            daemon=True)
        self._dispatcher.start()

    def stop_dispatcher(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._dispatcher is not None:
            self._dispatcher.join(timeout)
            self._dispatcher = None
