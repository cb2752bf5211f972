"""The raw driver path (RawDb) and SQLAlchemy (SADb) read and write the same values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from inmail_guard.store import tables as t
from inmail_guard.store.db import SADb, insert_of, raw_write

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
                             "photo_url": None, "created_at": when, "updated_at": when})
    with store.write() as conn:
        SADb(conn).run(_INSERT, {"id": "sa", "plan": "basic", "profile_public": False,
                                 "accepts_inmail": True, "is_employee": False, "name": "x",
                                 "photo_url": None, "created_at": T, "updated_at": T})
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
           "is_employee": False, "name": None, "photo_url": None, "created_at": T,
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
              "is_employee": False, "name": "SECRET-BODY-TEXT", "photo_url": None,
              "created_at": T, "updated_at": T}
    with store.write() as conn:
        conn.execute(t.members.insert().values(**values))
    with pytest.raises(IntegrityError) as caught, store.write() as conn:
        conn.execute(t.members.insert().values(**values))
    assert "SECRET-BODY-TEXT" not in str(caught.value)
    assert "hidden due to hide_parameters" in str(caught.value)
