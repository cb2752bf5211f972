"""Reading what the engine needs to know (``Facts``) and the credit account it spends from.

Everything here runs inside the caller's transaction, through the :class:`~.db.Db` interface
(SQLAlchemy or the raw driver path); statements are built once, at import.
:func:`lock_account` is the per-sender serialisation point on PostgreSQL (see
``store/__init__.py``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any

from sqlalchemy import (
    String,
    and_,
    bindparam,
    exists,
    func,
    literal_column,
    null,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from inmail_guard.engine.history import stored_fingerprint
from inmail_guard.engine.types import BodyFingerprint, Facts, Member
from inmail_guard.store import tables as t
from inmail_guard.store.db import Db, _sqlite_utc, _time, insert_of

#: At most this many recent send times go into Facts.recent_sends (volume detectors need
#: counts up to their per-day limit, not a whole history).
RECENT_SENDS_CAP = 1000
RECENT_BODIES_CAP = 200

_T = t.Time()
m_, ca, cl = t.members.c, t.credit_accounts.c, t.credit_ledger.c


@dataclass(frozen=True, slots=True)
class StoredMember:
    member: Member
    created_at: datetime

    @property
    def id(self) -> str:
        return self.member.id

    @property
    def plan(self) -> str:
        return self.member.plan


_MEMBER_COLUMNS = (m_.id, m_.plan, m_.profile_public, m_.accepts_inmail, m_.is_employee,
                   m_.name, m_.photo_url, m_.created_at, m_.headline, m_.company, m_.role)
_ONE_MEMBER = select(*_MEMBER_COLUMNS).where(m_.id == bindparam("a"))
_TWO_MEMBERS = select(*_MEMBER_COLUMNS).where((m_.id == bindparam("a")) |
                                              (m_.id == bindparam("b")))


def _stored(row: Any) -> StoredMember:
    return StoredMember(Member(id=row[0], plan=row[1], profile_public=bool(row[2]),
                               accepts_inmail=bool(row[3]), is_employee=bool(row[4]),
                               name=row[5], photo_url=row[6], headline=row[8],
                               company=row[9], role=row[10]), row[7])


def load_member(db: Db, member_id: str) -> StoredMember | None:
    row = db.first(_ONE_MEMBER, {"a": member_id})
    return None if row is None else _stored(row)


def load_members(db: Db, a: str, b: str) -> dict[str, StoredMember]:
    return {row[0]: _stored(row) for row in db.all(_TWO_MEMBERS, {"a": a, "b": b})}


def insert_ignore_statement(table: Any, dialect: str) -> Any:
    """INSERT that does nothing if the primary key exists (per-dialect syntax)."""
    ins = pg_insert if dialect == "postgresql" else sqlite_insert
    return ins(table).on_conflict_do_nothing()


_INSERT_IGNORE: dict[tuple[str, str], Any] = {}


def insert_ignore(db: Db, table: Any, values: dict[str, Any]) -> int:
    """Insert ``values`` unless the primary key exists; returns rows inserted."""
    key = (table.name, db.dialect)
    stmt = _INSERT_IGNORE.get(key)
    if stmt is None:
        stmt = _INSERT_IGNORE[key] = insert_ignore_statement(table, db.dialect)
    return db.run(stmt, values)


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


_ACCOUNT = select(ca.used, ca.rollover, ca.refunds).where(
    ca.member_id == bindparam("m"), ca.window_start == bindparam("w", type_=_T))
_ACCOUNT_FOR_UPDATE = _ACCOUNT.with_for_update()
_SPEND = (t.credit_accounts.update()
          .where(ca.member_id == bindparam("m"), ca.window_start == bindparam("w", type_=_T),
                 ca.used < bindparam("limit"))
          .values(used=ca.used + 1, updated_at=bindparam("now", type_=_T)))
_REFUND = (t.credit_accounts.update()
           .where(ca.member_id == bindparam("m"), ca.window_start == bindparam("w", type_=_T))
           .values(refunds=ca.refunds + 1, updated_at=bindparam("now", type_=_T)))
_LEDGER = insert_of(t.credit_ledger, skip=("id",))


def _ledger(db: Db, member_id: str, window_start: datetime, kind: str, delta: int,
            inmail_id: str | None, now: datetime) -> None:
    db.run(_LEDGER, {"member_id": member_id, "window_start": window_start, "kind": kind,
                     "delta": delta, "inmail_id": inmail_id, "created_at": now})


def _new_account_rollover(db: Db, member: StoredMember, window_start: datetime,
                          previous_window_start: datetime, plan_limit: int,
                          rollover_cap: int) -> int:
    """What a new window's account starts with: the previous window's unused credits, at most
    ``rollover_cap``; a member created during this window rolls nothing over."""
    if rollover_cap <= 0 or member.created_at >= window_start:
        return 0
    prev = db.first(_ACCOUNT, {"m": member.id, "w": previous_window_start})
    unused = plan_limit if prev is None else plan_limit + prev[1] + prev[2] - prev[0]
    return min(rollover_cap, max(unused, 0))


def peek_account(db: Db, member: StoredMember, window_start: datetime,
                 previous_window_start: datetime, *, plan_limit: int,
                 rollover_cap: int) -> Account:
    """The account as :func:`lock_account` would find or create it, without writing."""
    row = db.first(_ACCOUNT, {"m": member.id, "w": window_start})
    if row is None:
        rollover = _new_account_rollover(db, member, window_start, previous_window_start,
                                         plan_limit, rollover_cap)
        return Account(member.id, window_start, 0, rollover, 0)
    return Account(member.id, window_start, row[0], row[1], row[2])


def find_account(db: Db, member_id: str, window_start: datetime) -> Account | None:
    """The member's credit account for this window if it exists, on PostgreSQL locked
    (``SELECT ... FOR UPDATE``) until the transaction ends: the per-sender lock."""
    query = _ACCOUNT_FOR_UPDATE if db.dialect == "postgresql" else _ACCOUNT
    row = db.first(query, {"m": member_id, "w": window_start})
    return None if row is None else Account(member_id, window_start, row[0], row[1], row[2])


def open_account(db: Db, member: StoredMember, window_start: datetime,
                 previous_window_start: datetime, *, plan_limit: int, rollover_cap: int,
                 now: datetime) -> Account:
    """Create the account :func:`find_account` did not find (another transaction may just
    have: nothing is overwritten), then find and lock it."""
    rollover = _new_account_rollover(db, member, window_start, previous_window_start,
                                     plan_limit, rollover_cap)
    inserted = insert_ignore(db, t.credit_accounts, {
        "member_id": member.id, "window_start": window_start, "used": 0,
        "rollover": rollover, "refunds": 0, "updated_at": now})
    if inserted and rollover:
        _ledger(db, member.id, window_start, "rollover", rollover, None, now)
    account = find_account(db, member.id, window_start)
    assert account is not None
    return account


def lock_account(db: Db, member: StoredMember, window_start: datetime,
                 previous_window_start: datetime, *, plan_limit: int, rollover_cap: int,
                 now: datetime) -> Account:
    """The member's credit account for this window, created if needed, and on PostgreSQL
    locked (``SELECT ... FOR UPDATE``) until the transaction ends: the per-sender lock."""
    account = find_account(db, member.id, window_start)
    if account is None:
        account = open_account(db, member, window_start, previous_window_start,
                               plan_limit=plan_limit, rollover_cap=rollover_cap, now=now)
    return account


def spend_credit(db: Db, account: Account, limit: int, inmail_id: str, now: datetime) -> bool:
    """Spend one credit if one is left (``used < limit``, limit including extras)."""
    done = db.run(_SPEND, {"m": account.member_id, "w": account.window_start, "limit": limit,
                           "now": now})
    if done:
        _ledger(db, account.member_id, account.window_start, "spend", -1, inmail_id, now)
    return bool(done)


def refund_credit(db: Db, member: StoredMember, window_start: datetime,
                  previous_window_start: datetime, inmail_id: str, now: datetime, *,
                  plan_limit: int, rollover_cap: int) -> None:
    lock_account(db, member, window_start, previous_window_start, plan_limit=plan_limit,
                 rollover_cap=rollover_cap, now=now)
    db.run(_REFUND, {"m": member.id, "w": window_start, "now": now})
    _ledger(db, member.id, window_start, "refund", 1, inmail_id, now)


_rs, _ab = t.restrictions.c, t.abuse_reports.c
_RESTRICTION_STATE = select(
    select(func.max(_rs.until)).where(_rs.member_id == bindparam("s"), _rs.lifted_at.is_(None),
                                      _rs.until > bindparam("now", type_=_T))
    .scalar_subquery().label("until"),
    select(func.count()).select_from(t.restrictions).where(_rs.member_id == bindparam("s"))
    .scalar_subquery().label("prior"),
)


def _reports_counted(sender: Any, since: Any) -> Any:
    """Reports against ``sender`` since ``since`` and after the last lifted restriction: an
    operator who lifts a restriction has dealt with the reports that led to it (they stay
    stored, they just stop counting)."""
    last_lift = (select(func.max(_rs.lifted_at)).where(_rs.member_id == sender)
                 .scalar_subquery())
    return (select(func.count()).select_from(t.abuse_reports)
            .where(_ab.sender_id == sender, _ab.created_at >= since,
                   or_(last_lift.is_(None), _ab.created_at > last_lift)))


_COUNT_REPORTS = _reports_counted(bindparam("s"), bindparam("since", type_=_T))


def restriction_state(db: Db, member_id: str, now: datetime) -> tuple[datetime | None, int]:
    """(restricted until, or None if not now; how many restrictions the member ever had)."""
    row = db.first(_RESTRICTION_STATE, {"s": member_id, "now": now})
    assert row is not None
    until = row[0]
    if isinstance(until, str):  # in case the raw path does not know an aggregate's type
        until = _time(until)
    return until, int(row[1] or 0)


def count_reports(db: Db, sender_id: str, since: datetime) -> int:
    row = db.first(_COUNT_REPORTS, {"s": sender_id, "since": since})
    return int(row[0] or 0) if row else 0


def _facts_statement() -> Any:
    cn, bl, im, cv = t.connections.c, t.blocks.c, t.inmails.c, t.conversations.c
    c1, c2 = t.connections.alias("c1"), t.connections.alias("c2")
    s, r = bindparam("s"), bindparam("r")
    return select(
        exists().where(cn.member_id == s, cn.other_id == r).label("first"),
        # Shared connections (connections are stored both ways): 2nd degree when any.
        select(func.count()).where(c1.c.member_id == s, c2.c.member_id == c1.c.other_id,
                                   c2.c.other_id == r).scalar_subquery().label("shared"),
        exists().where(bl.blocker_id == r, bl.blocked_id == s).label("blocked"),
        _reports_counted(s, bindparam("reports_since", type_=_T)).scalar_subquery()
        .label("reports"),
        # Pending: not replied, not retracted, not expired (an opened InMail never expires).
        exists().where(im.sender_id == s, im.recipient_id == r, im.replied_at.is_(None),
                       im.retracted_at.is_(None),
                       or_(im.opened_at.is_not(None),
                           im.sent_at > bindparam("pending_since", type_=_T))).label("pending"),
        *_RESTRICTION_STATE.selected_columns,
        exists().where(or_(and_(cv.sender_id == s, cv.recipient_id == r),
                           and_(cv.sender_id == r, cv.recipient_id == s)))
        .label("conversed"),
    )


_FACTS = _facts_statement()


def _send_facts_statement() -> Any:
    """Both members' rows and the facts, in one row; no row if either member is unknown."""
    s, r = t.members.alias("s"), t.members.alias("r")
    return (select(*(s.c[c.name] for c in _MEMBER_COLUMNS),
                   *(r.c[c.name] for c in _MEMBER_COLUMNS), *_FACTS.selected_columns)
            .where(s.c.id == bindparam("s"), r.c.id == bindparam("r")))


