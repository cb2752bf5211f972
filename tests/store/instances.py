"""One "instance" of inmail-guard, run in a spawned process: its own Engine, Store and
connection pool, sending and dispatching against the shared PostgreSQL database."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import Any

import inmail_guard as ig
from inmail_guard import hookimpl


class FileSink:
    """Records each delivered event id, one line per delivery (duplicates would show)."""

    def __init__(self, path: Path) -> None:
        self.file = path.open("a", encoding="utf-8")

    @hookimpl
    def inmail_guard_event(self, event: dict[str, Any]) -> None:
        self.file.write(event["event_id"] + "\n")
        self.file.flush()
        time.sleep(0.002)  # a sink takes time: keeps dispatchers overlapping


def instance(index: int, url: str, now: datetime, senders: dict[str, int], shared_key: str,
             sink_dir: str, start: Any, sent: Any, results: Any) -> None:
    from inmail_guard.service import InMailService, ManualClock
    from inmail_guard.store import Store

    policy = ig.default_policy()  # detectors off: this is about the store, and starts faster
    policy = policy.model_copy(update={"spam": policy.spam.model_copy(update={"detectors": {}})})
    svc = InMailService(policy, Store(url), clock=ManualClock(now))
    svc.plugins.pm.register(FileSink(Path(sink_dir) / f"instance-{index}.txt"), name="file-sink")
    out: dict[str, Any] = {"sends": [], "shared": None, "delivered": 0, "batches": 0}
    start.wait(60)
    # The same message with the same idempotency key, from every instance at once.
    r = svc.send(ig.Message("jess", "bob", subject="Same", body="One message",
                            idempotency_key=shared_key))
    out["shared"] = (r.inmail.id if r.inmail else None, r.replayed)
    # Interleaved sends for the same senders from every instance.
    for round_ in range(max(senders.values())):
        for sender, attempts in senders.items():
            if round_ < attempts:
                r = svc.send(ig.Message(sender, "bob", subject=f"i{index} r{round_}",
                                        body="Hi there"))
                out["sends"].append((sender, r.decision.outcome, r.decision.codes))
    sent.wait(60)  # every instance has sent: now all four drain the outbox together
    while (n := svc.dispatch_events(batch=2)) > 0:
        out["delivered"] += n
        out["batches"] += 1
    results.put((index, out))
    svc.close()
    svc.store.close()
