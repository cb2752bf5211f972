"""Analytics across senders: ``GET /v1/analytics``, grouped by sender, CRM account or lead,
campaign tag or period, as JSON or CSV. (One sender's analytics: ``/v1/analytics/senders/{id}``
in :mod:`.members`.)"""

from __future__ import annotations

import csv
import io
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from inmail_guard.api.auth import Principal, require_service
from inmail_guard.api.models import ANALYTICS_CSV_EXAMPLE, NO_NUL, AnalyticsOut
from inmail_guard.api.responses import JSONBytesResponse
from inmail_guard.api.routes.common import AUTHED, E503, JSONRoute
from inmail_guard.api.routes.members import (
    MEMBER_ID_CHARS,
    SinceQuery,
    TagQuery,
    UntilQuery,
    check_range,
    service,
)
from inmail_guard.store.analytics import Analytics, Counts

router = APIRouter(route_class=JSONRoute)

COLUMNS = ("sent", "delivered", "opened", "replied", "expired", "retracted", "open_rate",
           "response_rate", "expiry_rate", "retraction_rate")
#: Characters that make a spreadsheet read a cell as a formula (CSV injection): such a cell
#: gets a leading apostrophe, which spreadsheets show as text and do not evaluate.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@router.get(
    "/v1/analytics", tags=["analytics"],
    summary="Counts and open, response, expiry and retraction rates of every sender's InMail,"
            " grouped by sender, CRM account or lead, campaign tag or period; JSON or CSV",
    response_model=AnalyticsOut,
    responses={200: {"content": {"text/csv": {
        "schema": {"type": "string"}, "example": ANALYTICS_CSV_EXAMPLE}},
        "description": "JSON (default) or, with format=csv, CSV: one row per group, then the"
                       " total."},
        **AUTHED, **E503},
)
def analytics(
    request: Request,
    group_by: Annotated[Literal["sender", "account", "lead", "tag", "day", "week", "month"]
                        | None, Query(description="Group by this; none: totals only.")] = None,
    sender_id: Annotated[str | None, Query(
        min_length=1, max_length=MEMBER_ID_CHARS, pattern=NO_NUL,
        description="Only this sender's InMail.")] = None,
    tag: TagQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
    format: Annotated[Literal["json", "csv"], Query(description="json (default) or csv.")]
    = "json",
    _: Principal = Depends(require_service),
) -> Response:
    check_range(since, until)
    result = service(request).analytics(sender_id=sender_id, tag=tag, since=since,
                                        until=until, group_by=group_by)
    if format == "csv":
        return Response(to_csv(result), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": 'attachment; filename="inmail-analytics.csv"'})
    return JSONBytesResponse(result.to_dict())


def to_csv(result: Analytics) -> str:
    """One row per group (``row`` = ``group``), then the total (``row`` = ``total``, no key)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(("row", "key", *COLUMNS))

    def values(counts: Counts) -> list[object]:
        data = counts.to_dict()
        return [data[c] for c in COLUMNS]

    for key, counts in result.groups:
        writer.writerow(("group", _cell(key), *values(counts)))
    writer.writerow(("total", "", *values(result.total)))
    return out.getvalue()


def _cell(value: str | None) -> str:
    if value is None:
        return ""
    return "'" + value if value.startswith(_FORMULA_START) else value