_SEND_FACTS = _send_facts_statement()
_N = len(_MEMBER_COLUMNS)


def _recent_statements() -> tuple[Any, Any]:
    """The sender's recent send times, and (one round trip) those plus the recent bodies."""
    im = t.inmails.c
    sends = (select(im.sent_at)
             .where(im.sender_id == bindparam("s"), im.sent_at > bindparam("since", type_=_T))
             .order_by(im.sent_at.desc()).limit(RECENT_SENDS_CAP))
    bodies = (select(im.sent_at, im.recipient_id, im.fingerprint)
              .where(im.sender_id == bindparam("s"),
                     im.sent_at > bindparam("bodies_since", type_=_T),
                     im.fingerprint.is_not(None))
              .order_by(im.sent_at.desc()).limit(RECENT_BODIES_CAP))
    a, b = sends.subquery("recent_sends"), bodies.subquery("recent_bodies")
    # Each part keeps its own order and cap; ``kind`` tells the rows apart (0 send, 1 body).
    # The times come back as the driver gives them (SQLite's text): send_facts_from_rows
    # converts each distinct one once, and a body's time is usually one of the send times.
    both = union_all(
        select(literal_column("0").label("kind"), type_coerce(a.c.sent_at, String)
               .label("sent_at"), null().label("recipient_id"), null().label("fingerprint")),
        select(literal_column("1"), b.c.sent_at, b.c.recipient_id, b.c.fingerprint),
    )
    return sends, both


