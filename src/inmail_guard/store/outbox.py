"""The event outbox: events are written in the transaction that makes the change, then
delivered (at least once) by :func:`claim_due` / :func:`mark_delivered` / :func:`mark_failed`.

Delivery never holds a database transaction open while a sink runs: due events are *claimed*
(their ``next_attempt_at`` pushed forward by a lease) in a short transaction, delivered, then
marked. A dispatcher that dies mid-batch leaves its events to be claimed again when the lease
runs out. On PostgreSQL the claim uses ``FOR UPDATE SKIP LOCKED`` so dispatchers in several
processes share the work; on SQLite the claim runs under ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, case, func, select

from inmail_guard.engine.types import iso_z as iso
from inmail_guard.store import Store
from inmail_guard.store import tables as t
from inmail_guard.store.db import Db, SADb, insert_of

LEASE = timedelta(seconds=60)
#: How long delivered events stay in the outbox by default (``INMAIL_GUARD_EVENTS_RETENTION``).
DEFAULT_RETENTION = timedelta(days=30)
#: Rows deleted per purge transaction: short transactions, so sends are not held up.
PURGE_BATCH = 1000
#: InMailService's default ``event_retention``: read ``INMAIL_GUARD_EVENTS_RETENTION``.
FROM_ENV = object()
BACKOFF_BASE = timedelta(seconds=1)
BACKOFF_MAX = timedelta(hours=1)


_SORTED_JSON = json.JSONEncoder(sort_keys=True)  # json.dumps(x, sort_keys=True), built once
_INSERT = insert_of(t.outbox, skip=("seq", "delivered_at", "last_error"))  # those start NULL


def add_event(db: Db | Connection, type_: str, now: datetime, **fields: Any) -> str:
    """Queue one event in the caller's transaction; returns its ``event_id``."""
    if isinstance(db, Connection):
        db = SADb(db)
    event_id, payload = new_event(type_, now, **fields)
    db.run(_INSERT, {"event_id": event_id, "type": type_, "payload": payload,
                     "created_at": now, "attempts": 0, "next_attempt_at": now})
    return event_id


def new_event(type_: str, now: datetime, **fields: Any) -> tuple[str, str]:
    """A new event's id and its payload as stored (sorted JSON), for a caller that writes the
    outbox row itself (the send path, ``store/sendpath.py``)."""
    event_id = uuid.uuid4().hex
    payload = {"event_id": event_id, "type": type_, "occurred_at": iso(now), **fields}
    return event_id, _SORTED_JSON.encode(payload)


@dataclass(frozen=True, slots=True)
class Claimed:
    seq: int
    event_id: str
    attempts: int
    event: dict[str, Any]


def claim_due(store: Store, now: datetime, batch: int, lease: timedelta = LEASE) -> list[Claimed]:
    o = t.outbox.c
    with store.write() as conn:
        query = (select(o.seq, o.event_id, o.attempts, o.payload)
                 .where(o.delivered_at.is_(None), o.next_attempt_at <= now)
                 .order_by(o.seq).limit(batch))
        if store.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = conn.execute(query).all()
        if rows:
            conn.execute(t.outbox.update().where(o.seq.in_([r.seq for r in rows]))
                         .values(next_attempt_at=now + lease))
    return [Claimed(r.seq, r.event_id, r.attempts, json.loads(r.payload)) for r in rows]


def release(store: Store, seqs: list[int], now: datetime) -> None:
    """Give claimed events back before their lease ends: due again from ``now``."""
    if not seqs:
        return
    o = t.outbox.c
    with store.write() as conn:
        conn.execute(t.outbox.update().where(o.seq.in_(seqs), o.delivered_at.is_(None))
                     .values(next_attempt_at=now))


def mark_delivered(store: Store, seqs: list[int], now: datetime) -> None:
    if not seqs:
        return
    o = t.outbox.c
    with store.write() as conn:
        conn.execute(t.outbox.update().where(o.seq.in_(seqs))
                     .values(delivered_at=now, attempts=o.attempts + 1, last_error=None))


def backoff(attempts: int) -> timedelta:
    """Delay before attempt ``attempts + 1``: 1s, 2s, 4s... capped at one hour."""
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_MAX)


def mark_failed(store: Store, seq: int, attempts: int, error: str, now: datetime) -> None:
    o = t.outbox.c
    with store.write() as conn:
        conn.execute(t.outbox.update().where(o.seq == seq).values(
            attempts=attempts, next_attempt_at=now + backoff(attempts), last_error=error[:1000]))


def pending_count(store: Store) -> int:
    """How many events are not delivered yet."""
    return backlog(store).pending


@dataclass(frozen=True, slots=True)
class Backlog:
    """The undelivered events: how many, how many of them failed at least once, and when the
    oldest was queued (None when there is none)."""

    pending: int
    failing: int
    oldest_created_at: datetime | None


def backlog(store: Store) -> Backlog:
    """One aggregate over the undelivered rows (``ix_outbox_due`` leads with delivered_at)."""
    o = t.outbox.c
    with store.read() as conn:
        row = conn.execute(
            select(func.count(), func.coalesce(func.sum(case((o.attempts > 0, 1), else_=0)), 0),
                   func.min(o.created_at)).where(o.delivered_at.is_(None))).one()
    return Backlog(int(row[0] or 0), int(row[1] or 0), row[2])


def retention_from_env(env: dict[str, str] | None = None) -> timedelta | None:
    """``INMAIL_GUARD_EVENTS_RETENTION``: how long delivered events are kept (``30d`` when
    unset); ``off`` keeps them forever."""
    from inmail_guard.policies.schema import parse_duration

    value = (dict(os.environ) if env is None else env).get("INMAIL_GUARD_EVENTS_RETENTION")
    if value is None or not value.strip():
        return DEFAULT_RETENTION
    value = value.strip()
    if value.lower() == "off":
        return None
    try:
        retention = parse_duration(value)
    except ValueError as exc:
        raise ValueError(f"INMAIL_GUARD_EVENTS_RETENTION: {exc}, or off") from None
    if retention <= timedelta(0):
        raise ValueError("INMAIL_GUARD_EVENTS_RETENTION: must be longer than 0s; use off to"
                         " keep delivered events forever")
    return retention


_o = t.outbox.c
_PURGE = t.outbox.delete().where(_o.seq.in_(
    select(_o.seq).where(_o.delivered_at.is_not(None),
                         _o.delivered_at < bindparam("before", type_=_o.delivered_at.type))
    .order_by(_o.seq).limit(bindparam("batch")).scalar_subquery()))


def purge_delivered(store: Store, before: datetime, batch: int = PURGE_BATCH) -> int:
    """Delete events delivered before ``before``, ``batch`` rows per transaction; returns how
    many. Undelivered events are never deleted, however old: nothing is lost."""
    removed = 0
    while True:
        with store.write() as conn:
            n = conn.execute(_PURGE, {"before": before, "batch": batch}).rowcount
        removed += n
        if n < batch:
            return removed
