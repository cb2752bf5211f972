"""Reading what the engine needs to know (``Facts``) and the credit account it spends from.

Everything here runs inside the caller's transaction; :func:`lock_account` is the per-sender
serialisation point on PostgreSQL (see ``store/__init__.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, exists, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Row

from inmail_guard.engine.types import BodyFingerprint, Facts, Member
from inmail_guard.store import tables as t

#: At most this many recent send times go into Facts.recent_sends (volume detectors need
#: counts up to their per-day limit, not a whole history).
RECENT_SENDS_CAP = 1000
RECENT_BODIES_CAP = 200


def member_from_row(row: Row[Any]) -> Member:
    return Member(id=row.id, plan=row.plan, profile_public=bool(row.profile_public),
                  accepts_inmail=bool(row.accepts_inmail), is_employee=bool(row.is_employee),
                  name=row.name, photo_url=row.photo_url)


_TWO_MEMBERS = select(t.members).where(
    (t.members.c.id == bindparam("a")) | (t.members.c.id == bindparam("b")))


def load_members(conn: Connection, a: str, b: str) -> dict[str, Row[Any]]:
    rows = conn.execute(_TWO_MEMBERS, {"a": a, "b": b}).all()
    return {r.id: r for r in rows}


@dataclass(frozen=True, slots=True)
class Account:
    member_id: str
    window_start: datetime
    used: int
    rollover: int
    refunds: int

    @property
    def extra(self) -> int:
        return self.rollover + self.refunds


def insert_ignore(conn: Connection, table: Any, values: dict[str, Any]) -> int:
    """INSERT that does nothing if the primary key exists; returns rows inserted."""
    ins = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    return conn.execute(ins(table).values(**values).on_conflict_do_nothing()).rowcount


def _new_account_rollover(conn: Connection, member: Row[Any], window_start: datetime,
                          previous_window_start: datetime, plan_limit: int,
                          rollover_cap: int) -> int:
    """What a new window's account starts with: the previous window's unused credits, at most
    ``rollover_cap``; a member created during this window rolls nothing over."""
    if rollover_cap <= 0 or member.created_at >= window_start:
        return 0
    c = t.credit_accounts.c
    prev = conn.execute(select(c.used, c.rollover, c.refunds).where(
        c.member_id == member.id, c.window_start == previous_window_start)).first()
    unused = plan_limit if prev is None else plan_limit + prev.rollover + prev.refunds - prev.used
    return min(rollover_cap, max(unused, 0))


def peek_account(conn: Connection, member: Row[Any], window_start: datetime,
                 previous_window_start: datetime, *, plan_limit: int,
                 rollover_cap: int) -> Account:
    """The account as :func:`lock_account` would find or create it, without writing."""
    c = t.credit_accounts.c
    row = conn.execute(select(c.used, c.rollover, c.refunds).where(
        c.member_id == member.id, c.window_start == window_start)).first()
    if row is None:
        rollover = _new_account_rollover(conn, member, window_start, previous_window_start,
                                         plan_limit, rollover_cap)
        return Account(member.id, window_start, 0, rollover, 0)
    return Account(member.id, window_start, row.used, row.rollover, row.refunds)


_ACCOUNT = select(t.credit_accounts.c.used, t.credit_accounts.c.rollover,
                  t.credit_accounts.c.refunds).where(
    t.credit_accounts.c.member_id == bindparam("m"),
    t.credit_accounts.c.window_start == bindparam("w", type_=t.Time()))
_ACCOUNT_FOR_UPDATE = _ACCOUNT.with_for_update()
_SPEND = (t.credit_accounts.update()
          .where(t.credit_accounts.c.member_id == bindparam("m"),
                 t.credit_accounts.c.window_start == bindparam("w", type_=t.Time()),
                 t.credit_accounts.c.used < bindparam("limit"))
          .values(used=t.credit_accounts.c.used + 1, updated_at=bindparam("now", type_=t.Time())))
_LEDGER = t.credit_ledger.insert()


def lock_account(
    conn: Connection,
    member: Row[Any],
    window_start: datetime,
    previous_window_start: datetime,
    *,
    plan_limit: int,
    rollover_cap: int,
    now: datetime,
) -> Account:
    """The member's credit account for this window, created if needed, and on PostgreSQL
    locked (``SELECT ... FOR UPDATE``) until the transaction ends: the per-sender lock."""
    query = _ACCOUNT_FOR_UPDATE if conn.dialect.name == "postgresql" else _ACCOUNT
    params = {"m": member.id, "w": window_start}
    row = conn.execute(query, params).first()
    if row is None:
        rollover = _new_account_rollover(conn, member, window_start, previous_window_start,
                                         plan_limit, rollover_cap)
        inserted = insert_ignore(conn, t.credit_accounts, {
            "member_id": member.id, "window_start": window_start, "used": 0,
            "rollover": rollover, "refunds": 0, "updated_at": now})
        if inserted and rollover:
            conn.execute(t.credit_ledger.insert().values(
                member_id=member.id, window_start=window_start, kind="rollover",
                delta=rollover, inmail_id=None, created_at=now))
        row = conn.execute(query, params).one()
    return Account(member.id, window_start, row.used, row.rollover, row.refunds)


def spend_credit(conn: Connection, account: Account, limit: int, inmail_id: str,
                 now: datetime) -> bool:
    """Spend one credit if one is left (``used < limit``, limit including extras)."""
    done = conn.execute(_SPEND, {"m": account.member_id, "w": account.window_start,
                                 "limit": limit, "now": now}).rowcount
    if done:
        conn.execute(_LEDGER, {"member_id": account.member_id,
                               "window_start": account.window_start, "kind": "spend",
                               "delta": -1, "inmail_id": inmail_id, "created_at": now})
    return bool(done)


def refund_credit(conn: Connection, member: Row[Any], window_start: datetime,
                  previous_window_start: datetime, inmail_id: str, now: datetime, *,
                  plan_limit: int, rollover_cap: int) -> None:
    lock_account(conn, member, window_start, previous_window_start, plan_limit=plan_limit,
                 rollover_cap=rollover_cap, now=now)
    c = t.credit_accounts.c
    conn.execute(t.credit_accounts.update()
                 .where(c.member_id == member.id, c.window_start == window_start)
                 .values(refunds=c.refunds + 1, updated_at=now))
    conn.execute(t.credit_ledger.insert().values(
        member_id=member.id, window_start=window_start, kind="refund", delta=1,
        inmail_id=inmail_id, created_at=now))


def restriction_state(conn: Connection, member_id: str,
                      now: datetime) -> tuple[datetime | None, int]:
    """(restricted until, or None if not now; how many restrictions the member ever had)."""
    r = t.restrictions.c
    row = conn.execute(select(
        select(func.max(r.until)).where(r.member_id == member_id, r.lifted_at.is_(None),
                                        r.until > now).scalar_subquery().label("until"),
        select(func.count()).select_from(t.restrictions)
        .where(r.member_id == member_id).scalar_subquery().label("prior"),
    )).one()
    return row.until, int(row.prior or 0)


def count_reports(conn: Connection, sender_id: str, since: datetime) -> int:
    a = t.abuse_reports.c
    return int(conn.execute(select(func.count()).select_from(t.abuse_reports)
                            .where(a.sender_id == sender_id, a.created_at >= since)).scalar()
               or 0)


def _facts_statement() -> Any:
    cn, bl, ab, rs, im = (t.connections.c, t.blocks.c, t.abuse_reports.c, t.restrictions.c,
                          t.inmails.c)
    c1, c2 = t.connections.alias("c1"), t.connections.alias("c2")
    s, r, now = bindparam("s"), bindparam("r"), bindparam("now", type_=t.Time())
    return select(
        exists().where(cn.member_id == s, cn.other_id == r).label("first"),
        exists().where(and_(c1.c.member_id == s, c2.c.member_id == c1.c.other_id,
                            c2.c.other_id == r)).label("second"),
        exists().where(bl.blocker_id == r, bl.blocked_id == s).label("blocked"),
        select(func.count()).select_from(t.abuse_reports)
        .where(ab.sender_id == s, ab.created_at >= bindparam("reports_since", type_=t.Time()))
        .scalar_subquery().label("reports"),
        select(func.max(rs.until)).where(rs.member_id == s, rs.lifted_at.is_(None),
                                         rs.until > now).scalar_subquery().label("until"),
        select(func.count()).select_from(t.restrictions).where(rs.member_id == s)
        .scalar_subquery().label("prior"),
        exists().where(im.sender_id == s, im.recipient_id == r, im.replied_at.is_(None),
                       im.retracted_at.is_(None),
                       im.sent_at > bindparam("pending_since", type_=t.Time()))
        .label("pending"),
    )


# Built once: constructing a statement costs more than running it on SQLite.
_FACTS = _facts_statement()
_RECENT_SENDS = (
    select(t.inmails.c.sent_at)
    .where(t.inmails.c.sender_id == bindparam("s"),
           t.inmails.c.sent_at > bindparam("since", type_=t.Time()))
    .order_by(t.inmails.c.sent_at.desc()).limit(RECENT_SENDS_CAP)
)
_RECENT_BODIES = (
    select(t.inmails.c.recipient_id, t.inmails.c.sent_at, t.inmails.c.fingerprint)
    .where(t.inmails.c.sender_id == bindparam("s"),
           t.inmails.c.sent_at > bindparam("since", type_=t.Time()),
           t.inmails.c.fingerprint.is_not(None))
    .order_by(t.inmails.c.sent_at.desc()).limit(RECENT_BODIES_CAP)
)


def read_facts(
    conn: Connection,
    sender: Member,
    recipient: Member,
    account: Account,
    now: datetime,
    *,
    expire_after: timedelta,
    abuse_window: timedelta,
    bodies_window: timedelta | None,
) -> Facts:
    s = sender.id
    row = conn.execute(_FACTS, {"s": s, "r": recipient.id, "now": now,
                                "reports_since": now - abuse_window,
                                "pending_since": now - expire_after}).one()
    degree = 1 if row.first else 2 if row.second else None
    recent = conn.execute(_RECENT_SENDS,
                          {"s": s, "since": now - timedelta(hours=24)}).scalars().all()
    bodies: tuple[BodyFingerprint, ...] = ()
    if bodies_window is not None:
        rows = conn.execute(_RECENT_BODIES, {"s": s, "since": now - bodies_window}).all()
        bodies = tuple(BodyFingerprint(x.recipient_id, x.sent_at,
                                       tuple(json.loads(x.fingerprint))) for x in rows)
    return Facts(
        sender=sender,
        recipient=recipient,
        now=now,
        connection_degree=degree,
        blocked_by_recipient=bool(row.blocked),
        credits_used=account.used,
        recent_sends=tuple(sorted(recent)),
        abuse_reports=int(row.reports or 0),
        restricted_until=row.until,
        credits_extra=account.extra,
        prior_restrictions=int(row.prior or 0),
        pending_to_recipient=bool(row.pending),
        recent_bodies=bodies,
    )