_RECENT_SENDS, _RECENT_SENDS_AND_BODIES = _recent_statements()

#: Where a members-and-facts row (:data:`_SEND_FACTS`'s columns) ends: PostgreSQL's one-row
#: read (``store/sendquery.py``) starts its own columns there.
READ_ACCOUNT = len(_SEND_FACTS.selected_columns)

# "<version>x:" then each MinHash value as 4 big-endian bytes, in hex (the decimal form before
# it cost ~5x more to parse). A send's read does not decode it at all: the text after the colon
# is handed to the engine as it is (engine.history.stored_fingerprint), and the bulk detector
# compares it as text; only a reader of BodyFingerprint.minhash decodes.
_HEX_MARK = "x"


def encode_fingerprint(version: int, values: tuple[int, ...]) -> str:
    """Stored as ``"<version>x:<hex>"`` (each value an unsigned 32-bit big-endian int): a
    fingerprint of another version (the bulk detector changed how it hashes) is never compared
    with today's. Rows written by earlier releases hold ``"<version>:<n>,<n>,..."``; both
    forms are read."""
    return f"{version}{_HEX_MARK}:" + struct.pack(f">{len(values)}I", *values).hex()


def decode_fingerprint(text: str, version: int) -> tuple[int, ...] | None:
    head, _, body = text.partition(":")
    if head == f"{version}{_HEX_MARK}":
        return struct.unpack(f">{len(body) // 8}I", bytes.fromhex(body))
    if head != str(version):
        return None
    return tuple(map(int, body.split(","))) if body else ()


