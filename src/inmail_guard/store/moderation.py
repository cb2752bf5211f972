"""Read-only queries for moderators (the console's Restrictions and reports page): who is
restricted now, the abuse reports against a sender, and the restriction history.

Plain SQLAlchemy Core over a connection from ``Store.read()``; nothing here writes. Lifting
stays with ``InMailService.lift_restriction``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from inmail_guard.store import tables as t


def _restriction(row: Any) -> dict[str, Any]:
    return {"id": row.id, "member_id": row.member_id, "starts_at": row.starts_at,
            "until": row.until, "cause": row.cause, "decision_id": row.decision_id,
            "lifted_at": row.lifted_at, "lifted_by": row.lifted_by, "note": row.note}


def active_restrictions(conn: Any, now: datetime, limit: int = 200) -> list[dict[str, Any]]:
    """Restrictions in force at ``now``, the one ending last first, with the number of abuse
    reports against each member."""
    r = t.restrictions.c
    a = t.abuse_reports.c
    reports = (select(func.count()).select_from(t.abuse_reports)
               .where(a.sender_id == r.member_id).scalar_subquery())
    rows = conn.execute(
        select(t.restrictions, reports.label("reports"))
        .where(r.lifted_at.is_(None), r.until > now)
        .order_by(r.until.desc(), r.member_id).limit(limit)).all()
    return [{**_restriction(row), "reports": row.reports} for row in rows]


def restriction_history(conn: Any, member_id: str | None = None,
                        limit: int = 100) -> list[dict[str, Any]]:
    """Every restriction (lifted, ended or in force), newest first; one member's if given."""
    r = t.restrictions.c
    query = select(t.restrictions).order_by(r.starts_at.desc(), r.id).limit(limit)
    if member_id is not None:
        query = query.where(r.member_id == member_id)
    return [_restriction(row) for row in conn.execute(query).all()]


def reports_against(conn: Any, sender_id: str, limit: int = 100) -> list[dict[str, Any]]:
    """The abuse reports against ``sender_id``, newest first, with when the InMail was sent
    (never its subject or body)."""
    a = t.abuse_reports.c
    i = t.inmails.c
    rows = conn.execute(
        select(a.id, a.inmail_id, a.reporter_id, a.reason, a.created_at, i.sent_at)
        .select_from(t.abuse_reports.outerjoin(t.inmails, i.id == a.inmail_id))
        .where(a.sender_id == sender_id).order_by(a.created_at.desc(), a.id).limit(limit)).all()
    return [{"id": row.id, "inmail_id": row.inmail_id, "reporter_id": row.reporter_id,
             "reason": row.reason, "created_at": row.created_at, "sent_at": row.sent_at}
            for row in rows]
