"""Code that runs in child processes (spawned: each has its own engine and connections)."""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

import inmail_guard as ig


def _service(url: str, now: datetime) -> Any:
    from inmail_guard.service import InMailService, ManualClock
    from inmail_guard.store import Store

    return InMailService(ig.default_policy(), Store(url), clock=ManualClock(now))


def send_many(url: str, now: datetime, sender: str, recipients: list[str], key_prefix: str | None,
              start: Any, results: Any) -> None:
    svc = _service(url, now)
    start.wait(30)
    out = []
    for i, recipient in enumerate(recipients):
        key = None if key_prefix is None else f"{key_prefix}-{i}"
        r = svc.send(ig.Message(sender, recipient, subject="Hello", body="Hi there",
                                idempotency_key=key))
        out.append((r.decision.outcome, r.decision.codes, r.inmail.id if r.inmail else None,
                    r.replayed))
    results.put(out)
    svc.close()


def send_and_die(url: str, now: datetime, sender: str, recipient: str) -> None:
    """Die (no cleanup, no rollback by Python) between evaluation and commit."""
    svc = _service(url, now)
    svc.sends.before_commit = lambda: os._exit(17)
    svc.send(ig.Message(sender, recipient, subject="Hello", body="Hi there"))
    os._exit(0)  # not reached