_sent_at = attrgetter("sent_at")
#: A time as any driver returns it (SQLite's text; psycopg's datetime), as an aware UTC datetime.
_read_time = _sqlite_utc


def send_facts_queries(
    sender_id: str,
    recipient_id: str,
    now: datetime,
    *,
    expire_after: timedelta,
    abuse_window: timedelta,
    bodies_window: timedelta | None,
) -> list[tuple[Any, dict[str, Any]]]:
    """The two statements of :func:`read_send_facts` (members and facts; recent sends and
    bodies) with their parameters: independent of each other, so a caller may send both in
    one round trip (``store/sendpath.py``) and hand the rows to :func:`send_facts_from_rows`."""
    s = sender_id
    facts = (_SEND_FACTS, {"s": s, "r": recipient_id, "reports_since": now - abuse_window,
                           "pending_since": now - expire_after, "now": now})
    sends_since = now - timedelta(hours=24)
    if bodies_window is None:
        return [facts, (_RECENT_SENDS, {"s": s, "since": sends_since})]
    return [facts, (_RECENT_SENDS_AND_BODIES, {"s": s, "since": sends_since,
                                               "bodies_since": now - bodies_window})]


def send_facts_from_rows(
    row: Any,
    recent_rows: Any,
    account: Account,
    now: datetime,
    *,
    bodies_window: timedelta | None,
    fingerprint_version: int = 1,
) -> tuple[StoredMember, StoredMember, Facts] | None:
    """Sender, recipient and Facts from the rows of :func:`send_facts_queries`; None if either
    member is unknown (``row`` None)."""
    if row is None:
        return None
    bodies: tuple[BodyFingerprint, ...] = ()
    if bodies_window is None:
        recent = [r[0] for r in recent_rows]
    else:
        recent, found = [], []
        prefix = f"{fingerprint_version}{_HEX_MARK}:"
        skip = len(prefix)
        times: dict[Any, datetime] = {}
        for kind, at, to, text in recent_rows:
            sent_at = times.get(at)
            if sent_at is None:
                sent_at = times[at] = _read_time(at)
            if not kind:
                recent.append(sent_at)
            elif text.startswith(prefix):  # as in bodies_from_arrays
                found.append(stored_fingerprint(to, sent_at, text[skip:]))
            else:  # another version (left out), or the decimal form of earlier releases
                minhash = decode_fingerprint(text, fingerprint_version)
                if minhash is not None:
                    found.append(BodyFingerprint(to, sent_at, minhash))
        found.sort(key=_sent_at, reverse=True)  # newest first, as each part was selected
        bodies = tuple(found)
    return send_facts(row, tuple(sorted(recent)), bodies, account, now)


