"""Analytics over stored InMail: sent, delivered, opened, replied, expired, retracted; in
total and grouped by sender, CRM account or lead, campaign tag, or period.

Counted in SQL with portable aggregates (``COUNT(column)``, ``SUM(CASE ...)``); grouping by
period is done in Python on (sent_at, flags) rows so no dialect's date functions are needed.
Expiry is computed from the clock like everywhere else: unopened, unretracted and older than
``expire_after``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, case, func, select

from inmail_guard.engine.types import iso_z
from inmail_guard.store import tables as t

PERIODS = ("day", "week", "month")


def iso(value: datetime | None) -> str | None:
    return iso_z(value if value is None or value.tzinfo is UTC else value.astimezone(UTC))


@dataclass(frozen=True, slots=True)
class Counts:
    """Delivery is synchronous, so ``delivered == sent``; rates are over delivered InMail."""

    sent: int = 0
    delivered: int = 0
    opened: int = 0
    replied: int = 0
    expired: int = 0
    retracted: int = 0

    @property
    def open_rate(self) -> float:
        return self.opened / self.delivered if self.delivered else 0.0

    @property
    def response_rate(self) -> float:
        return self.replied / self.delivered if self.delivered else 0.0

    @property
    def expiry_rate(self) -> float:
        return self.expired / self.delivered if self.delivered else 0.0

    @property
    def retraction_rate(self) -> float:
        return self.retracted / self.delivered if self.delivered else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "delivered": self.delivered, "opened": self.opened,
                "replied": self.replied, "expired": self.expired, "retracted": self.retracted,
                "open_rate": round(self.open_rate, 4),
                "response_rate": round(self.response_rate, 4),
                "expiry_rate": round(self.expiry_rate, 4),
                "retraction_rate": round(self.retraction_rate, 4)}


GroupBy = Literal["sender", "account", "lead", "tag", "day", "week", "month"]
#: Every ``group_by`` value, in the order the docs list them.
GROUP_BY: tuple[str, ...] = ("sender", "account", "lead", "tag", "day", "week", "month")


@dataclass(frozen=True, slots=True)
class Analytics:
    """Counts for the InMail sent in [since, until) matching the filters, and per group."""

    total: Counts
    #: ``(key, counts)``; the key is None for InMail without a CRM account or lead.
    groups: tuple[tuple[str | None, Counts], ...] = ()
    group_by: GroupBy | None = None
    since: datetime | None = None
    until: datetime | None = None
    sender_id: str | None = None
    tag: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "filters": {"sender_id": self.sender_id, "tag": self.tag,
                        "since": iso(self.since), "until": iso(self.until)},
            "total": self.total.to_dict(),
            "group_by": self.group_by,
            "groups": [{"key": key, **counts.to_dict()} for key, counts in self.groups],
        }


__all__ = ["GROUP_BY", "PERIODS", "Analytics", "Counts", "GroupBy", "analytics"]



def _filters(sender_id: str | None, tag: str | None, since: datetime | None,
             until: datetime | None) -> list[Any]:
    im = t.inmails.c
    where: list[Any] = []
    if sender_id is not None:
        where.append(im.sender_id == sender_id)
    if tag is not None:
        where.append(im.id.in_(select(t.inmail_tags.c.inmail_id)
                               .where(t.inmail_tags.c.tag == tag)))
    if since is not None:
        where.append(im.sent_at >= since)
    if until is not None:
        where.append(im.sent_at < until)
    return where


def _aggregates(cutoff: datetime) -> list[Any]:
    im = t.inmails.c
    # Counted as its status says: reported and retracted outrank expired.
    expired = and_(im.opened_at.is_(None), im.retracted_at.is_(None), im.reported_at.is_(None),
                   im.sent_at <= cutoff)
    return [
        func.count().label("sent"),
        func.count(im.opened_at).label("opened"),
        func.count(im.replied_at).label("replied"),
        func.coalesce(func.sum(case((expired, 1), else_=0)), 0).label("expired"),
        func.count(im.retracted_at).label("retracted"),
    ]


def _counts(row: Any) -> Counts:
    sent = int(row.sent or 0)
    return Counts(sent=sent, delivered=sent, opened=int(row.opened or 0),
                  replied=int(row.replied or 0), expired=int(row.expired or 0),
                  retracted=int(row.retracted or 0))


def _period_key(when: datetime, period: str, tz: ZoneInfo) -> str:
    local = when.astimezone(tz)
    if period == "day":
        return local.date().isoformat()
    if period == "week":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{local.year}-{local.month:02d}"


def analytics(
    conn: Connection,
    now: datetime,
    expire_after: timedelta,
    *,
    sender_id: str | None = None,
    tag: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    group_by: GroupBy | None = None,
    timezone: str = "UTC",
) -> Analytics:
    im = t.inmails.c
    cutoff = now - expire_after
    where = _filters(sender_id, tag, since, until)
    total = _counts(conn.execute(select(*_aggregates(cutoff)).where(*where)).one())
    groups: list[tuple[str | None, Counts]] = []
    column = {"sender": im.sender_id, "account": im.account_id, "lead": im.lead_id}.get(
        group_by or "")
    if column is not None:
        # NULL (no CRM account or lead) sorts apart on each dialect; put it last everywhere.
        rows = conn.execute(select(column.label("key"), *_aggregates(cutoff))
                            .where(*where).group_by(column)
                            .order_by(column.is_(None), column)).all()
        groups = [(r.key, _counts(r)) for r in rows]
    elif group_by == "tag":
        tg = t.inmail_tags.c
        rows = conn.execute(
            select(tg.tag.label("key"), *_aggregates(cutoff))
            .select_from(t.inmails.join(t.inmail_tags, tg.inmail_id == im.id))
            .where(*where).group_by(tg.tag).order_by(tg.tag)).all()
        groups = [(r.key, _counts(r)) for r in rows]
    elif group_by in PERIODS:
        tz = ZoneInfo(timezone)
        acc: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
        rows = conn.execute(select(im.sent_at, im.opened_at, im.replied_at, im.retracted_at,
                                   im.reported_at).where(*where)).all()
        for r in rows:
            a = acc[_period_key(r.sent_at, group_by, tz)]
            a[0] += 1
            a[1] += r.opened_at is not None
            a[2] += r.replied_at is not None
            # as _aggregates counts it: reported and retracted outrank expired
            a[3] += (r.opened_at is None and r.retracted_at is None and r.reported_at is None
                     and r.sent_at <= cutoff)
            a[4] += r.retracted_at is not None
        groups = [(key, Counts(v[0], v[0], v[1], v[2], v[3], v[4]))
                  for key, v in sorted(acc.items())]
    elif group_by is not None:
        raise ValueError(f"expected group_by among sender, account, lead, tag, day, week,"
                         f" month, found {group_by!r}")
    return Analytics(total=total, groups=tuple(groups), group_by=group_by, since=since,
                     until=until, sender_id=sender_id, tag=tag)
