"""Several instances on one PostgreSQL database: four spawned processes, each with its own
Engine, Store and connection pool, send for the same senders and drain the outbox together.

* no sender exceeds their credits: exactly k accepted (the ``FOR UPDATE`` lock on the sender's
  account row, and the guarded ``UPDATE ... WHERE used < limit``);
* an idempotency key holds across instances: one InMail, one credit (the unique
  ``(sender_id, idempotency_key)`` index; the loser replays);
* every event reaches a deduplicating sink exactly once, with four dispatchers at once
  (``FOR UPDATE SKIP LOCKED`` claims plus a lease);
* instances starting together on an empty database migrate it once (an advisory lock).
"""

from __future__ import annotations

import multiprocessing
from collections import Counter

import pytest
from sqlalchemy import select

from inmail_guard.store import tables as t
from service.cast import cast, count, msg

from . import instances

CTX = multiprocessing.get_context("spawn")
INSTANCES = 4

pytestmark = pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)


@pytest.mark.slow
def test_four_instances_share_one_ledger_one_key_and_one_outbox(service, store, store_url,
                                                                clock, tmp_path):
    import inmail_guard as ig

    svc = cast(service)
    for name in ("s1", "s2"):
        svc.put_member(ig.Member(name, plan="premium_business"))
    for _ in range(7):
        assert svc.send(msg()).accepted  # alice: 3 of her 10 credits left
    svc.dispatch_events()  # start from a drained outbox
    before = event_ids(store)
    credits_left = {"alice": 3, "s1": 10, "s2": 10}
    attempts = {"alice": 3, "s1": 4, "s2": 4}  # per instance: 12 and 16 tries for 10 credits

    start, sent, results = CTX.Event(), CTX.Barrier(INSTANCES), CTX.Queue()
    procs = [CTX.Process(target=instances.instance,
                         args=(i, store_url, clock(), attempts, "shared-key", str(tmp_path),
                               start, sent, results)) for i in range(INSTANCES)]
    for p in procs:
        p.start()
    start.set()
    out = dict(results.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(60)
        assert p.exitcode == 0

    # Credits: exactly k accepted per sender, the rest credits_exhausted.
    sends = [s for o in out.values() for s in o["sends"]]
    for sender, left in credits_left.items():
        mine = [s for s in sends if s[0] == sender]
        assert len(mine) == INSTANCES * attempts[sender]
        assert sum(s[1] == "accepted" for s in mine) == left, sender
        assert {s[2] for s in mine if s[1] == "rejected"} == {("credits_exhausted",)}
        assert svc.credits(sender).remaining == 0
    # One idempotency key from four instances: one InMail, one credit, three replays.
    shared = [o["shared"] for o in out.values()]
    assert len({inmail_id for inmail_id, _ in shared}) == 1 and None not in shared[0]
    assert sorted(replayed for _, replayed in shared) == [False, True, True, True]
    assert svc.credits("jess").used == 1
    assert count(store, t.inmails, t.inmails.c.sender_id == "jess") == 1
    assert count(store, t.credit_ledger, t.credit_ledger.c.kind == "spend") == 7 + 23 + 1

    # Events: every outbox event delivered, each exactly once, by more than one dispatcher.
    with store.read() as conn:
        assert conn.execute(select(t.outbox.c.seq).where(
            t.outbox.c.delivered_at.is_(None))).all() == []
    new = event_ids(store) - before
    delivered = Counter(line for path in tmp_path.glob("instance-*.txt")
                        for line in path.read_text().split())
    assert [e for e, n in delivered.items() if n > 1] == []
    assert set(delivered) == new and len(new) == 23 + 1
    assert sum(o["delivered"] for o in out.values()) == len(new)
    assert sum(o["delivered"] > 0 for o in out.values()) >= 2


def event_ids(store) -> set[str]:
    with store.read() as conn:
        return set(conn.execute(select(t.outbox.c.event_id)).scalars())


def test_instances_starting_together_migrate_once(store_url):
    """Each opens its own Store on the empty schema at once: the advisory lock lets one
    create the tables; the others wait, find them, and stamp nothing."""
    import threading

    from inmail_guard.store import Store
    from inmail_guard.store.migrations import LATEST, MIGRATIONS

    barrier, stores, errors = threading.Barrier(INSTANCES), [], []

    def open_store() -> None:
        barrier.wait(10)
        try:
            stores.append(Store(store_url))
        except Exception as exc:  # pragma: no cover - the assertion below shows it
            errors.append(exc)

    threads = [threading.Thread(target=open_store) for _ in range(INSTANCES)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert errors == [] and len(stores) == INSTANCES
    with stores[0].read() as conn:
        versions = conn.execute(select(t.schema_version.c.version)
                                .order_by(t.schema_version.c.version)).scalars().all()
    assert versions == [m.version for m in MIGRATIONS] and versions[-1] == LATEST
    for s in stores:
        s.close()
