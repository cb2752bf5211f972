"""The raw driver path (RawDb) and SQLAlchemy (SADb) read and write the same values."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from inmail_guard.store import StoreUnavailable
from inmail_guard.store import tables as t
from inmail_guard.store.db import SADb, insert_of, raw_write

#: The members columns these raw rows leave empty (schema version 4).
NO_PROFILE = {"headline": None, "company": None, "role": None}

T = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # microsecond 0: the format must still match
_INSERT = insert_of(t.members)
_SINCE = select(t.members.c.id, t.members.c.created_at).where(
    t.members.c.created_at >= bindparam("since", type_=t.Time())).order_by(t.members.c.id)


def test_times_written_raw_and_via_sqlalchemy_compare_and_read_back_alike(store):
    rows = [("raw", T), ("raw2", T + timedelta(microseconds=7))]
    with raw_write(store) as db:
        for member_id, when in rows:
            db.run(_INSERT, {"id": member_id, "plan": "basic", "profile_public": True,
                             "accepts_inmail": True, "is_employee": False, "name": None,
                             "photo_url": None, **NO_PROFILE, "created_at": when,
                             "updated_at": when})
    with store.write() as conn:
        SADb(conn).run(_INSERT, {"id": "sa", "plan": "basic", "profile_public": False,
                                 "accepts_inmail": True, "is_employee": False, "name": "x",
                                 "photo_url": None, **NO_PROFILE, "created_at": T, "updated_at": T})
    with store.read() as conn:
        via_sa = [tuple(r) for r in SADb(conn).all(_SINCE, {"since": T})]
    with raw_write(store) as db:
        via_raw = [tuple(r) for r in db.all(_SINCE, {"since": T})]
        later = db.all(_SINCE, {"since": T + timedelta(microseconds=1)})
    assert via_sa == via_raw == [("raw", T), ("raw2", T + timedelta(microseconds=7)),
                                 ("sa", T)]
    assert [r[0] for r in later] == ["raw2"]
    assert all(r[1].tzinfo is not None for r in via_raw)


def test_insert_ignore_counts_rows_inserted_on_both_paths(store):
    from inmail_guard.store.facts import insert_ignore

    row = {"id": "m", "plan": "basic", "profile_public": True, "accepts_inmail": True,
           "is_employee": False, "name": None, "photo_url": None, **NO_PROFILE, "created_at": T,
           "updated_at": T}
    with store.write() as conn:  # SQLAlchemy reports -1 for INSERT on psycopg unless asked
        assert insert_ignore(SADb(conn), t.members, row) == 1
        assert insert_ignore(SADb(conn), t.members, row) == 0
    with raw_write(store) as db:
        assert insert_ignore(db, t.members, {**row, "id": "n"}) == 1
        assert insert_ignore(db, t.members, {**row, "id": "n"}) == 0


def test_put_member_updates_an_existing_member(store):
    import inmail_guard as ig
    from inmail_guard.service import InMailService

    with InMailService(ig.default_policy(), store) as svc:
        svc.put_member(ig.Member("bob"))
        svc.put_member(ig.Member("bob", plan="job_seeker", accepts_inmail=False))
        assert svc.get_member("bob") == ig.Member("bob", plan="job_seeker",
                                                  accepts_inmail=False)


def test_a_database_error_does_not_carry_the_values(store):
    # Unmapped database errors are logged with their message; a body must never be in it.
    values = {"id": "dup", "plan": "basic", "profile_public": True, "accepts_inmail": True,
              "is_employee": False, "name": "SECRET-BODY-TEXT", "photo_url": None, **NO_PROFILE,
              "created_at": T, "updated_at": T}
    with store.write() as conn:
        conn.execute(t.members.insert().values(**values))
    with pytest.raises(IntegrityError) as caught, store.write() as conn:
        conn.execute(t.members.insert().values(**values))
    assert "SECRET-BODY-TEXT" not in str(caught.value)
    assert "hidden due to hide_parameters" in str(caught.value)


# --- SQLite: raw_write's one writer connection -------------------------------------------------

_MEMBER = {"plan": "basic", "profile_public": True, "accepts_inmail": True,
           "is_employee": False, "name": None, "photo_url": None, **NO_PROFILE, "created_at": T,
           "updated_at": T}


def _ids(store) -> list[str]:
    with store.read() as conn:
        return sorted(conn.execute(select(t.members.c.id)).scalars())


@pytest.fixture
def sqlite_store(tmp_path):
    from inmail_guard.store import Store

    store = Store(f"sqlite:///{tmp_path}/w.db")
    yield store
    store.close()


def test_sqlite_writes_share_one_connection_outside_the_pool(sqlite_store):
    from sqlalchemy import event

    checkouts = []
    event.listen(sqlite_store.db, "checkout", lambda *a: checkouts.append(1))
    with raw_write(sqlite_store) as db:
        db.run(_INSERT, {**_MEMBER, "id": "a"})
    first = sqlite_store.writer_connection()
    with raw_write(sqlite_store) as db:
        db.run(_INSERT, {**_MEMBER, "id": "b"})
    assert sqlite_store.writer_connection() is first
    assert checkouts == []  # neither write took a pooled connection
    assert _ids(sqlite_store) == ["a", "b"]


def test_an_error_in_a_write_rolls_back_and_keeps_the_connection(sqlite_store):
    with raw_write(sqlite_store) as db:
        db.run(_INSERT, {**_MEMBER, "id": "a"})
    first = sqlite_store.writer_connection()
    with pytest.raises(RuntimeError, match="boom"), raw_write(sqlite_store) as db:
        db.run(_INSERT, {**_MEMBER, "id": "b"})
        raise RuntimeError("boom")
    assert not first.driver_connection.in_transaction
    assert sqlite_store.writer_connection() is first  # nothing wrong with it: kept
    assert _ids(sqlite_store) == ["a"]


def test_a_driver_error_replaces_the_connection_and_changes_nothing(sqlite_store):
    with raw_write(sqlite_store) as db:
        db.run(_INSERT, {**_MEMBER, "id": "a"})
    first = sqlite_store.writer_connection()
    with pytest.raises(sqlite3.IntegrityError), raw_write(sqlite_store) as db:
        db.run(_INSERT, {**_MEMBER, "id": "b"})
        db.run(_INSERT, {**_MEMBER, "id": "a"})  # the primary key again
    assert sqlite_store.writer_connection() is first  # a broken constraint: still usable
    with pytest.raises(StoreUnavailable) as info, raw_write(sqlite_store) as db:
        db.run(_INSERT, {**_MEMBER, "id": "c"})
        db.cursor.execute("SELECT * FROM no_such_table")  # an OperationalError, as disk I/O
    assert isinstance(info.value.__cause__, sqlite3.OperationalError)
    assert sqlite_store.writer_connection() is not first  # a fresh one after a driver error
    assert _ids(sqlite_store) == ["a"]  # "b" and "c" rolled back whole
    with raw_write(sqlite_store) as db:
        db.run(_INSERT, {**_MEMBER, "id": "d"})
    assert _ids(sqlite_store) == ["a", "d"]


def test_a_nested_write_uses_a_pooled_connection(sqlite_store):
    """Only a thread's outermost write takes the writer connection: a nested one must not
    BEGIN on a connection already in a transaction."""
    from sqlalchemy import event

    checkouts = []
    event.listen(sqlite_store.db, "checkout", lambda *a: checkouts.append(1))
    with sqlite_store.writer(), raw_write(sqlite_store) as db:
        db.run(_INSERT, {**_MEMBER, "id": "a"})
    assert checkouts == [1]
    assert _ids(sqlite_store) == ["a"]


def test_a_forked_child_opens_its_own_writer_connection(sqlite_store):
    import multiprocessing
    import os

    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("needs fork")
    with raw_write(sqlite_store) as db:
        db.run(_INSERT, {**_MEMBER, "id": "parent"})
    parents = sqlite_store.writer_connection()
    pid = os.fork()
    if pid == 0:  # the child: write through the same Store object, then report by exit code
        code = 1
        try:
            with raw_write(sqlite_store) as db:
                db.run(_INSERT, {**_MEMBER, "id": "child"})
            code = 0 if sqlite_store.writer_connection() is not parents else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    with raw_write(sqlite_store) as db:  # the parent's connection still works
        db.run(_INSERT, {**_MEMBER, "id": "after"})
    assert sqlite_store.writer_connection() is parents
    assert _ids(sqlite_store) == ["after", "child", "parent"]


def test_close_closes_the_writer_connection(tmp_path):
    from inmail_guard.store import Store

    store = Store(f"sqlite:///{tmp_path}/c.db")
    with raw_write(store) as db:
        db.run(_INSERT, {**_MEMBER, "id": "a"})
    raw = store.writer_connection()
    store.close()
    assert store._writer_raw is None
    assert not raw.is_valid  # invalidated: its DBAPI connection is closed


def test_close_waits_for_a_write_in_progress(sqlite_store):
    import threading
    import time

    inside, done = threading.Event(), []

    def write() -> None:
        with raw_write(sqlite_store) as db:
            db.run(_INSERT, {**_MEMBER, "id": "slow"})
            inside.set()
            time.sleep(0.3)  # close() is called meanwhile
            db.run(_INSERT, {**_MEMBER, "id": "slow2"})
        done.append(True)

    writer = threading.Thread(target=write)
    writer.start()
    assert inside.wait(5)
    sqlite_store.close()  # must not pull the connection from under the write
    writer.join(5)
    assert done == [True]
    from inmail_guard.store import Store

    reopened = Store(sqlite_store.url)
    try:
        assert _ids(reopened) == ["slow", "slow2"]
    finally:
        reopened.close()


_TIMES_ONLY = select(t.members.c.created_at).where(
    t.members.c.created_at >= bindparam("since", type_=t.Time())).order_by(t.members.c.created_at)
_LIFTED = select(t.restrictions.c.id, t.restrictions.c.lifted_at).order_by(t.restrictions.c.id)


def test_a_column_of_times_and_empty_times_read_back_as_utc(store):
    """One time column (a sender's send times: the per-row fast path) and a nullable one."""
    with raw_write(store) as db:
        for member_id, when in (("a", T + timedelta(microseconds=7)), ("b", T)):
            db.run(_INSERT, {"id": member_id, "plan": "basic", "profile_public": True,
                             "accepts_inmail": True, "is_employee": False, "name": None,
                             "photo_url": None, **NO_PROFILE, "created_at": when,
                             "updated_at": when})
        for rid, lifted in (("r1", None), ("r2", T)):
            db.run(insert_of(t.restrictions), {
                "id": rid, "member_id": "a", "starts_at": T, "until": T + timedelta(days=1),
                "cause": "spam", "decision_id": None, "lifted_at": lifted, "lifted_by": None,
                "note": None})
        times = db.all(_TIMES_ONLY, {"since": T})
        lifted = [tuple(r) for r in db.all(_LIFTED, {})]
    assert [tuple(r) for r in times] == [(T,), (T + timedelta(microseconds=7),)]
    assert all(r[0].utcoffset() == timedelta(0) for r in times)
    assert lifted == [("r1", None), ("r2", T)] and lifted[1][1].utcoffset() == timedelta(0)
