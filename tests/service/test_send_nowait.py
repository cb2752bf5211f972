"""send_nowait(): a send for an event loop. It runs when it can start at once (SQLite, write
path free); otherwise it returns None having done nothing, and send() takes over."""

from __future__ import annotations

import sqlite3

import pytest

from inmail_guard.service import ServiceError
from inmail_guard.store import tables as t
from thread_helpers import held_by_another_thread

from .cast import cast, count, msg


@pytest.fixture
def svc(service):
    return cast(service)


@pytest.fixture
def lite(tmp_path, clock):
    """A service on SQLite only: what these tests are about."""
    import inmail_guard as ig
    from inmail_guard.service import InMailService

    service = InMailService(ig.default_policy(), f"sqlite:///{tmp_path}/nowait.db", clock=clock)
    yield cast(service)
    service.close()


def _nothing_written(store) -> bool:
    return (count(store, t.inmails), count(store, t.decision_log), count(store, t.outbox)) == (
        0, 0, 0)


def test_it_sends_when_the_write_path_is_free(svc, store):
    if not store.is_sqlite:
        assert svc.send_nowait(msg()) is None and _nothing_written(store)
        return  # PostgreSQL: always to the threadpool (row locks, the network)
    result = svc.send_nowait(msg(idempotency_key="k-1"))
    assert result is not None and result.accepted and result.inmail is not None
    assert count(store, t.inmails) == 1 and svc.credits("alice").used == 1
    replay = svc.send_nowait(msg(idempotency_key="k-1"))  # the same machinery: a replay
    assert replay is not None and replay.replayed and replay.inmail.id == result.inmail.id
    assert svc.credits("alice").used == 1


def test_another_writing_thread_makes_it_return_none_having_done_nothing(lite):
    svc, store = lite, lite.store
    with held_by_another_thread(store.writer):
        assert svc.send_nowait(msg()) is None
    assert _nothing_written(store) and svc.credits("alice").used == 0
    assert svc.send_nowait(msg()).accepted  # free again


def test_a_writer_outside_inmail_guard_makes_it_return_none_at_once(lite):
    svc, store = lite, lite.store
    other = sqlite3.connect(store.db.url.database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # holds SQLite's write lock, without the file lock
    try:
        assert svc.send_nowait(msg()) is None
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert _nothing_written(store)
    assert svc.send_nowait(msg()).accepted


def test_errors_are_the_same_as_send_and_roll_back(lite):
    svc, store = lite, lite.store
    with pytest.raises(ServiceError) as info:
        svc.send_nowait(msg(recipient="nobody"))
    assert info.value.code == "member_not_found" and info.value.field == "recipient_id"
    with pytest.raises(ServiceError) as info:
        svc.send_nowait(msg(sender=""))
    assert info.value.code == "invalid_request"
    assert _nothing_written(store)
    assert svc.send_nowait(msg()).accepted  # its connection is usable after the rollback
