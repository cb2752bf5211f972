"""PostgreSQL: the send path's statements at the driver's lowest level
(``sendconn.fetch_one``): the rows and the errors of a cursor's ``execute`` and ``fetchone``,
each statement's adapters kept, and a session that lost its prepared statements recovering."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from inmail_guard.store import Store, sendconn, sendpath

PG_ONLY = pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
WHEN = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)


def test_statements_take_numbered_parameters_named_ones_once_each():
    named = sendconn.Statement("SELECT %(a)s, %(b)s, %(a)s || '%%' WHERE x = %(c)s")
    assert named.sql == b"SELECT $1, $2, $1 || '%' WHERE x = $3"
    assert named.names == ("a", "b", "c")
    positional = sendconn.Statement("SELECT f(%s, %s, %s)")
    assert positional.sql == b"SELECT f($1, $2, $3)" and positional.names == ()
    with pytest.raises(ValueError, match=r"^a statement takes named or positional parameters,"
                                         r" not both$"):
        sendconn.Statement("SELECT %(a)s, %s")


@pytest.fixture
def pg_store(store_url: str) -> Iterator[Store]:
    store = Store(store_url)
    with store.write() as c:
        c.exec_driver_sql("CREATE TABLE t (id text PRIMARY KEY, at timestamptz, n integer)")
    yield store
    store.close()


_INSERT = sendconn.Statement("INSERT INTO t VALUES (%s, %s, %s) RETURNING id, at, n")
_SELECT = sendconn.Statement("SELECT id, at, n FROM t WHERE id = %(id)s")


@PG_ONLY
def test_the_first_row_binary_loaded_or_none(pg_store):
    with sendpath.connection(pg_store) as conn:
        assert sendconn.fetch_one(conn, _INSERT, ["a", WHEN, 7]) == ("a", WHEN, 7)
        assert sendconn.fetch_one(conn, _SELECT, ["a"]) == ("a", WHEN, 7)
        assert sendconn.fetch_one(conn, _SELECT, ["nobody"]) is None
        # None parameters (another parameter type: another prepared statement) work too.
        assert sendconn.fetch_one(conn, _INSERT, ["b", None, None]) == ("b", None, None)
        assert conn.pgconn.transaction_status == 0  # autocommit: nothing left open
    with pg_store.read() as c:  # committed
        assert c.exec_driver_sql("SELECT count(*) FROM t").scalar() == 2


@PG_ONLY
def test_errors_are_psycopgs_own_and_the_connection_goes_on(pg_store):
    import psycopg

    with sendpath.connection(pg_store) as conn:
        sendconn.fetch_one(conn, _INSERT, ["a", WHEN, 1])
        with pytest.raises(psycopg.errors.UniqueViolation, match='"t_pkey"'):
            sendconn.fetch_one(conn, _INSERT, ["a", WHEN, 2])
        missing = sendconn.Statement("SELECT no_such_function(%s)")
        with pytest.raises(psycopg.errors.UndefinedFunction,
                           match=r"function no_such_function\(unknown\) does not exist"):
            sendconn.fetch_one(conn, missing, ["x"])
        assert sendconn.fetch_one(conn, _SELECT, ["a"]) == ("a", WHEN, 1)


@PG_ONLY
def test_a_session_that_lost_its_prepared_statements_prepares_them_again(pg_store):
    with sendpath.connection(pg_store) as conn:
        sendconn.fetch_one(conn, _INSERT, ["a", WHEN, 1])
        assert sendconn.fetch_one(conn, _SELECT, ["a"]) == ("a", WHEN, 1)
        conn.execute("DEALLOCATE ALL")
        assert sendconn.fetch_one(conn, _SELECT, ["a"]) == ("a", WHEN, 1)
        (prepared,) = conn.execute("SELECT count(*) FROM pg_prepared_statements").fetchone()
        assert prepared == 1  # the one statement run since, prepared again


@PG_ONLY
def test_each_statement_keeps_its_adapters_across_runs(pg_store):
    # psycopg's cursor built its Transformer again whenever the statement changed: the read
    # and the write alternating on one cursor paid for it on every send.
    with sendpath.connection(pg_store) as conn:
        sendconn.fetch_one(conn, _INSERT, ["a", WHEN, 1])
        sendconn.fetch_one(conn, _SELECT, ["a"])
        session = sendconn._sessions[conn]
        kept = dict(session.transformers)
        for i in range(3):
            sendconn.fetch_one(conn, _INSERT, [f"b{i}", WHEN, i])
            sendconn.fetch_one(conn, _SELECT, ["a"])
        assert session.transformers == kept and len(kept) == 2
        assert all(session.transformers[s] is kept[s] for s in kept)


@PG_ONLY
def test_one_lost_prepared_statement_is_prepared_again_under_a_new_name(pg_store):
    with sendpath.connection(pg_store) as conn:
        sendconn.fetch_one(conn, _INSERT, ["a", WHEN, 1])
        sendconn.fetch_one(conn, _SELECT, ["a"])
        (lost,) = conn.execute("SELECT name FROM pg_prepared_statements"
                               " WHERE statement LIKE 'SELECT%'").fetchone()
        conn.execute(f"DEALLOCATE {lost}")
        assert sendconn.fetch_one(conn, _SELECT, ["a"]) == ("a", WHEN, 1)
        assert sendconn.fetch_one(conn, _INSERT, ["b", WHEN, 2]) == ("b", WHEN, 2)
        names = {name for (name,) in conn.execute("SELECT name FROM pg_prepared_statements")
                 if name.startswith("inmail_guard_send_")}
        # Both statements prepared again under new names (the insert's old one stays, unused).
        assert lost == "inmail_guard_send_2"
        assert names == {"inmail_guard_send_1", "inmail_guard_send_3", "inmail_guard_send_4"}


@PG_ONLY
def test_past_the_cap_a_new_statement_runs_unprepared(pg_store, monkeypatch):
    monkeypatch.setattr(sendconn, "PREPARED_MAX", 1)
    with sendpath.connection(pg_store) as conn:
        assert sendconn.fetch_one(conn, _INSERT, ["a", WHEN, 1]) == ("a", WHEN, 1)
        for _ in range(2):  # the second statement, twice: never prepared
            assert sendconn.fetch_one(conn, _SELECT, ["a"]) == ("a", WHEN, 1)
        assert sendconn.fetch_one(conn, _INSERT, ["b", WHEN, 2]) == ("b", WHEN, 2)
        names = [name for (name,) in conn.execute("SELECT name FROM pg_prepared_statements")
                 if name.startswith("inmail_guard_send_")]
        assert names == ["inmail_guard_send_1"]  # the insert's, prepared before the cap
