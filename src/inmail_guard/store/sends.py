"""A send's database work: the store operations around the engine's decision. The service
speaks to this module only; the read-then-write mechanics (the one-statement read,
connections, the PostgreSQL function) are :mod:`inmail_guard.store.sendpath`'s.

**Read, then write if the read still holds** (the send path):

* :func:`read_unlocked`: the sender's credit account, both members, the facts and the
  idempotency key's use, outside any write transaction (PostgreSQL: one statement, one round
  trip, on the send's :func:`connection`; SQLite: WAL, no lock);
* :func:`write_if_unchanged`: every write of the :class:`Outcome`, if the account's ``used``
  and ``refunds`` and the sender's restriction count are still what the read saw (PostgreSQL:
  one function call and ``COMMIT`` in one round trip; SQLite: the writes alone under
  ``BEGIN IMMEDIATE``); False, having written nothing, if another send of the sender got in
  between: read and decide again.

**Lock first** (a hot sender whose reads keep going stale, and the benchmarks' baseline), in
the caller's write transaction:

* :func:`read`: the sender's credit account for the window (found and, on PostgreSQL, locked
  first: the per-sender lock; created when missing), then both members and the facts;
* :func:`write`: every write of the outcome.

Either way the writes are the same: the spend (refused if no credit is left, so a locking bug
could not overspend either), the InMail with its tags and ``inmail.sent``, or the restriction
with ``sender.restricted``; and the decision log, always. The service builds what is written
(ids, event fields, the decision's JSON); this module only stores it.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from inmail_guard.engine.types import Facts
from inmail_guard.store import inmails, outbox, restrictions, sendpath
from inmail_guard.store.db import Db, raw_write
from inmail_guard.store.facts import (
    Account,
    StoredMember,
    find_account,
    load_members,
    open_account,
    read_send_facts,
    spend_credit,
)

if TYPE_CHECKING:
    from inmail_guard.store import Store


@dataclass(frozen=True, slots=True)
class Reads:
    """How far back a send's facts look (the service's terms)."""

    expire_after: timedelta
    abuse_window: timedelta
    bodies_window: timedelta | None
    fingerprint_version: int
    rollover_cap: int


@dataclass(frozen=True, slots=True)
class SendRead:
    account: Account
    sender: StoredMember
    recipient: StoredMember
    facts: Facts


@dataclass(frozen=True, slots=True)
class UnlockedRead:
    """What :func:`read_unlocked` found. For a sender's first send of the window
    (``new_account``), ``account`` is the one the write opens (its roll-over), still unused."""

    account: Account
    sender: StoredMember
    recipient: StoredMember
    facts: Facts
    new_account: bool
    #: The idempotency key's earlier use, and that send's InMail row (columns
    #: :data:`inmails.INMAIL_COLUMNS`), if it was used and accepted.
    key_use: inmails.KeyUse | None = None
    key_inmail: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class MissingMembers:
    """The send names a member the store does not hold: ``sender``/``recipient`` say which.
    Both False (:func:`read_unlocked` only): both exist now, created between its statements;
    read again."""

    sender: bool
    recipient: bool


@dataclass(frozen=True, slots=True)
class Spend:
    account: Account
    limit: int  # the plan's credits plus the account's extras
    inmail_id: str


@dataclass(frozen=True, slots=True)
class NewRestriction:
    id: str
    member_id: str
    until: datetime
    cause: str
    decision_id: str | None
    #: The ``sender.restricted`` event's fields.
    event: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Outcome:
    """Everything a decided send writes: the decision log line, always; for an accepted send
    the spend, the InMail row and ``inmail.sent``'s fields; for a rejection that restricts,
    the restriction (with ``sender.restricted``'s fields)."""

    decision: inmails.DecisionEntry
    spend: Spend | None = None
    inmail: inmails.NewInMail | None = None
    sent_event: dict[str, Any] | None = None
    restriction: NewRestriction | None = None


def _refused(member_id: str) -> RuntimeError:
    return RuntimeError(f"credit spend refused for {member_id} after an accepting decision;"
                        " rolled back (no overspend)")


# --- read, then write if the read still holds ------------------------------------------------


#: :func:`read_unlocked` found the database unavailable (a ``StoreUnavailable``): nothing was
#: written, so the send may read once more, on another connection (a pooled one the server had
#: just closed fails on its first use).
ReadUnavailable = sendpath.ReadUnavailable


def connection(store: Store) -> AbstractContextManager[Any]:
    """PostgreSQL: one connection for a send's :func:`read_unlocked` and its
    :func:`write_if_unchanged`, kept for the next send when the pool can spare it
    (:mod:`~inmail_guard.store.sendconn`); None on SQLite."""
    return sendpath.connection(store)


def read_unlocked(store: Store, sender_id: str, recipient_id: str, now: datetime,
                  window_start: datetime, previous_start: datetime, reads: Reads,
                  plan_limit: Callable[[str], int], *, idempotency_key: str | None,
                  conn: Any = None) -> UnlockedRead | MissingMembers:
    """The account, both members, the facts and the key's use, read outside any lock
    (:func:`inmail_guard.store.sendpath.read_send`). ``plan_limit`` gives a plan's credits (it
    raises for a plan the policy does not declare): they size the roll-over of the account a
    sender's first send of the window opens."""
    snap = sendpath.read_send(
        store, sender_id, recipient_id, window_start, now, idempotency_key=idempotency_key,
        expire_after=reads.expire_after, abuse_window=reads.abuse_window,
        bodies_window=reads.bodies_window, fingerprint_version=reads.fingerprint_version,
        previous_window_start=previous_start, plan_limit=plan_limit,
        rollover_cap=reads.rollover_cap, conn=conn)
    if snap.found is None:
        return MissingMembers(sender_id not in snap.known_members,
                              recipient_id not in snap.known_members)
    sender, recipient, facts = snap.found
    key_use = None if snap.replay is None else inmails.KeyUse(*snap.replay)
    key_inmail = (None if snap.replay_inmail is None
                  else dict(zip(inmails.INMAIL_COLUMNS, snap.replay_inmail, strict=True)))
    return UnlockedRead(snap.account, sender, recipient, facts, snap.new_account, key_use,
                        key_inmail)


def write_if_unchanged(
    store: Store,
    read: UnlockedRead,
    now: datetime,
    outcome: Outcome,
    *,
    write: Callable[[Store], AbstractContextManager[Db]] = raw_write,
    before_commit: Callable[[], None] = lambda: None,
    conn: Any = None,
) -> bool:
    """Write ``outcome`` if ``read`` still holds; False, having written nothing, if another
    send of this sender was written since (read and decide again). ``write`` opens SQLite's
    transaction (``raw_write_nowait`` raises ``WouldBlock`` before anything is done);
    ``before_commit`` runs when everything is ready to commit (on PostgreSQL just before the
    function call, which commits in the same round trip); ``conn``: the send's
    :func:`connection`."""
    entry, account = outcome.decision, read.account
    new_inmail = None
    if outcome.inmail is not None:
        row, spend = outcome.inmail, outcome.spend
        assert spend is not None, "an accepted send spends"
        tags_json, crm_json = inmails.json_columns(row)
        event_id, payload = outbox.new_event("inmail.sent", now, **(outcome.sent_event or {}))
        new_inmail = sendpath.NewInMail(
            id=row.id, limit=spend.limit, subject=row.subject, body=row.body, tags=row.tags,
            tags_json=tags_json, crm_json=crm_json, lead_id=row.crm.get("lead_id"),
            account_id=row.crm.get("account_id"), fingerprint=row.fingerprint,
            event_id=event_id, event_payload=payload)
    new_restriction = None
    if outcome.restriction is not None:
        r = outcome.restriction
        event_id, payload = outbox.new_event("sender.restricted", now, **r.event)
        new_restriction = sendpath.NewRestriction(r.id, r.until, r.cause, event_id, payload)
    done = sendpath.write_send(store, sendpath.SendWrite(
        sender_id=entry.sender_id, recipient_id=entry.recipient_id,
        window_start=account.window_start, now=now, seen_used=account.used,
        seen_refunds=account.refunds, seen_restrictions=read.facts.prior_restrictions,
        decision_id=entry.decision_id, idempotency_key=entry.idempotency_key,
        request_hash=entry.request_hash, outcome=entry.outcome, codes=entry.codes,
        decision_json=entry.decision, policy_version=entry.policy_version,
        inmail=new_inmail, restriction=new_restriction,
        open_rollover=account.rollover if read.new_account else None),
        before_commit=before_commit, write=write, conn=conn)
    if done == sendpath.NO_CREDIT:
        raise _refused(entry.sender_id)
    return done == sendpath.WRITTEN


# --- lock first, in the caller's write transaction -------------------------------------------


def read(db: Db, sender_id: str, recipient_id: str, now: datetime, window_start: datetime,
         previous_start: datetime, reads: Reads,
         plan_limit: Callable[[str], int]) -> SendRead | MissingMembers:
    """The account (locked), both members and the facts. A sender's first send of a window
    reads the members before creating the account (its creation date decides the roll-over);
    ``plan_limit`` gives a plan's credits (it raises for a plan the policy does not declare)."""
    account = find_account(db, sender_id, window_start)
    if account is None:
        rows = load_members(db, sender_id, recipient_id)
        sender = rows.get(sender_id)
        if sender is None or recipient_id not in rows:
            return MissingMembers(sender is None, recipient_id not in rows)
        account = open_account(db, sender, window_start, previous_start,
                               plan_limit=plan_limit(sender.plan),
                               rollover_cap=reads.rollover_cap, now=now)
    found = read_send_facts(db, sender_id, recipient_id, account, now,
                            expire_after=reads.expire_after, abuse_window=reads.abuse_window,
                            bodies_window=reads.bodies_window,
                            fingerprint_version=reads.fingerprint_version)
    if found is None:
        rows = load_members(db, sender_id, recipient_id)
        return MissingMembers(sender_id not in rows, recipient_id not in rows)
    sender, recipient, facts = found
    return SendRead(account, sender, recipient, facts)


def write(db: Db, now: datetime, outcome: Outcome) -> None:
    """Every write of a send's outcome (see the module docstring), in the caller's
    transaction (the one :func:`read` locked the account in)."""
    spend, inmail, restriction = outcome.spend, outcome.inmail, outcome.restriction
    if spend is not None and not spend_credit(db, spend.account, spend.limit,
                                              spend.inmail_id, now):
        raise _refused(spend.account.member_id)
    if inmail is not None:
        inmails.insert(db, inmail)
        outbox.add_event(db, "inmail.sent", now, **(outcome.sent_event or {}))
    if restriction is not None:
        restrictions.add(db, restriction.id, restriction.member_id, now, restriction.until,
                         restriction.cause, restriction.decision_id)
        outbox.add_event(db, "sender.restricted", now, **restriction.event)
    inmails.log_decision(db, outcome.decision)


__all__ = ["MissingMembers", "NewRestriction", "Outcome", "ReadUnavailable", "Reads",
           "SendRead", "Spend",
           "UnlockedRead", "connection", "read", "read_unlocked", "write",
           "write_if_unchanged"]
