"""The schema migrates in place; a newer or unversioned database is refused, not guessed at."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, inspect, select, text

from inmail_guard.store import Store, StoreError, sendpath
from inmail_guard.store import tables as t
from inmail_guard.store.migrations import LATEST, MIGRATIONS, current_version


def versions(store: Store) -> list[int]:
    with store.read() as conn:
        return list(conn.execute(select(t.schema_version.c.version)
                                 .order_by(t.schema_version.c.version)).scalars())


def test_a_fresh_database_is_created_at_the_latest_version(store):
    assert versions(store) == [m.version for m in MIGRATIONS] and LATEST == 5
    with store.read() as conn:
        assert set(t.metadata.tables) <= set(inspect(conn).get_table_names())


def test_opening_again_changes_nothing(store_url, store):
    again = Store(store_url)
    assert versions(again) == versions(store)
    again.close()


def _as_version_4(conn) -> None:
    """Undo version 5: PostgreSQL's send function."""
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"DROP FUNCTION {sendpath.FUNCTION}"))
    conn.execute(delete(t.schema_version).where(t.schema_version.c.version == 5))


def _as_version_3(conn) -> None:
    """Undo versions 5 and 4: the members' profile details."""
    _as_version_4(conn)
    for column in ("headline", "company", "role"):
        conn.execute(text(f"ALTER TABLE members DROP COLUMN {column}"))
    conn.execute(delete(t.schema_version).where(t.schema_version.c.version == 4))


def _as_version_2(conn) -> None:
    """Undo versions 4 and 3: the conversations' read marks and indexes."""
    _as_version_3(conn)
    for index in ("ix_conversations_sender", "ix_conversations_recipient"):
        conn.execute(text(f"DROP INDEX {index}"))
    for column in ("sender_read_seq", "recipient_read_seq"):
        conn.execute(text(f"ALTER TABLE conversations DROP COLUMN {column}"))
    conn.execute(delete(t.schema_version).where(t.schema_version.c.version == 3))


def test_a_version_2_database_gets_read_marks_with_its_conversations_kept(store_url, store):
    now_sql = "2026-01-01 00:00:00"
    with store.write() as conn:
        _as_version_2(conn)
        conn.execute(text("INSERT INTO conversations (id, inmail_id, sender_id, recipient_id,"
                          " created_at, last_message_at) VALUES ('cv1', 'im1', 'a', 'b',"
                          f" '{now_sql}', '{now_sql}')"))
    with store.read() as conn:
        assert current_version(conn) == 2
    store.close()
    upgraded = Store(store_url)
    with upgraded.read() as conn:
        assert current_version(conn) == 5
        row = conn.execute(select(t.conversations)).one()
        assert (row.id, row.sender_read_seq, row.recipient_read_seq) == ("cv1", 0, 0)
        names = {i["name"] for i in inspect(conn).get_indexes("conversations")}
        assert {"ix_conversations_sender", "ix_conversations_recipient"} <= names
    upgraded.close()


def test_a_version_1_database_is_upgraded_in_place_keeping_its_data(store_url, store):
    now_sql = "2026-01-01 00:00:00"
    with store.write() as conn:
        # Make it look like version 1: no outbox index, version rows 2 and 3 absent; plus data.
        _as_version_2(conn)
        conn.execute(text("DROP INDEX ix_outbox_due"))
        conn.execute(delete(t.schema_version).where(t.schema_version.c.version == 2))
        conn.execute(text("INSERT INTO members (id, plan, profile_public, accepts_inmail,"
                          " is_employee, created_at, updated_at) VALUES ('m1', 'basic', true,"
                          f" true, false, '{now_sql}', '{now_sql}')"))
    with store.read() as conn:
        assert current_version(conn) == 1
        assert "ix_outbox_due" not in {i["name"] for i in inspect(conn).get_indexes("outbox")}
    store.close()
    upgraded = Store(store_url)
    with upgraded.read() as conn:
        assert current_version(conn) == 5
        assert "ix_outbox_due" in {i["name"] for i in inspect(conn).get_indexes("outbox")}
        assert conn.execute(select(t.members.c.id)).scalars().all() == ["m1"]
    upgraded.close()


def test_a_newer_database_is_refused(store_url, store):
    with store.write() as conn:
        conn.execute(t.schema_version.insert().values(
            version=99, description="from the future",
            applied_at=datetime.now(UTC)))
    with pytest.raises(StoreError, match="newer than this inmail-guard supports"):
        Store(store_url)


def test_tables_without_a_version_are_refused(store_url, store):
    with store.write() as conn:
        conn.execute(text("DROP TABLE schema_version"))
    with pytest.raises(StoreError, match="no schema_version"):
        Store(store_url)


def test_urls_and_paths(tmp_path):
    from inmail_guard.store import to_url

    assert to_url(None) == "sqlite:///./inmail-guard.db"
    assert to_url(tmp_path / "x.db") == f"sqlite:///{tmp_path}/x.db"
    with pytest.raises(StoreError, match="in-memory"):
        Store("sqlite://")
    with pytest.raises(StoreError, match="unsupported"):
        Store("mysql://u@h/db")


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path):
    store = Store(tmp_path / "w.db")
    with store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    store.close()


def test_a_version_3_database_gets_profile_columns_with_its_members_kept(store_url, store):
    now_sql = "2026-01-01 00:00:00"
    with store.write() as conn:
        _as_version_3(conn)
        conn.execute(text("INSERT INTO members (id, plan, profile_public, accepts_inmail,"
                          " is_employee, created_at, updated_at) VALUES ('m1', 'basic', true,"
                          f" true, false, '{now_sql}', '{now_sql}')"))
    store.close()
    upgraded = Store(store_url)
    with upgraded.read() as conn:
        assert current_version(conn) == 5
        row = conn.execute(select(t.members)).one()
        assert (row.id, row.headline, row.company, row.role) == ("m1", None, None, None)
    upgraded.close()


def _has_send_function(conn) -> bool:
    return bool(conn.execute(text("SELECT count(*) FROM pg_proc WHERE proname = :n"
                                  " AND pronamespace = current_schema()::regnamespace"),
                             {"n": sendpath.FUNCTION}).scalar())


@pytest.mark.postgres
def test_a_fresh_postgresql_database_has_the_send_function(store):
    if store.is_sqlite:
        pytest.skip("PostgreSQL only: SQLite has no functions to install")
    with store.read() as conn:
        assert _has_send_function(conn)


def test_a_version_4_database_gets_the_send_function_and_sends(store_url, store):
    with store.write() as conn:
        _as_version_4(conn)
        assert current_version(conn) == 4
        if not store.is_sqlite:
            assert not _has_send_function(conn)
    store.close()
    upgraded = Store(store_url)
    with upgraded.read() as conn:
        assert current_version(conn) == 5
        if not upgraded.is_sqlite:
            assert _has_send_function(conn)
    upgraded.close()
