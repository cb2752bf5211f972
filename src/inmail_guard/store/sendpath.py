"""A send's database work: one read, then one write that checks the read still holds.

A send reads its facts, the engine decides, and the decision is written (credit spend, InMail,
outbox event, decision log). Nothing is locked while the engine runs:

1. :func:`read_send` (``store/sendread.py``) reads the sender's credit account, both members
   and the facts, and the idempotency record, outside any write transaction: on PostgreSQL
   in one statement that returns one row, the recent send times and bodies as arrays
   (``sendquery.send_read_query``; autocommit: no ``BEGIN``/``COMMIT``), on SQLite in one read
   transaction on the process's writer connection when it is free, else a reader connection
   of the calling thread (WAL: never waits for the writer).
2. The caller evaluates, with no lock held.
3. :func:`write_send` writes the outcome, **if the read still holds**: under the sender's row
   lock (PostgreSQL) or SQLite's write lock it compares the account's ``used`` and
   ``refunds`` and the sender's restriction count with what the read saw. A send of the same
   sender that committed in between changed one of them (an accepted send spends, a
   restricting one adds a restriction, a refund counts), so the write returns :data:`STALE`
   having changed nothing, and the caller reads and decides again. All three only grow, so
   an unchanged triple means nothing the decision depended on was written by this sender's
   sends meanwhile: the same guarantee as taking the lock before reading, without holding it
   while Python runs.

On PostgreSQL the write is one statement, ``SELECT inmail_guard_send_v1(...)``, a PL/pgSQL
function the migrations install (schema version 5), run in autocommit: one round trip, and
the row lock is held only while the server runs the function and flushes the commit. Each
statement inside it takes a fresh snapshot (``READ COMMITTED``), so the restriction count
read after the lock sees what the previous holder committed; a data-modifying CTE could not
(one snapshot, taken before the lock wait). A database whose function is missing (dropped
by hand, restored from a dump without functions) gets the same write as statements in one
transaction (:func:`_write_statements`), after one warning. On SQLite the write is those
statements under ``BEGIN IMMEDIATE``: the writer lock is held for the check and the inserts
only.

The credit spend keeps its own guard (``used < limit``): a spend that matches no row
returns :data:`NO_CREDIT` having written nothing. A duplicate idempotency key raises the
driver's ``IntegrityError`` (the unique index), with nothing written, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import bindparam, func, select

from inmail_guard.store import sendconn
from inmail_guard.store import tables as t
from inmail_guard.store.db import Db, RawDb, insert_of, raw_write
from inmail_guard.store.facts import (
    _LEDGER,
    _SPEND,
    insert_ignore,
)
from inmail_guard.store.inmails import (
    _INSERT_DECISION,
    _INSERT_INMAIL,
    _INSERT_TAG,
)
from inmail_guard.store.inmails import INMAIL_COLUMNS as INMAIL_KEYS
from inmail_guard.store.sendread import (  # the read; re-exported: callers use sendpath's
    ReadUnavailable,
    Snapshot,
    close,
    connection,
    read_send,
)

if TYPE_CHECKING:
    from inmail_guard.store import Store

log = logging.getLogger(__name__)

#: :func:`write_send` results.
WRITTEN: Final = "written"
STALE: Final = "stale"
NO_CREDIT: Final = "no_credit"

#: The server-side function of the PostgreSQL write (installed by migration 5).
FUNCTION = "inmail_guard_send_v1"

_T = t.Time()
ca, rs = t.credit_accounts.c, t.restrictions.c

_RESTRICTION_COUNT = (select(func.count()).select_from(t.restrictions)
                      .where(rs.member_id == bindparam("m")).scalar_subquery())
# SQLite: one statement (the write lock is already held, nothing can change under it).
_CHECK_SQLITE = select(ca.used, ca.refunds, _RESTRICTION_COUNT).where(
    ca.member_id == bindparam("m"), ca.window_start == bindparam("w", type_=_T))
# PostgreSQL: lock first, then count in a statement of its own (a fresh snapshot).
_LOCK_PG = select(ca.used, ca.refunds).where(
    ca.member_id == bindparam("m"), ca.window_start == bindparam("w", type_=_T)
).with_for_update()
_COUNT_PG = select(_RESTRICTION_COUNT)
_INSERT_RESTRICTION = insert_of(t.restrictions, skip=("lifted_at", "lifted_by", "note"))
_INSERT_EVENT = insert_of(t.outbox, skip=("seq", "delivered_at", "last_error"))


@dataclass(frozen=True, slots=True)
class NewInMail:
    """An accepted send: the InMail row, its tags, and its ``inmail.sent`` event."""

    id: str
    limit: int  # the credit limit the spend may not pass (plan + roll-over + refunds)
    subject: str
    body: str
    tags: tuple[str, ...]
    tags_json: str
    crm_json: str
    lead_id: str | None
    account_id: str | None
    fingerprint: str | None
    event_id: str
    event_payload: str


@dataclass(frozen=True, slots=True)
class NewRestriction:
    """A rejection that restricts the sender: the restriction and ``sender.restricted``."""

    id: str
    until: datetime
    cause: str
    event_id: str
    event_payload: str


@dataclass(frozen=True, slots=True)
class SendWrite:
    """Everything a decided send writes, and the read it was decided on."""

    sender_id: str
    recipient_id: str
    window_start: datetime
    now: datetime
    # The read the decision rests on: written only if these still hold.
    seen_used: int
    seen_refunds: int
    seen_restrictions: int
    # The decision log row.
    decision_id: str
    idempotency_key: str | None
    request_hash: str
    outcome: str
    codes: str
    decision_json: str
    policy_version: str
    inmail: NewInMail | None = None
    restriction: NewRestriction | None = None
    #: Open the sender's account for the window first, with this roll-over (None: it exists).
    open_rollover: int | None = None


# --- the write --------------------------------------------------------------------------------


class _Undo(Exception):
    """Roll the write back and report ``outcome``."""

    def __init__(self, outcome: str) -> None:
        self.outcome = outcome


_missing_warned: set[str] = set()


def write_send(
    store: Store,
    w: SendWrite,
    *,
    before_commit: Callable[[], None] = lambda: None,
    write: Callable[[Store], AbstractContextManager[Db]] = raw_write,
    conn: Any = None,
) -> str:
    """Write a decided send if its read still holds: :data:`WRITTEN`, :data:`STALE` (read
    and decide again) or :data:`NO_CREDIT`; in the last two cases nothing was written.

    ``before_commit`` runs once everything is ready to commit (a test's fault injection);
    on PostgreSQL, where the write and its commit are one statement, just before it is
    sent. ``write`` opens the SQLite transaction (``raw_write``, or ``raw_write_nowait``
    on an event loop, which raises ``WouldBlock`` before anything is done); ``conn`` is
    PostgreSQL's :func:`connection` of the send (else one of its own)."""
    if not store.is_sqlite:
        if conn is None:
            with connection(store) as own:
                return _write_postgres(store, own, w, before_commit)
        return _write_postgres(store, conn, w, before_commit)
    try:
        with write(store) as db:
            _write_statements(db, w)
            before_commit()
    except _Undo as undo:
        return undo.outcome
    return WRITTEN


def _write_statements(db: Db, w: SendWrite) -> None:
    """The write as statements in the caller's transaction; raises :class:`_Undo`."""
    key = {"m": w.sender_id, "w": w.window_start}
    if w.open_rollover is not None and insert_ignore(db, t.credit_accounts, {
            "member_id": w.sender_id, "window_start": w.window_start, "used": 0,
            "rollover": w.open_rollover, "refunds": 0, "updated_at": w.now}) \
            and w.open_rollover:
        db.run(_LEDGER, {"member_id": w.sender_id, "window_start": w.window_start,
                         "kind": "rollover", "delta": w.open_rollover, "inmail_id": None,
                         "created_at": w.now})
    if db.dialect == "postgresql":
        row = db.first(_LOCK_PG, key)
        seen = None if row is None else (*row, db.first(_COUNT_PG, {"m": w.sender_id})[0])  # type: ignore[index]
    else:
        seen = db.first(_CHECK_SQLITE, key)
    if seen is None or tuple(seen) != (w.seen_used, w.seen_refunds, w.seen_restrictions):
        raise _Undo(STALE)
    now = w.now
    inmail = w.inmail
    if inmail is not None:
        if not db.run(_SPEND, {**key, "limit": inmail.limit, "now": now}):
            raise _Undo(NO_CREDIT)
        db.run(_LEDGER, {"member_id": w.sender_id, "window_start": w.window_start,
                         "kind": "spend", "delta": -1, "inmail_id": inmail.id,
                         "created_at": now})
        db.run(_INSERT_INMAIL, {
            "id": inmail.id, "sender_id": w.sender_id, "recipient_id": w.recipient_id,
            "subject": inmail.subject, "body": inmail.body, "tags": inmail.tags_json,
            "crm": inmail.crm_json, "lead_id": inmail.lead_id,
            "account_id": inmail.account_id, "decision_id": w.decision_id,
            "window_start": w.window_start, "fingerprint": inmail.fingerprint,
            "sent_at": now})
        if inmail.tags:
            db.run_many(_INSERT_TAG, [{"inmail_id": inmail.id, "tag": tag}
                                      for tag in inmail.tags])
        _event(db, inmail.event_id, "inmail.sent", inmail.event_payload, now)
    elif w.restriction is not None:
        r = w.restriction
        db.run(_INSERT_RESTRICTION, {
            "id": r.id, "member_id": w.sender_id, "starts_at": now, "until": r.until,
            "cause": r.cause, "decision_id": w.decision_id})
        _event(db, r.event_id, "sender.restricted", r.event_payload, now)
    db.run(_INSERT_DECISION, {
        "decision_id": w.decision_id, "sender_id": w.sender_id,
        "recipient_id": w.recipient_id, "idempotency_key": w.idempotency_key,
        "request_hash": w.request_hash, "outcome": w.outcome, "codes": w.codes,
        "decision": w.decision_json, "inmail_id": inmail.id if inmail else None,
        "policy_version": w.policy_version, "created_at": now})


def _event(db: Db, event_id: str, type_: str, payload: str, now: datetime) -> None:
    db.run(_INSERT_EVENT, {"event_id": event_id, "type": type_, "payload": payload,
                           "created_at": now, "attempts": 0, "next_attempt_at": now})


_CALL = (f"SELECT {FUNCTION}(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,"
         " %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)")
_CALL_STATEMENT = sendconn.Statement(_CALL)


def _write_postgres(store: Store, conn: Any, w: SendWrite,
                    before_commit: Callable[[], None]) -> str:
    """The function call, one round trip; without the function, the same write as
    statements in an explicit transaction on the same connection (autocommit)."""
    if not store.__dict__.get("_sendpath_no_function"):
        outcome = _write_function(store, conn, w, before_commit)
        if outcome is not None:
            return outcome
    cursor = conn.cursor()
    cursor.execute("BEGIN")
    try:
        _write_statements(RawDb(cursor, store), w)
        before_commit()
        cursor.execute("COMMIT")
    except _Undo as undo:
        cursor.execute("ROLLBACK")
        return undo.outcome
    except BaseException:
        if not conn.closed:
            conn.rollback()
        raise
    return WRITTEN


def _write_function(store: Store, conn: Any, w: SendWrite,
                    before_commit: Callable[[], None]) -> str | None:
    """The write as one call of the server-side function, in autocommit (the statement is its
    own transaction: one round trip, commit included); None if the database has no such
    function (the caller writes statements instead)."""
    i, r = w.inmail, w.restriction
    params = (
        w.sender_id, w.recipient_id, w.window_start, w.now,
        w.seen_used, w.seen_refunds, w.seen_restrictions,
        w.decision_id, w.idempotency_key, w.request_hash, w.outcome, w.codes, w.decision_json,
        w.policy_version,
        i and i.id, i and i.limit, i and i.subject, i and i.body, i and list(i.tags),
        i and i.tags_json, i and i.crm_json, i and i.lead_id, i and i.account_id,
        i and i.fingerprint, i and i.event_id, i and i.event_payload,
        r and r.id, r and r.until, r and r.cause, r and r.event_id, r and r.event_payload,
        w.open_rollover)
    undefined = store.db.dialect.loaded_dbapi.errors.UndefinedFunction
    before_commit()
    try:
        row = sendconn.fetch_one(conn, _CALL_STATEMENT, params)
    except undefined:
        _function_missing(store)
        return None
    assert row is not None
    return str(row[0])


def _function_missing(store: Store) -> None:
    store.__dict__["_sendpath_no_function"] = True
    if store.url not in _missing_warned:
        _missing_warned.add(store.url)
        log.warning("the PostgreSQL function %s() is missing (schema version 5 installs it):"
                    " sends write statement by statement, one round trip each; reinstall it"
                    " with `inmail-guard db upgrade` or see docs/deploy.md", FUNCTION)


# PL/pgSQL of the write; the same checks and rows as _write_statements.
FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}(
    p_sender text, p_recipient text, p_window timestamptz, p_now timestamptz,
    p_used integer, p_refunds integer, p_restrictions bigint,
    p_decision_id text, p_key text, p_hash text, p_outcome text, p_codes text,
    p_decision text, p_policy_version text,
    p_inmail_id text, p_limit integer, p_subject text, p_body text, p_tags text[],
    p_tags_json text, p_crm text, p_lead_id text, p_account_id text, p_fingerprint text,
    p_sent_event_id text, p_sent_payload text,
    p_restriction_id text, p_until timestamptz, p_cause text,
    p_restricted_event_id text, p_restricted_payload text, p_open_rollover integer
) RETURNS text LANGUAGE plpgsql AS $fn$
DECLARE
    v_used integer;
    v_refunds integer;