def send_facts(row: Any, recent_sends: tuple[datetime, ...],
               bodies: tuple[BodyFingerprint, ...], account: Account,
               now: datetime) -> tuple[StoredMember, StoredMember, Facts]:
    """Sender, recipient and Facts from the members-and-facts row (:data:`_SEND_FACTS`'s
    columns), the recent send times (oldest first) and the recent bodies (newest first)."""
    sender, recipient = _stored(row[:_N]), _stored(row[_N:2 * _N])
    (first, shared, blocked, reports, pending, restricted_until, prior,
     conversed) = row[2 * _N:READ_ACCOUNT]
    if isinstance(restricted_until, str):
        restricted_until = _time(restricted_until)
    return sender, recipient, Facts(
        sender=sender.member,
        recipient=recipient.member,
        now=now,
        connection_degree=1 if first else 2 if shared else None,
        blocked_by_recipient=bool(blocked),
        credits_used=account.used,
        recent_sends=recent_sends,
        abuse_reports=int(reports or 0),
        restricted_until=restricted_until,
        credits_extra=account.extra,
        prior_restrictions=int(prior or 0),
        pending_to_recipient=bool(pending),
        recent_bodies=bodies,
        shared_connections=int(shared or 0),
        prior_conversation=bool(conversed),
    )


def read_send_facts(
    db: Db,
    sender_id: str,
    recipient_id: str,
    account: Account,
    now: datetime,
    *,
    expire_after: timedelta,
    abuse_window: timedelta,
    bodies_window: timedelta | None,
    fingerprint_version: int = 1,
) -> tuple[StoredMember, StoredMember, Facts] | None:
    """Sender, recipient and the facts of a send from them, in two statements (members and
    facts, then recent sends and bodies); None if either member is unknown."""
    (facts, fp), (recent, rp) = send_facts_queries(
        sender_id, recipient_id, now, expire_after=expire_after, abuse_window=abuse_window,
        bodies_window=bodies_window)
    row = db.first(facts, fp)
    if row is None:
        return None
    return send_facts_from_rows(row, db.all(recent, rp), account, now,
                                bodies_window=bodies_window,
                                fingerprint_version=fingerprint_version)
