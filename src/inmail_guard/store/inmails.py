"""InMail rows: what a send writes (the InMail, its tags, the decision log), the lookups a
retry replays from, and the row-level reads and transitions of the lifecycle (open, retract,
reply, report, expiry).

Functions take the transaction they run in (a SQLAlchemy ``Connection`` or the send path's
:class:`~inmail_guard.store.db.Db`); none opens one. Rows come back as SQLAlchemy rows with the
``inmails`` table's columns.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.engine import Row

from inmail_guard.store import tables as t
from inmail_guard.store.db import Db, insert_of

# The send path's statements, built once (building costs more than running them on SQLite).
# Lifecycle columns start NULL: left out, so the driver binds (and adapts) fewer parameters.
_INSERT_INMAIL = insert_of(t.inmails, skip=(
    "opened_at", "replied_at", "retracted_at", "reported_at", "expired_event_at", "refunded_at",
    "conversation_id"))
_INSERT_TAG = insert_of(t.inmail_tags)
_INSERT_DECISION = insert_of(t.decision_log)
_INMAIL_BY_ID = select(t.inmails).where(t.inmails.c.id == bindparam("id"))
#: The ``inmails`` columns, in the order a row of :func:`by_id_db` holds them.
INMAIL_COLUMNS = tuple(t.inmails.c.keys())
_FIND_KEY = select(t.decision_log.c.request_hash, t.decision_log.c.decision,
                   t.decision_log.c.inmail_id).where(
    t.decision_log.c.sender_id == bindparam("s"),
    t.decision_log.c.idempotency_key == bindparam("k"))
# json.dumps(x, sort_keys=True), without building an encoder per call.
_SORTED_JSON = json.JSONEncoder(sort_keys=True)

#: Column sizes a send's text must fit: the same limit on SQLite as on PostgreSQL.
ID_CHARS = t.ID.length
KEY_CHARS = t.decision_log.c.idempotency_key.type.length
TAG_CHARS = t.inmail_tags.c.tag.type.length
CRM_CHARS: dict[str, int] = {"lead_id": t.inmails.c.lead_id.type.length,
                             "account_id": t.inmails.c.account_id.type.length}
EXPIRE_BATCH = 500


@dataclass(frozen=True, slots=True)
class KeyUse:
    """An idempotency key already used: the request's hash, the decision (JSON) and the InMail
    it created, as the decision log keeps them."""

    request_hash: str
    decision: str
    inmail_id: str | None


@dataclass(frozen=True, slots=True)
class NewInMail:
    """An accepted send's InMail row; ``fingerprint`` is the stored form (or None)."""

    id: str
    sender_id: str
    recipient_id: str
    subject: str
    body: str
    tags: tuple[str, ...]
    crm: dict[str, str]
    decision_id: str
    window_start: datetime
    sent_at: datetime
    fingerprint: str | None = None


@dataclass(frozen=True, slots=True)
class DecisionEntry:
    """One line of the decision log (every evaluated send writes one)."""

    decision_id: str
    sender_id: str
    recipient_id: str
    idempotency_key: str | None
    request_hash: str
    outcome: str
    codes: str
    decision: str
    inmail_id: str | None
    policy_version: str
    created_at: datetime


# --- send ------------------------------------------------------------------------------------


def key_use(db: Db, sender_id: str, key: str) -> KeyUse | None:
    """The decision an idempotency key of this sender already got, if any."""
    row = db.first(_FIND_KEY, {"s": sender_id, "k": key})
    return None if row is None else KeyUse(row[0], row[1], row[2])


def by_id_db(db: Db, inmail_id: str) -> dict[str, Any] | None:
    """The InMail's row as a dict of its columns (the send path's :class:`Db`)."""
    found = db.first(_INMAIL_BY_ID, {"id": inmail_id})
    return None if found is None else dict(zip(INMAIL_COLUMNS, found, strict=True))


def json_columns(inmail: NewInMail) -> tuple[str, str]:
    """The ``tags`` and ``crm`` columns of the InMail's row, as stored (JSON)."""
    return (json.dumps(list(inmail.tags)) if inmail.tags else "[]",
            _SORTED_JSON.encode(inmail.crm) if inmail.crm else "{}")


def insert(db: Db, inmail: NewInMail) -> None:
    """Insert an accepted send's InMail and its tags."""
    crm, tags = inmail.crm, inmail.tags
    tags_json, crm_json = json_columns(inmail)
    db.run(_INSERT_INMAIL, {
        "id": inmail.id, "sender_id": inmail.sender_id, "recipient_id": inmail.recipient_id,
        "subject": inmail.subject, "body": inmail.body, "tags": tags_json,
        "crm": crm_json, "lead_id": crm.get("lead_id"),
        "account_id": crm.get("account_id"), "decision_id": inmail.decision_id,
        "window_start": inmail.window_start, "fingerprint": inmail.fingerprint,
        "sent_at": inmail.sent_at})
    if tags:
        db.run_many(_INSERT_TAG, [{"inmail_id": inmail.id, "tag": tag} for tag in tags])


def log_decision(db: Db, entry: DecisionEntry) -> None:
    db.run(_INSERT_DECISION, {
        "decision_id": entry.decision_id, "sender_id": entry.sender_id,
        "recipient_id": entry.recipient_id, "idempotency_key": entry.idempotency_key,
        "request_hash": entry.request_hash, "outcome": entry.outcome, "codes": entry.codes,
        "decision": entry.decision, "inmail_id": entry.inmail_id,
        "policy_version": entry.policy_version, "created_at": entry.created_at})


