"""Member rows and the relations between members (connections, blocks), as the service's member
administration writes them. Reading a member for a send is :mod:`inmail_guard.store.facts`'s."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from inmail_guard.store import tables as t
from inmail_guard.store.db import SADb
from inmail_guard.store.facts import insert_ignore

#: Each member column's size (text the store must be able to keep; None: unbounded).
COLUMN_CHARS: dict[str, int | None] = {
    name: getattr(t.members.c[name].type, "length", None)
    for name in ("id", "plan", "name", "photo_url", "headline", "company", "role")}


def upsert(conn: Connection, member_id: str, values: Mapping[str, Any], now: datetime) -> None:
    """Insert the member, or replace every attribute in ``values`` of the stored one."""
    if not insert_ignore(SADb(conn), t.members,
                         {"id": member_id, "created_at": now, **values}):
        conn.execute(t.members.update().where(t.members.c.id == member_id).values(**values))


def update(conn: Connection, member_id: str, changes: Mapping[str, Any], now: datetime) -> None:
    """Change only the named attributes (one UPDATE of those columns)."""
    conn.execute(t.members.update().where(t.members.c.id == member_id)
                 .values(**changes, updated_at=now))


def connect(conn: Connection, a: str, b: str, now: datetime) -> None:
    """Connect two members (stored both ways); connecting again changes nothing."""
    for x, y in ((a, b), (b, a)):
        insert_ignore(SADb(conn), t.connections, {"member_id": x, "other_id": y,
                                                  "created_at": now})


def disconnect(conn: Connection, a: str, b: str) -> None:
    c = t.connections.c
    for x, y in ((a, b), (b, a)):
        conn.execute(t.connections.delete().where(c.member_id == x, c.other_id == y))


def block(conn: Connection, blocker_id: str, blocked_id: str, now: datetime) -> None:
    insert_ignore(SADb(conn), t.blocks,
                  {"blocker_id": blocker_id, "blocked_id": blocked_id, "created_at": now})


def unblock(conn: Connection, blocker_id: str, blocked_id: str) -> None:
    b = t.blocks.c
    conn.execute(t.blocks.delete().where(b.blocker_id == blocker_id, b.blocked_id == blocked_id))


__all__ = ["COLUMN_CHARS", "block", "connect", "disconnect", "unblock", "update", "upsert"]