BEGIN
    IF p_open_rollover IS NOT NULL THEN  -- the sender's first send of the window
        INSERT INTO credit_accounts (member_id, window_start, used, rollover, refunds,
                                     updated_at)
        VALUES (p_sender, p_window, 0, p_open_rollover, 0, p_now) ON CONFLICT DO NOTHING;
        IF FOUND AND p_open_rollover > 0 THEN
            INSERT INTO credit_ledger (member_id, window_start, kind, delta, inmail_id,
                                       created_at)
            VALUES (p_sender, p_window, 'rollover', p_open_rollover, NULL, p_now);
        END IF;
    END IF;
    -- The sender's lock, then the read the decision rests on, each statement a fresh snapshot.
    SELECT used, refunds INTO v_used, v_refunds FROM credit_accounts
     WHERE member_id = p_sender AND window_start = p_window FOR UPDATE;
    IF NOT FOUND OR v_used <> p_used OR v_refunds <> p_refunds
       OR (SELECT count(*) FROM restrictions WHERE member_id = p_sender) <> p_restrictions THEN
        RETURN 'stale';
    END IF;
    IF p_inmail_id IS NOT NULL THEN
        UPDATE credit_accounts SET used = used + 1, updated_at = p_now
         WHERE member_id = p_sender AND window_start = p_window AND used < p_limit;
        IF NOT FOUND THEN
            RETURN 'no_credit';
        END IF;
        INSERT INTO credit_ledger (member_id, window_start, kind, delta, inmail_id, created_at)
        VALUES (p_sender, p_window, 'spend', -1, p_inmail_id, p_now);
        INSERT INTO inmails (id, sender_id, recipient_id, subject, body, tags, crm, lead_id,
                             account_id, decision_id, window_start, fingerprint, sent_at)
        VALUES (p_inmail_id, p_sender, p_recipient, p_subject, p_body, p_tags_json, p_crm,
                p_lead_id, p_account_id, p_decision_id, p_window, p_fingerprint, p_now);
        IF cardinality(p_tags) > 0 THEN
            INSERT INTO inmail_tags (inmail_id, tag) SELECT p_inmail_id, unnest(p_tags);
        END IF;
        INSERT INTO outbox (event_id, type, payload, created_at, attempts, next_attempt_at)
        VALUES (p_sent_event_id, 'inmail.sent', p_sent_payload, p_now, 0, p_now);
    ELSIF p_restriction_id IS NOT NULL THEN
        INSERT INTO restrictions (id, member_id, starts_at, until, cause, decision_id)
        VALUES (p_restriction_id, p_sender, p_now, p_until, p_cause, p_decision_id);
        INSERT INTO outbox (event_id, type, payload, created_at, attempts, next_attempt_at)
        VALUES (p_restricted_event_id, 'sender.restricted', p_restricted_payload, p_now, 0,
                p_now);
    END IF;
    INSERT INTO decision_log (decision_id, sender_id, recipient_id, idempotency_key,
                              request_hash, outcome, codes, decision, inmail_id,
                              policy_version, created_at)
    VALUES (p_decision_id, p_sender, p_recipient, p_key, p_hash, p_outcome, p_codes,
            p_decision, p_inmail_id, p_policy_version, p_now);
    RETURN 'written';
END
$fn$
"""


__all__ = ["FUNCTION", "FUNCTION_SQL", "INMAIL_KEYS", "NO_CREDIT", "STALE", "WRITTEN",
           "NewInMail", "NewRestriction", "ReadUnavailable", "SendWrite", "Snapshot",
           "close", "connection", "read_send", "write_send"]
