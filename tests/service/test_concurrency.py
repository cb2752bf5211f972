"""Never overspend across processes; no partial state after an exception or a killed process;
a retried send (same idempotency key) never spends twice."""

from __future__ import annotations

import multiprocessing

import pytest

from inmail_guard.store import tables as t

from . import workers
from .cast import cast, count, msg, state

CTX = multiprocessing.get_context("spawn")


@pytest.fixture
def svc(service):
    return cast(service)


def run(target, make_args, *, processes: int):
    start, results = CTX.Event(), CTX.Queue()
    procs = [CTX.Process(target=target, args=(*make_args(i), start, results))
             for i in range(processes)]
    for p in procs:
        p.start()
    start.set()
    out = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    return [item for chunk in out for item in chunk]


@pytest.mark.slow
def test_processes_sending_for_one_sender_accept_exactly_the_credits_left(svc, store,
                                                                         store_url, clock):
    for _ in range(7):
        assert svc.send(msg()).accepted
    assert svc.credits("alice").remaining == 3
    outcomes = run(workers.send_many,
                   lambda i: (store_url, clock(), "alice", ["bob"] * 5, None), processes=4)
    accepted = [o for o in outcomes if o[0] == "accepted"]
    assert len(outcomes) == 20 and len(accepted) == 3
    assert {o[1] for o in outcomes if o[0] == "rejected"} == {("credits_exhausted",)}
    assert svc.credits("alice").used == 10 and count(store, t.inmails) == 10
    assert count(store, t.credit_ledger, t.credit_ledger.c.kind == "spend") == 10


@pytest.mark.slow
def test_same_idempotency_key_from_two_processes_spends_once(svc, store, store_url, clock):
    outcomes = run(workers.send_many,
                   lambda i: (store_url, clock(), "alice", ["bob"], "retry"), processes=2)
    assert len({o[2] for o in outcomes}) == 1 and sum(o[3] for o in outcomes) == 1
    assert svc.credits("alice").used == 1 and count(store, t.inmails) == 1


def test_retry_after_timeout_does_not_spend_twice(svc, store):
    first = svc.send(msg(idempotency_key="timeout-1"))  # the client never saw this answer
    retry = svc.send(msg(idempotency_key="timeout-1"))
    assert retry.replayed and retry.inmail.id == first.inmail.id
    assert svc.credits("alice").used == 1 and count(store, t.inmails) == 1


def test_exception_between_evaluation_and_commit_leaves_nothing(svc, store, monkeypatch):
    before = state(store)

    def boom() -> None:
        raise RuntimeError("injected fault")

    monkeypatch.setattr(svc.sends, "before_commit", boom)
    with pytest.raises(RuntimeError, match="injected fault"):
        svc.send(msg(tags=("x",)))
    assert state(store) == before
    monkeypatch.undo()
    assert svc.send(msg()).accepted and svc.credits("alice").used == 1


@pytest.mark.slow
def test_killed_process_between_evaluation_and_commit_leaves_nothing(svc, store, store_url,
                                                                     clock):
    before = state(store)
    child = CTX.Process(target=workers.send_and_die, args=(store_url, clock(), "alice", "bob"))
    child.start()
    child.join(120)
    assert child.exitcode == 17
    assert state(store) == before
    assert svc.send(msg()).accepted and svc.credits("alice").used == 1


def test_threads_sharing_one_service_never_overspend(svc, store):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: svc.send(msg(subject=f"t{i}")), range(30)))
    assert sum(r.accepted for r in results) == 10
    assert svc.credits("alice").used == 10 and count(store, t.inmails) == 10