# --- lifecycle -------------------------------------------------------------------------------


def by_id(conn: Connection, inmail_id: str, *, lock: bool = False) -> Row[Any] | None:
    """The InMail's row; with ``lock``, locked until the transaction ends (``FOR UPDATE`` on
    PostgreSQL; SQLite's write transaction already holds the database's write lock)."""
    query = select(t.inmails).where(t.inmails.c.id == inmail_id)
    return conn.execute(query.with_for_update() if lock else query).first()


def change(conn: Connection, inmail_id: str, guard: Sequence[Any], **values: Any) -> None:
    """Apply a transition to the InMail's locked row, on the conditions its caller checked.
    The lock makes them true; should they not be, nothing may change (rolled back whole)."""
    done = conn.execute(t.inmails.update().where(t.inmails.c.id == inmail_id, *guard)
                        .values(**values)).rowcount
    if done != 1:
        raise RuntimeError(f"InMail {inmail_id!r} changed under its row lock")


#: The guards of each transition (the conditions its caller checked on the locked row).
_im = t.inmails.c
OPEN_GUARD = (_im.opened_at.is_(None), _im.retracted_at.is_(None),
              _im.expired_event_at.is_(None))
RETRACT_GUARD = (_im.retracted_at.is_(None), _im.replied_at.is_(None))
REPLY_GUARD = (_im.replied_at.is_(None), _im.retracted_at.is_(None),
               _im.expired_event_at.is_(None) | _im.opened_at.is_not(None))
REPORT_GUARD = (_im.retracted_at.is_(None),
                _im.expired_event_at.is_(None) | _im.opened_at.is_not(None))


def inbox(conn: Connection, member_id: str, not_expired_since: datetime,
          limit: int) -> list[Row[Any]]:
    """The recipient's inbox rows, newest first, each with its sender's name and photo: not
    retracted, not reported, and opened or sent after ``not_expired_since``."""
    im, m = t.inmails.c, t.members.c
    return list(conn.execute(
        select(im.id, im.subject, im.body, im.sent_at, im.opened_at, im.replied_at,
               im.retracted_at, im.reported_at, im.conversation_id, im.sender_id,
               m.name, m.photo_url)
        .select_from(t.inmails.join(t.members, m.id == im.sender_id))
        .where(im.recipient_id == member_id, im.retracted_at.is_(None),
               im.reported_at.is_(None),
               (im.opened_at.is_not(None)) | (im.sent_at > not_expired_since))
        .order_by(im.sent_at.desc(), im.id.desc()).limit(limit)).all())


def sent_by(conn: Connection, member_id: str, limit: int) -> list[Row[Any]]:
    """The sender's InMail rows, newest first."""
    im = t.inmails.c
    return list(conn.execute(select(t.inmails).where(im.sender_id == member_id)
                             .order_by(im.sent_at.desc(), im.id.desc()).limit(limit)).all())


def expired_unannounced(conn: Connection, sent_before: datetime,
                        limit: int = EXPIRE_BATCH) -> list[Row[Any]]:
    """Unopened InMail sent at or before ``sent_before`` whose ``inmail.expired`` event has not
    been emitted, oldest first. A reported InMail is "reported", not "expired": not listed."""
    im = t.inmails.c
    return list(conn.execute(select(t.inmails).where(
        im.opened_at.is_(None), im.retracted_at.is_(None), im.reported_at.is_(None),
        im.expired_event_at.is_(None), im.sent_at <= sent_before)
        .order_by(im.sent_at, im.id).limit(limit)).all())


def mark_expired(conn: Connection, inmail_id: str, now: datetime) -> bool:
    """Claim the InMail's expiry event (a conditional UPDATE: exactly one caller wins)."""
    im = t.inmails.c
    return bool(conn.execute(t.inmails.update().where(
        im.id == inmail_id, im.expired_event_at.is_(None), im.opened_at.is_(None),
        im.retracted_at.is_(None), im.reported_at.is_(None))
        .values(expired_event_at=now)).rowcount)


def blocked(conn: Connection, blocker_id: str, blocked_id: str) -> bool:
    """Whether ``blocker_id`` blocked ``blocked_id``."""
    b = t.blocks.c
    return conn.execute(select(b.blocker_id).where(
        b.blocker_id == blocker_id, b.blocked_id == blocked_id)).first() is not None


def report_of(conn: Connection, inmail_id: str, reporter_id: str) -> str | None:
    """The id of ``reporter_id``'s report of this InMail, if they made one."""
    a = t.abuse_reports.c
    row = conn.execute(select(a.id).where(a.inmail_id == inmail_id,
                                          a.reporter_id == reporter_id)).first()
    return None if row is None else row.id


def add_report(conn: Connection, report_id: str, inmail_id: str, reporter_id: str,
               sender_id: str, reason: str, now: datetime) -> None:
    conn.execute(t.abuse_reports.insert().values(
        id=report_id, inmail_id=inmail_id, reporter_id=reporter_id, sender_id=sender_id,
        reason=reason[:500], created_at=now))


__all__ = ["CRM_CHARS", "EXPIRE_BATCH", "ID_CHARS", "INMAIL_COLUMNS", "KEY_CHARS",
           "OPEN_GUARD", "REPLY_GUARD", "REPORT_GUARD", "RETRACT_GUARD", "TAG_CHARS",
           "DecisionEntry", "KeyUse", "NewInMail", "add_report", "blocked", "by_id", "by_id_db",
           "change", "expired_unannounced", "inbox", "insert", "json_columns", "key_use",
           "log_decision", "mark_expired", "report_of", "sent_by"]
