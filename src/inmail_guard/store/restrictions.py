"""Restrictions of members: adding one (with its ``sender.restricted`` event), the one in
force, lifting. How long a restriction lasts is the engine's business; whether a member is
restricted now and how often they were is read with the facts
(:func:`inmail_guard.store.facts.restriction_state`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from inmail_guard.store import tables as t
from inmail_guard.store.db import Db, insert_of

_INSERT_RESTRICTION = insert_of(t.restrictions)


def add(db: Db, restriction_id: str, member_id: str, now: datetime, until: datetime,
        cause: str, decision_id: str | None) -> None:
    db.run(_INSERT_RESTRICTION, {
        "id": restriction_id, "member_id": member_id, "starts_at": now, "until": until,
        "cause": cause, "decision_id": decision_id, "lifted_at": None, "lifted_by": None,
        "note": None})


def in_force(conn: Connection, member_id: str, now: datetime) -> Any:
    """The member's restriction in force at ``now`` that lasts longest, or None."""
    r = t.restrictions.c
    return conn.execute(select(t.restrictions).where(
        r.member_id == member_id, r.lifted_at.is_(None), r.until > now)
        .order_by(r.until.desc()).limit(1)).first()


def lift(conn: Connection, member_id: str, now: datetime, by: str, note: str) -> int:
    """End the member's restrictions in force at ``now``; returns how many. History is kept."""
    r = t.restrictions.c
    return conn.execute(t.restrictions.update().where(
        r.member_id == member_id, r.lifted_at.is_(None), r.until > now)
        .values(lifted_at=now, lifted_by=by, note=note[:500])).rowcount


__all__ = ["add", "in_force", "lift"]
