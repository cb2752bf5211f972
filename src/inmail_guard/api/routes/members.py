"""Members: attributes, connections and blocks (admin data the engine's facts come from),
inbox, sent, credits, restrictions; and sender analytics."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError
from starlette.responses import Response

from inmail_guard.api.auth import Principal, require_admin, require_service
from inmail_guard.api.errors import ApiError
from inmail_guard.api.logs import access_log
from inmail_guard.api.models import (
    NO_NUL,
    AnalyticsOut,
    ConversationsOut,
    CreditsOut,
    InboxOut,
    LiftOut,
    LiftRequest,
    MemberIn,
    MemberOut,
    MemberPatch,
    RestrictionStateOut,
    SentOut,
)
from inmail_guard.api.responses import JSONBytesResponse
from inmail_guard.api.routes.common import (
    AUTHED,
    E404,
    E503,
    WITH_BODY,
    YEAR_IN_RANGE,
    JSONRoute,
    check_date_range,
)
from inmail_guard.engine.types import Member, WireDatetime
from inmail_guard.memberids import ID_FORBIDDEN_CHARS
from inmail_guard.service.send import SEND_TEXT_LIMITS

MEMBER_ID_CHARS = SEND_TEXT_LIMITS["id"]

router = APIRouter(route_class=JSONRoute)

# No member id is longer than the store's ids or holds a NUL character: 422 on every route
# (a GET used to say 404, a DELETE 204, a PUT 422 from the service).
MemberId = Annotated[str, Path(min_length=1, max_length=MEMBER_ID_CHARS, pattern=NO_NUL,
                               description="A member id.")]
#: A member id as ``PUT`` creates one: no control or invisible character either (the service
#: refuses one with a message naming it; the document says so for clients and schemathesis).
NewMemberId = Annotated[str, Path(
    min_length=1, max_length=MEMBER_ID_CHARS, pattern=NO_NUL,
    json_schema_extra={"pattern": f"^[^{ID_FORBIDDEN_CHARS}]*$"},
    description="A member id: no control character, and none of the invisible ones (zero-width"
                " characters, bidi marks, overrides and isolates, ...).")]
OtherId = Annotated[str, Path(
    min_length=1, max_length=MEMBER_ID_CHARS, pattern=NO_NUL,
    description="The other member; not `member_id` itself (422).")]


def _digits(value: Any) -> Any:
    """A query's integer as written: digits only. pydantic reads ``5.0``, ``+5``, `` 5`` and
    ``5_0`` (as 50) too, a silent coercion of what was sent."""
    if isinstance(value, str) and not (value.isascii() and value.isdigit()):
        raise PydanticCustomError("int_digits", "Input should be a whole number written in"
                                  " the digits 0-9, such as 50")
    return value


# Query first: after a validator, FastAPI writes its bounds into the document as "ge"/"le"
# instead of minimum/maximum.
Limit = Annotated[int, Query(ge=1, le=500, description="At most this many, newest first."),
                  BeforeValidator(_digits)]
#: The analytics filters, shared by the per-sender and the grouped routes.
TagQuery = Annotated[str | None, Query(max_length=200, description="Campaign tag.")]
SinceQuery = Annotated[WireDatetime | None, Query(
    description="Sent at or after (ISO 8601 with a time zone; years 1900-9998).",
    json_schema_extra={"pattern": YEAR_IN_RANGE})]
UntilQuery = Annotated[WireDatetime | None, Query(
    description="Sent before (ISO 8601 with a time zone; years 1900-9998).",
    json_schema_extra={"pattern": YEAR_IN_RANGE})]


def service(request: Request):
    return request.app.state.services.get()


def member_dict(member: Member) -> dict[str, object]:
    return asdict(member)


# --- member admin ----------------------------------------------------------------------------


@router.put(
    "/v1/members/{member_id}", tags=["members"], summary="Create or update a member",
    response_model=MemberOut, responses={**WITH_BODY, **E503},
)
def put_member(
    member_id: NewMemberId, body: MemberIn, request: Request,
    _: Principal = Depends(require_service),
) -> Response:
    stored = service(request).put_member(Member(id=member_id, **body.model_dump()))
    return JSONBytesResponse(member_dict(stored))


@router.patch(
    "/v1/members/{member_id}", tags=["members"],
    summary="Change some of a member's attributes (JSON merge patch)",
    response_model=MemberOut, responses={**WITH_BODY, **E404, **E503},
)
def patch_member(
    member_id: MemberId, body: MemberPatch, request: Request,
    _: Principal = Depends(require_service),
) -> Response:
    stored = service(request).patch_member(member_id, body.changes())
    return JSONBytesResponse(member_dict(stored))


@router.get(
    "/v1/members/{member_id}", tags=["members"], summary="A member's attributes",
    response_model=MemberOut, responses={**AUTHED, **E404, **E503},
)
def get_member(
    member_id: MemberId, request: Request, _: Principal = Depends(require_service),
) -> Response:
    return JSONBytesResponse(member_dict(service(request).get_member(member_id)))


def _pair_route(kind: str, add: str, remove: str, what: str) -> None:
    path = f"/v1/members/{{member_id}}/{kind}/{{other_id}}"

    @router.put(path, tags=["members"], status_code=204, summary=f"Add a {what}",
                responses={**AUTHED, **E404, **E503}, response_class=Response,
                name=f"add_{kind}")
    def put_pair(member_id: MemberId, other_id: OtherId, request: Request,
                 _: Principal = Depends(require_service)) -> Response:
        _check_pair(member_id, other_id)
        getattr(service(request), add)(member_id, other_id)
        return Response(status_code=204)

    @router.delete(path, tags=["members"], status_code=204, summary=f"Remove a {what}",
                   responses={**AUTHED, **E404, **E503}, response_class=Response,
                   name=f"remove_{kind}")
    def delete_pair(member_id: MemberId, other_id: OtherId, request: Request,
                    _: Principal = Depends(require_service)) -> Response:
        _check_pair(member_id, other_id)
        getattr(service(request), remove)(member_id, other_id)
        return Response(status_code=204)


def _check_pair(member_id: str, other_id: str) -> None:
    if member_id == other_id:
        raise ApiError(422, "validation_error", "a member cannot be paired with itself",
                       "other_id")


_pair_route("connections", "connect", "disconnect",
            "1st-degree connection (both directions)")
_pair_route("blocks", "block", "unblock", "block: member_id blocks other_id")


# --- inbox, sent, credits, restrictions ------------------------------------------------------


@router.get(
    "/v1/members/{member_id}/inbox", tags=["members"],
    summary="Delivered InMail: sender, subject, preview (no body); newest first",
    response_model=InboxOut, responses={**AUTHED, **E404, **E503},
)
def inbox(
    member_id: MemberId, request: Request, limit: Limit = 50,
    _: Principal = Depends(require_service),
) -> Response:
    items = service(request).inbox(member_id, limit=limit)
    return JSONBytesResponse({"member_id": member_id, "items": [i.to_dict() for i in items]})


@router.get(
    "/v1/members/{member_id}/conversations", tags=["members"],
    summary="Conversations (replies to InMail and what follows), latest activity first, with"
            " the other participant, a preview of the latest message and an unread count",
    response_model=ConversationsOut, responses={**AUTHED, **E404, **E503},
)
def conversations(
    member_id: MemberId, request: Request, limit: Limit = 50,
    _: Principal = Depends(require_service),
) -> Response:
    items = service(request).conversations(member_id, limit=limit)
    return JSONBytesResponse({"member_id": member_id, "items": [i.to_dict() for i in items]})


@router.get(
    "/v1/members/{member_id}/sent", tags=["members"],
    summary="InMail this member sent, with status; newest first",
    response_model=SentOut, responses={**AUTHED, **E404, **E503},
)
def sent(
    member_id: MemberId, request: Request, limit: Limit = 50,
    _: Principal = Depends(require_service),
) -> Response:
    items = service(request).sent(member_id, limit=limit)
    return JSONBytesResponse({"member_id": member_id,
                              "items": [i.to_dict(include_body=False) for i in items]})


@router.get(
    "/v1/members/{member_id}/credits", tags=["members"],
    summary="Credits this window: plan, limit, used, remaining, window_end",
    response_model=CreditsOut, responses={**AUTHED, **E404, **E503},
)
def credits(
    member_id: MemberId, request: Request, _: Principal = Depends(require_service),
) -> Response:
    return JSONBytesResponse(service(request).credits(member_id).to_dict())


@router.get(
    "/v1/members/{member_id}/restriction", tags=["restrictions"],
    summary="The sending restriction in force now, if any",
    response_model=RestrictionStateOut, responses={**AUTHED, **E503},
)
def restriction(
    member_id: MemberId, request: Request, _: Principal = Depends(require_service),
) -> Response:
    found = service(request).restriction(member_id)
    return JSONBytesResponse({"member_id": member_id,
                              "restriction": found.to_dict() if found else None})


async def _not_null(request: Request) -> None:
    """The body is optional, but when there is one it is an object: ``null`` is not."""
    if (await request.body()).strip() == b"null":
        raise ApiError(422, "validation_error", "the body must be an object, or left out")


@router.post(
    "/v1/members/{member_id}/restriction/lift", tags=["restrictions"],
    summary="Lift the member's sending restrictions now (admin)",
    response_model=LiftOut, responses={**WITH_BODY, **E503},
    dependencies=[Depends(_not_null)],
    openapi_extra={"requestBody": {"required": False, "content": {"application/json": {
        "schema": {"$ref": "#/components/schemas/LiftRequest"}}}}},
)
def lift_restriction(
    member_id: MemberId, request: Request,
    body: Annotated[LiftRequest | None, Body()] = None,
    principal: Principal = Depends(require_admin),
) -> Response:
    note = body.note if body else ""
    lifted = service(request).lift_restriction(member_id, by=f"api:{principal.name}", note=note)
    access_log.info("restriction lifted", extra={"member_id": member_id, "lifted": lifted,
                                                 "key_name": principal.name})
    return JSONBytesResponse({"member_id": member_id, "lifted": lifted})


# --- analytics -------------------------------------------------------------------------------


@router.get(
    "/v1/analytics/senders/{member_id}", tags=["analytics"],
    summary="A sender's counts and open/response rates, by campaign tag and time range",
    response_model=AnalyticsOut, responses={**AUTHED, **E404, **{422: WITH_BODY[422]}, **E503},
)
def sender_analytics(
    member_id: MemberId,
    request: Request,
    tag: TagQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
    group_by: Annotated[Literal["account", "lead", "tag", "day", "week", "month"] | None,
                        Query()] = None,
    _: Principal = Depends(require_service),
) -> Response:
    check_range(since, until)
    result = service(request).analytics(sender_id=member_id, tag=tag, since=since,
                                        until=until, group_by=group_by)
    return JSONBytesResponse(result.to_dict())


def check_range(since: datetime | None, until: datetime | None) -> None:
    """Both ends in the calendar the engine handles, and not reversed (422 naming which)."""
    check_date_range(since, "since")
    check_date_range(until, "until")
    if since is not None and until is not None and until < since:
        raise ApiError(422, "validation_error", "until is before since", "until")
