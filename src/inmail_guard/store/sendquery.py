"""PostgreSQL: a send's whole read as one statement returning one row (``store/sendread.py``
runs it).

The row holds both members, the facts, the sender's account for the window, the idempotency
key's use, and the recent sends (and bodies) as arrays. Its shape is what the server spends
its CPU on, every send: each plan node costs executor set-up and tear-down whatever it
finds (a third of the statement's server CPU went to ``ExecutorStart`` alone, measured with
``perf`` on the benchmark's backend), so the statement keeps its nodes few:

* the sender's restrictions are read by **one** aggregate over its rows (the last lift, the
  active restriction's end, how many it ever had), where four subqueries each scanned them;
* a send without an idempotency key (most) gets a statement without the key's join: its
  three columns are NULLs;
* the recent send times come as ``ARRAY(subquery)``: no aggregate node nor sort of its own,
  newest first as the index gives them; the caller puts them oldest first (``sorted`` on a
  reversed run is linear).

``tests/store/test_send_read.py`` compares what this read finds with the locked read's on
both databases.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, null, or_, select, true
from sqlalchemy.dialects.postgresql import aggregate_order_by

from inmail_guard.engine.history import stored_fingerprint
from inmail_guard.engine.types import BodyFingerprint
from inmail_guard.store import tables as t
from inmail_guard.store.facts import (
    _FACTS,
    _HEX_MARK,
    _MEMBER_COLUMNS,
    READ_ACCOUNT,
    RECENT_BODIES_CAP,
    RECENT_SENDS_CAP,
    decode_fingerprint,
)

_T = t.Time()

#: Where the parts of a :func:`send_read_query` row start: the members-and-facts columns
#: (``facts._SEND_FACTS``'s, up to :data:`READ_ACCOUNT`), the account's ``used, rollover,
#: refunds``, the idempotency key's ``request_hash, decision, inmail_id`` (NULLs where there
#: is none), the recent send times (an array, newest first) and, with bodies, their
#: ``sent_at``, ``recipient_id`` and ``fingerprint`` arrays (newest first).
READ_KEY = READ_ACCOUNT + 3
READ_RECENT = READ_KEY + 3
READ_BODIES = READ_RECENT + 1


def _send_read_statement(bodies: bool, key: bool) -> Any:
    """The read of a send with (``key``) or without an idempotency key, with or without the
    recent bodies; no row if either member is unknown."""
    im, rs, ab = t.inmails.c, t.restrictions.c, t.abuse_reports.c
    sm, rm = t.members.alias("s"), t.members.alias("r")
    acct, used_key = t.credit_accounts.alias("acct"), t.decision_log.alias("used_key")
    sender = bindparam("s")
    # One scan of the sender's restrictions for the three facts drawn from them.
    restr = select(
        func.max(rs.lifted_at).label("last_lift"),
        func.max(rs.until).filter(and_(rs.lifted_at.is_(None),
                                       rs.until > bindparam("now", type_=_T))).label("until"),
        func.count().label("prior"),
    ).where(rs.member_id == sender).lateral("restr")
    # Reports since the window and after the last lifted restriction (facts._reports_counted).
    reports = (select(func.count()).select_from(t.abuse_reports)
               .where(ab.sender_id == sender,
                      ab.created_at >= bindparam("reports_since", type_=_T),
                      or_(restr.c.last_lift.is_(None), ab.created_at > restr.c.last_lift))
               .scalar_subquery())
    first, shared, blocked, _, pending, _, _, conversed = _FACTS.selected_columns
    facts = [first, shared, blocked, reports.label("reports"), pending,
             restr.c.until, restr.c.prior, conversed]
    sends = (select(im.sent_at)
             .where(im.sender_id == sender, im.sent_at > bindparam("since", type_=_T))
             .order_by(im.sent_at.desc()).limit(RECENT_SENDS_CAP))
    # ARRAY(subquery): in the subquery's order, and no aggregate node to set up.
    recent = func.array(sends.scalar_subquery()).label("recent_sends")
    source = (sm.join(rm, rm.c.id == bindparam("r"))
              .outerjoin(acct, and_(acct.c.member_id == sm.c.id,
                                    acct.c.window_start == bindparam("w", type_=_T)))
              .join(restr, true()))
    if key:
        source = source.outerjoin(used_key, and_(used_key.c.sender_id == sm.c.id,
                                                 used_key.c.idempotency_key == bindparam("k")))
        key_columns = [used_key.c.request_hash, used_key.c.decision, used_key.c.inmail_id]
    else:
        key_columns = [null().label("request_hash"), null().label("decision"),
                       null().label("inmail_id")]
    columns = [*(sm.c[c.name] for c in _MEMBER_COLUMNS), *(rm.c[c.name] for c in _MEMBER_COLUMNS),
               *facts, acct.c.used, acct.c.rollover, acct.c.refunds, *key_columns, recent]
    if bodies:
        b = (select(im.id, im.sent_at, im.recipient_id, im.fingerprint)
             .where(im.sender_id == sender, im.sent_at > bindparam("bodies_since", type_=_T),
                    im.fingerprint.is_not(None))
             .order_by(im.sent_at.desc()).limit(RECENT_BODIES_CAP).subquery("bodies"))
        order = (b.c.sent_at.desc(), b.c.id)  # the same order in each array: id breaks ties
        arrays = select(*(func.array_agg(aggregate_order_by(col, *order)).label(f"body_{name}")
                          for name, col in (("times", b.c.sent_at), ("to", b.c.recipient_id),
                                            ("fingerprints", b.c.fingerprint)))
                        ).subquery("recent_bodies")
        source = source.join(arrays, true())
        columns += list(arrays.c)
    return select(*columns).select_from(source).where(sm.c.id == sender)


#: By (bodies, key).
_SEND_READS = {(bodies, key): _send_read_statement(bodies, key)
               for bodies in (False, True) for key in (False, True)}


def send_read_query(
    sender_id: str,
    recipient_id: str,
    window_start: datetime,
    now: datetime,
    *,
    idempotency_key: str | None,
    expire_after: timedelta,
    abuse_window: timedelta,
    bodies_window: timedelta | None,
) -> tuple[Any, dict[str, Any]]:
    """The one statement of a send's read and its parameters, with the same windows as
    ``facts.send_facts_queries``; the row's parts start at :data:`READ_ACCOUNT`,
    :data:`READ_KEY`, :data:`READ_RECENT` and :data:`READ_BODIES`."""
    params = {"s": sender_id, "r": recipient_id, "w": window_start,
              "reports_since": now - abuse_window, "pending_since": now - expire_after,
              "now": now, "since": now - timedelta(hours=24)}
    if idempotency_key is not None:
        params["k"] = idempotency_key
    if bodies_window is not None:
        params["bodies_since"] = now - bodies_window
    return _SEND_READS[bodies_window is not None, idempotency_key is not None], params


def bodies_from_arrays(times: list[datetime] | None, recipients: list[str] | None,
                       fingerprints: list[str] | None,
                       fingerprint_version: int) -> tuple[BodyFingerprint, ...]:
    """The recent bodies (newest first) from :func:`send_read_query`'s arrays; fingerprints
    of another version are left out, as ``facts.send_facts_from_rows`` does."""
    if not times:
        return ()
    prefix = f"{fingerprint_version}{_HEX_MARK}:"
    skip = len(prefix)
    found = []
    for sent_at, to, text in zip(times, recipients or (), fingerprints or (), strict=True):
        # The compact form is handed on as stored (engine.history.stored_fingerprint; a
        # length that is not 8 digits a value raises ValueError, as decoding it did).
        if text.startswith(prefix):
            found.append(stored_fingerprint(to, sent_at, text[skip:]))
            continue
        minhash = decode_fingerprint(text, fingerprint_version)
        if minhash is not None:
            found.append(BodyFingerprint(to, sent_at, minhash))
    return tuple(found)


__all__ = ["READ_ACCOUNT", "READ_BODIES", "READ_KEY", "READ_RECENT", "bodies_from_arrays",
           "send_read_query"]
