"""Lifecycle transitions raced from two processes (two "instances": each its own Store and
connection pool on the same database). Imported by spawned children, so module level only."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event

import inmail_guard as ig

#: The transitions a round can race, each as the member who may do it would call it.
ACTIONS = ("open", "reply", "retract", "report", "expire")


def race_policy() -> Any:
    """The default policy, with nothing that would stop the many sends of a race test: no
    detectors, no restriction on abuse reports, plenty of credits. Replies refund the credit,
    so the ledger shows whether a reply counted."""
    p = ig.default_policy()
    spam = p.spam.model_copy(update={
        "detectors": {},
        "restriction": p.spam.restriction.model_copy(update={"on_abuse_report": False})})
    plans = {**p.plans, "premium_business": p.plans["premium_business"].model_copy(
        update={"monthly_credits": 100_000})}
    credits = p.credits.model_copy(update={"refund_on_response_within": timedelta(days=7)})
    return p.model_copy(update={"spam": spam, "plans": plans, "credits": credits})


def perform(svc: Any, action: str, inmail_id: str) -> tuple[Any, ...]:
    """``("ok",)``, ``("nothing",)`` (expire_due found nothing to expire) or the refusal as
    ``(code, HTTP status, message)``."""
    from inmail_guard.service.errors import ServiceError

    try:
        if action == "open":
            svc.open(inmail_id, "bob")
        elif action == "reply":
            svc.reply(inmail_id, "bob", "Thanks, tell me more.")
        elif action == "retract":
            svc.retract(inmail_id, "alice")
        elif action == "report":
            svc.report(inmail_id, "bob", "spam")
        elif action == "expire":
            return ("ok",) if svc.expire_due() else ("nothing",)
        else:
            raise ValueError(action)
    except ServiceError as exc:
        return (exc.code, exc.status, exc.message)
    return ("ok",)


def widen_race_window(store: Any, seconds: float = 0.004) -> None:
    """Pause after every read of ``inmails``: a transition that decides on what it read and
    then writes leaves the other process time to change the row in between. Without a guarded
    change (or a row lock) this turns an occasional race into a near-certain one."""

    @event.listens_for(store.db, "after_cursor_execute")
    def _pause(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip()[:6].upper() == "SELECT" and "inmails" in statement:
            time.sleep(seconds)


def racer(index: int, url: str, start: datetime, commands: Any, barrier: Any,
          results: Any) -> None:
    """Run commands ``(action, inmail_id, now)`` until ``None``: each one is released together
    with the other racer's by ``barrier``; ``(index, outcome)`` goes to ``results``."""
    from inmail_guard.service import InMailService, ManualClock
    from inmail_guard.store import Store

    clock = ManualClock(start)
    store = Store(url)
    widen_race_window(store)
    svc = InMailService(race_policy(), store, clock=clock)
    results.put((index, "ready"))
    try:
        while (command := commands.get(timeout=300)) is not None:
            action, inmail_id, now = command
            clock.set(now)
            barrier.wait(60)
            results.put((index, perform(svc, action, inmail_id)))
    finally:
        svc.close()
        store.close()
