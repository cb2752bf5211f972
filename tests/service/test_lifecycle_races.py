"""Two instances (processes, each with its own Store) fire lifecycle transitions at one InMail at
the same instant, for every pair of open, reply, retract, report and expire.

Whatever the timing, the end state, the events, the credits and both answers are what running
the two one after the other, in one order or the other, gives: never an InMail both retracted
and replied, never an open after a retraction. Of two conflicting transitions exactly one wins
and the other gets its refusal."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

import inmail_guard as ig
from inmail_guard.service import InMailService, ManualClock
from inmail_guard.service.results import iso
from inmail_guard.store import tables as t

from . import racers

CTX = multiprocessing.get_context("spawn")
T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
PAIRS = list(itertools.combinations_with_replacement(racers.ACTIONS, 2))  # 15 pairs
ROUNDS = 6  # per pair and database: 90 races each
SOON = T0 + timedelta(hours=1)
BEFORE_EXPIRY = T0 + timedelta(days=7, seconds=-1)  # the instances' clocks differ by 2 s
AFTER_EXPIRY = T0 + timedelta(days=7, seconds=1)
LATER = T0 + timedelta(days=30)  # expire what a round left unopened, before the next round

RETRACTED = ("inmail_not_found", 404, "this InMail was retracted by its sender")
EXPIRED = ("inmail_expired", 410, f"this InMail expired unopened on {iso(T0 + timedelta(days=7))}")
#: Pairs where exactly one may win: {winner: what the other gets}.
ONE_WINS: dict[tuple[str, str], dict[str, tuple[Any, ...]]] = {
    ("reply", "retract"): {
        "reply": ("already_replied", 409,
                  "the recipient replied; the conversation can't be retracted"),
        "retract": RETRACTED},
    ("retract", "retract"): {
        "retract": ("already_retracted", 409, "this InMail was already retracted")},
    ("open", "expire"): {"open": ("nothing",), "expire": EXPIRED},
    ("reply", "expire"): {"reply": ("nothing",), "expire": EXPIRED},
    ("report", "expire"): {"report": ("nothing",), "expire": EXPIRED},
    ("expire", "expire"): {"expire": ("nothing",)},
}


def clock_for(action: str, pair: tuple[str, str]) -> Any:
    """Expiry races an instance whose clock says "just expired" against one whose clock says
    "not yet" (clocks of two hosts differ); the other pairs run an hour after the send."""
    if action == "expire":
        return AFTER_EXPIRY
    return BEFORE_EXPIRY if "expire" in pair else SOON


def observe(store: Any, inmail_id: str, outcomes: tuple[Any, ...]) -> dict[str, Any]:
    """All a race can change about one InMail, free of ids and times."""
    im, ob, cl = t.inmails.c, t.outbox.c, t.credit_ledger.c
    with store.read() as conn:
        row = conn.execute(select(t.inmails).where(im.id == inmail_id)).one()
        payloads = conn.execute(select(ob.payload).where(ob.payload.contains(inmail_id))
                                .order_by(ob.seq)).scalars()
        events = sorted(
            (e["type"], e.get("was_opened"), e.get("credit_refunded"))
            for e in map(json.loads, payloads))
        refunds = conn.execute(select(func.count()).select_from(t.credit_ledger).where(
            cl.inmail_id == inmail_id, cl.kind == "refund")).scalar()
        conversations = conn.execute(select(func.count()).select_from(t.conversations).where(
            t.conversations.c.inmail_id == inmail_id)).scalar()
        reports = conn.execute(select(func.count()).select_from(t.abuse_reports).where(
            t.abuse_reports.c.inmail_id == inmail_id)).scalar()
    return {"outcomes": outcomes,
            "set": tuple(name for name in ("opened_at", "replied_at", "retracted_at",
                                           "reported_at", "expired_event_at", "refunded_at")
                         if getattr(row, name) is not None),
            "events": events, "refunds": refunds, "conversations": conversations,
            "reports": reports}


class Racers:
    """Two spawned instances that run one command each per round, released together."""

    def __init__(self, url: str) -> None:
        self.barrier = CTX.Barrier(2)
        self.results = CTX.Queue()
        self.commands = [CTX.Queue(), CTX.Queue()]
        self.procs = [CTX.Process(target=racers.racer, args=(
            i, url, T0, self.commands[i], self.barrier, self.results)) for i in range(2)]
        for p in self.procs:
            p.start()
        assert sorted(self.results.get(timeout=120) for _ in self.procs) == [
            (0, "ready"), (1, "ready")]

    def race(self, pair: tuple[str, str], inmail_id: str) -> tuple[Any, ...]:
        for i, action in enumerate(pair):
            self.commands[i].put((action, inmail_id, clock_for(action, pair)))
        return tuple(o for _, o in sorted(self.results.get(timeout=60) for _ in pair))

    def close(self) -> None:
        for q in self.commands:
            q.put(None)
        for p in self.procs:
            p.join(60)
            assert p.exitcode == 0


@pytest.fixture
def main(store: Any) -> Any:
    svc = InMailService(racers.race_policy(), store, clock=ManualClock(T0))
    svc.put_member(ig.Member("alice", plan="premium_business"))
    svc.put_member(ig.Member("bob"))
    yield svc
    svc.close()


def send(svc: Any) -> str:
    svc.clock.set(T0)
    r = svc.send(ig.Message("alice", "bob", subject="Hello", body="Hi Bob"))
    assert r.accepted, r.decision.codes
    return r.inmail.id


def finish_round(svc: Any) -> None:
    svc.clock.set(LATER)
    svc.expire_due()


def serially(svc: Any, pair: tuple[str, str], order: tuple[int, int]) -> dict[str, Any]:
    """What the pair gives run one after the other in ``order`` (this process, one Store)."""
    inmail_id = send(svc)
    outcomes: list[Any] = [None, None]
    for i in order:
        svc.clock.set(clock_for(pair[i], pair))
        outcomes[i] = racers.perform(svc, pair[i], inmail_id)
    seen = observe(svc.store, inmail_id, tuple(outcomes))
    finish_round(svc)
    return seen


@pytest.mark.slow
def test_racing_transitions_end_as_if_run_one_after_the_other(main, store, store_url):
    serial = {pair: [serially(main, pair, (0, 1)), serially(main, pair, (1, 0))]
              for pair in PAIRS}
    for pair, (first, second) in serial.items():  # the specification the races must meet
        if pair in ONE_WINS:
            for seen in (first, second):
                winners = [a for a, o in zip(pair, seen["outcomes"], strict=True)
                           if o == ("ok",)]
                assert len(winners) == 1, (pair, seen)
                assert ONE_WINS[pair][winners[0]] in seen["outcomes"], (pair, seen)
    started = time.monotonic()
    racing = Racers(store_url)
    mismatches = []
    try:
        for _ in range(ROUNDS):
            for pair in PAIRS:
                inmail_id = send(main)
                seen = observe(store, inmail_id, racing.race(pair, inmail_id))
                if seen not in serial[pair]:
                    mismatches.append((pair, seen))
                finish_round(main)
    finally:
        racing.close()
    assert mismatches == [], (f"{len(mismatches)} of {ROUNDS * len(PAIRS)} races, e.g."
                              f" {mismatches[:3]}")
    assert time.monotonic() - started < 240
