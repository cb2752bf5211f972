"""PostgreSQL: a send keeps its connection, in autocommit, for the next send
(store/sendconn.py), never beyond what the pool can spare, and gives it back as it came."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from inmail_guard.store import Store, sendpath
from inmail_guard.store.settings import StoreSettings

PG_ONLY = pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)


@pytest.fixture
def open_store(store_url: str) -> Iterator[object]:
    made: list[Store] = []

    def make(**settings: object) -> Store:
        made.append(Store(store_url, settings=StoreSettings(**settings)))
        return made[-1]

    yield make
    for store in made:
        store.close()


def _send_connection(store: Store) -> int:
    with sendpath.connection(store) as conn:
        assert conn.autocommit
        conn.execute("SELECT 1")
        return int(conn.info.backend_pid)


@PG_ONLY
def test_the_next_send_takes_the_connection_the_last_one_kept(open_store):
    store = open_store()
    first = _send_connection(store)
    assert store.db.pool.checkedout() == 1  # kept: still checked out of the pool
    assert _send_connection(store) == first
    with store.read() as conn:  # the rest of the store gets another one, no autocommit
        assert not conn.connection.driver_connection.autocommit
        assert conn.connection.driver_connection.info.backend_pid != first


@PG_ONLY
def test_no_connection_is_kept_while_half_the_pool_is_in_use(open_store):
    store = open_store(pool_size=2, max_overflow=0)
    with store.read():  # one of two in use: the send's would make it two
        _send_connection(store)
        assert store.db.pool.checkedout() == 1
    _send_connection(store)
    assert store.db.pool.checkedout() == 1  # alone, it is kept


@PG_ONLY
def test_a_pool_of_one_keeps_nothing_and_the_store_still_reads(open_store):
    store = open_store(pool_size=1, max_overflow=0, pool_timeout=0.5)
    _send_connection(store)
    assert store.db.pool.checkedout() == 0
    with store.read() as conn:
        assert conn.exec_driver_sql("SELECT 1").scalar() == 1


@PG_ONLY
def test_a_connection_left_in_a_transaction_is_not_kept(open_store):
    store = open_store()
    with sendpath.connection(store) as conn:
        conn.execute("BEGIN")
        conn.execute("SELECT 1")
        pid = conn.info.backend_pid
    assert store.db.pool.checkedout() == 0  # back in the pool, its transaction rolled back
    with store.read() as sa:
        driver = sa.connection.driver_connection
        assert driver.info.backend_pid == pid and not driver.autocommit
        assert driver.info.transaction_status == 0  # IDLE


@PG_ONLY
def test_closing_the_send_path_gives_the_kept_connection_back_as_it_came(open_store):
    store = open_store(pool_size=2, max_overflow=0)
    pid = _send_connection(store)
    assert store.db.pool.checkedout() == 1
    sendpath.close(store)
    assert store.db.pool.checkedout() == 0
    raw = store.db.raw_connection()
    try:
        assert raw.driver_connection.info.backend_pid == pid
        assert not raw.driver_connection.autocommit
    finally:
        raw.close()


@PG_ONLY
def test_a_send_that_ends_after_the_close_gives_its_connection_back(open_store):
    store = open_store()
    with sendpath.connection(store) as conn:
        sendpath.close(store)  # the store closes while this send still holds its connection
        conn.execute("SELECT 1")
    assert store.db.pool.checkedout() == 0


@PG_ONLY
def test_a_driver_error_in_the_send_discards_its_connection_as_store_unavailable(open_store):
    import psycopg

    from inmail_guard.store import StoreUnavailable

    store = open_store()
    first = _send_connection(store)
    with pytest.raises(StoreUnavailable) as raised, sendpath.connection(store) as conn:
        assert int(conn.info.backend_pid) == first  # the kept one
        raise psycopg.OperationalError("server closed the connection unexpectedly")
    assert raised.value.reason == "connection"
    assert isinstance(raised.value.__cause__, psycopg.OperationalError)
    assert store.db.pool.checkedout() == 0  # discarded, not kept
    assert _send_connection(store) != first


@PG_ONLY
def test_any_other_error_in_the_send_passes_through_and_keeps_the_connection(open_store):
    store = open_store()
    first = _send_connection(store)
    with pytest.raises(ValueError, match=r"^not the database$"), \
            sendpath.connection(store) as conn:
        conn.execute("SELECT 1")
        raise ValueError("not the database")
    assert store.db.pool.checkedout() == 1
    assert _send_connection(store) == first


@PG_ONLY
def test_raw_statements_convert_times_only_on_a_session_not_in_utc(open_store):
    from datetime import UTC, datetime

    from sqlalchemy import select

    from inmail_guard.store import tables as t
    from inmail_guard.store.db import RawDb

    store = open_store()
    when = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    with store.write() as c:
        c.execute(t.members.insert().values(id="m1", plan="basic", created_at=when,
                                             updated_at=when))
    stmt = select(t.members.c.created_at).where(t.members.c.id == "m1")
    with sendpath.connection(store) as conn:
        db = RawDb(conn.cursor(), store)
        assert db._utc_driver()
        assert db.all(stmt, {}) == [(when,)]
        conn.execute("SET TimeZone = 'America/New_York'")
        try:
            assert not db._utc_driver()
            (got,), = db.all(stmt, {})
            assert got == when and got.tzinfo is UTC  # converted back to UTC
        finally:
            conn.execute("SET TimeZone = 'UTC'")
