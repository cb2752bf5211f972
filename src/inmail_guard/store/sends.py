"""A send's database work, as two store operations around the engine's decision, in the
caller's write transaction:

* :func:`read`: the sender's credit account for the window (found and, on PostgreSQL, locked
  first: the per-sender lock; created when missing), then both members and the facts;
* :func:`write`: every write of the outcome: the spend (refused if no credit is left, so a
  locking bug could not overspend either), the InMail with its tags and ``inmail.sent``, or
  the restriction with ``sender.restricted``; and the decision log, always.

The service builds what is written (ids, event fields, the decision's JSON); this module only
stores it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from inmail_guard.engine.types import Facts
from inmail_guard.store import inmails, outbox, restrictions
from inmail_guard.store.db import Db
from inmail_guard.store.facts import (
    Account,
    StoredMember,
    find_account,
    load_members,
    open_account,
    read_send_facts,
    spend_credit,
)


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
class MissingMembers:
    """The send names a member the store does not hold: ``sender``/``recipient`` say which."""

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


def write(db: Db, now: datetime, decision: inmails.DecisionEntry, *,
          spend: Spend | None = None, inmail: inmails.NewInMail | None = None,
          sent_event: dict[str, Any] | None = None,
          restriction: NewRestriction | None = None) -> None:
    """Every write of a send's outcome (see the module docstring)."""
    if spend is not None and not spend_credit(db, spend.account, spend.limit,
                                              spend.inmail_id, now):
        raise RuntimeError(f"credit spend refused for {spend.account.member_id} after an"
                               " accepting decision; rolled back (no overspend)")
    if inmail is not None:
        inmails.insert(db, inmail)
        outbox.add_event(db, "inmail.sent", now, **(sent_event or {}))
    if restriction is not None:
        restrictions.add(db, restriction.id, restriction.member_id, now, restriction.until,
                         restriction.cause, restriction.decision_id)
        outbox.add_event(db, "sender.restricted", now, **restriction.event)
    inmails.log_decision(db, decision)


__all__ = ["MissingMembers", "NewRestriction", "Reads", "SendRead", "Spend", "read", "write"]
