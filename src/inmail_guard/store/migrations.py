"""A small versioned migration runner: ``schema_version`` holds one row per applied version.

* An empty database gets ``metadata.create_all`` and is stamped with every version (as
  Alembic recommends for fresh databases: create, then stamp head).
* An existing database at version *n* gets migrations *n+1..latest*, in order, in one
  transaction (DDL is transactional on both SQLite and PostgreSQL), under a lock so two
  processes opening the same database do not both migrate.
* A database newer than this code is refused rather than guessed at.

Rules for authors: never edit a released migration; a change to ``tables.py`` comes with a new
migration that upgrades the previous version's schema in place (ALTER, CREATE INDEX...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection, func, insert, inspect, select, text

from inmail_guard.store import deadline
from inmail_guard.store import tables as t

if TYPE_CHECKING:
    from inmail_guard.store import Store


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    apply: Callable[[Connection], None]


def _baseline(conn: Connection) -> None:
    # Version 1 as released: every table except the outbox index that version 2 adds.
    due = next(i for i in t.outbox.indexes if i.name == "ix_outbox_due")
    t.outbox.indexes.discard(due)
    try:
        t.metadata.create_all(conn)
    finally:
        t.outbox.indexes.add(due)


def _outbox_due_index(conn: Connection) -> None:
    next(i for i in t.outbox.indexes if i.name == "ix_outbox_due").create(conn, checkfirst=True)


def _conversation_reads(conn: Connection) -> None:
    """Version 3: per-participant read marks and the by-activity indexes of conversations."""
    for column in ("sender_read_seq", "recipient_read_seq"):
        conn.execute(text(f"ALTER TABLE conversations ADD COLUMN {column}"
                          " BIGINT NOT NULL DEFAULT 0"))
    for index in t.conversations.indexes:
        index.create(conn, checkfirst=True)


def _member_profile(conn: Connection) -> None:
    """Version 4: the members' headline, company and role (for advice)."""
    for column in ("headline", "company", "role"):
        conn.execute(text(f"ALTER TABLE members ADD COLUMN {column} VARCHAR(200)"))


def _send_function(conn: Connection) -> None:
    """Version 5: PostgreSQL's send write as one server-side function (store/sendpath.py).
    SQLite has nothing to install."""
    if conn.dialect.name == "postgresql":
        from inmail_guard.store.sendpath import FUNCTION_SQL

        conn.exec_driver_sql(FUNCTION_SQL)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "baseline: members, connections, blocks, inmails, conversations, credits,"
                 " abuse reports, restrictions, decision log, outbox", _baseline),
    Migration(2, "index the outbox by due time", _outbox_due_index),
    Migration(3, "conversations: read marks per participant, indexes by activity",
              _conversation_reads),
    Migration(4, "members: headline, company and role", _member_profile),
    Migration(5, "the send's write as one PostgreSQL function (inmail_guard_send_v1)",
              _send_function),
)
#: What a new database gets on top of ``metadata.create_all`` (it is then stamped with every
#: version): what the tables cannot declare.
_ON_CREATE: tuple[Callable[[Connection], None], ...] = (_send_function,)
LATEST = MIGRATIONS[-1].version

# Any 64-bit constant: the PostgreSQL advisory lock migrations take.
_PG_LOCK_KEY = 0x1A11_6A7D
#: PostgreSQL lock and statement timeout while migrating (requests use StoreSettings').
MIGRATION_TIMEOUT = "10min"
#: ... and the client's deadline on each wait meanwhile (store/deadline.py), a little longer.
_MIGRATION_WAIT_SECONDS = 10 * 60 + 30


def current_version(conn: Connection) -> int:
    if not inspect(conn).has_table("schema_version"):
        return 0
    return conn.execute(select(func.max(t.schema_version.c.version))).scalar() or 0


def upgrade(store: Store, migrations: tuple[Migration, ...] = MIGRATIONS) -> int:
    """Bring the store's schema to the latest version; returns the version reached."""
    latest = migrations[-1].version
    with deadline.waits_up_to(_MIGRATION_WAIT_SECONDS), store.write() as conn:
        if store.dialect == "postgresql":
            # Another instance may be migrating (or an index build may be slow): wait longer
            # than a request would, but not forever.
            for name in ("lock_timeout", "statement_timeout"):
                conn.execute(text("SELECT set_config(:n, :v, true)"),
                             {"n": name, "v": MIGRATION_TIMEOUT})
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        version = current_version(conn)
        if version > latest:
            from inmail_guard.store import StoreError

            raise StoreError(
                f"database schema version {version} is newer than this inmail-guard supports"
                f" ({latest}); upgrade inmail-guard"
            )
        now = datetime.now(UTC)
        if version == 0:
            existing = set(inspect(conn).get_table_names()) & set(t.metadata.tables)
            if existing:
                from inmail_guard.store import StoreError

                raise StoreError(
                    f"database has inmail-guard tables ({', '.join(sorted(existing))}) but no"
                    " schema_version; refusing to guess its version"
                )
            t.metadata.create_all(conn)
            for install in _ON_CREATE:
                install(conn)
            pending: list[Migration] = []
            conn.execute(insert(t.schema_version), [
                {"version": m.version, "description": m.description, "applied_at": now}
                for m in migrations
            ])
        else:
            pending = [m for m in migrations if m.version > version]
        for m in pending:
            m.apply(conn)
            conn.execute(insert(t.schema_version).values(
                version=m.version, description=m.description, applied_at=now))
        return latest
