"""Analytics over stored InMail (counted by :mod:`inmail_guard.store.analytics`): the filters
checked, expiry and the period's time zone taken from the active policy."""

from __future__ import annotations

from datetime import datetime

from inmail_guard.service.context import ServiceContext
from inmail_guard.service.errors import ServiceError
from inmail_guard.store import analytics as analytics_store
from inmail_guard.store.analytics import GROUP_BY, Analytics, GroupBy


def analytics(ctx: ServiceContext, *, sender_id: str | None = None, tag: str | None = None,
              since: datetime | None = None, until: datetime | None = None,
              group_by: GroupBy | None = None) -> Analytics:
    if group_by is not None and group_by not in GROUP_BY:
        raise ServiceError("invalid_request", f"group_by must be one of"
                           f" {', '.join(GROUP_BY)}; found {group_by!r}", field="group_by")
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise ServiceError("invalid_request", f"{name} must carry a time zone", field=name)
    terms = ctx.active.terms
    with ctx.store.read() as conn:
        return analytics_store.analytics(
            conn, ctx.now(), terms.expire_after, sender_id=sender_id, tag=tag, since=since,
            until=until, group_by=group_by, timezone=terms.timezone)


__all__ = ["analytics"]
