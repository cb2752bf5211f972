"""The InMail lifecycle: send, read, open, retract, reply, report; conversations.

Each call is one InMailService method; the service checks the acting member (only the sender
retracts; only the recipient opens, replies and reports) and its errors map to statuses in
:mod:`inmail_guard.api.errors`. Service calls do database I/O, so these are plain ``def``
routes, run in the threadpool; ``POST /v1/inmails`` runs a SQLite send on the event loop when
it can start without waiting (``InMailService.send_nowait``), else in the threadpool.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from inmail_guard.api.auth import Principal, require_service
from inmail_guard.api.errors import ApiError
from inmail_guard.api.logs import log_decision
from inmail_guard.api.models import (
    ActingMember,
    ConversationMessageOut,
    ConversationOut,
    ConversationSummaryOut,
    InMailOut,
    PostRequest,
    ReadRequest,
    ReplyRequest,
    ReportOut,
    ReportRequest,
    RetractOut,
    SendOut,
    SendRequest,
)
from inmail_guard.api.responses import JSONBytesResponse
from inmail_guard.api.routes.common import (
    AUTHED,
    E404,
    E409,
    E410,
    E503,
    WITH_BODY,
    JSONRoute,
)
from inmail_guard.service.errors import ServiceError

router = APIRouter(tags=["inmails"], route_class=JSONRoute)

InMailId = Annotated[str, Path(min_length=1, max_length=200, description="The InMail's id.")]
ConversationId = Annotated[str, Path(min_length=1, max_length=200)]


def service(request: Request):
    return request.app.state.services.get()


@router.post(
    "/v1/inmails", status_code=201, summary="Send an InMail (evaluate, spend, store, notify)",
    responses={201: {"model": SendOut, "description": "Accepted and delivered."},
               403: {"model": SendOut, "description":
                     "The policy rejected the send (`decision.reasons` say why), or the key's"
                     " role may not send. Nothing was spent."},
               **{k: v for k, v in WITH_BODY.items() if k != 403}, **E404, **E409, **E503},
)
async def send(
    body: SendRequest,
    request: Request,
    idempotency_key: Annotated[str | None, Header(
        alias="Idempotency-Key", max_length=200,
        description="Same as message.idempotency_key; a repeat returns the first answer.")] = None,
    _: Principal = Depends(require_service),
) -> Response:
    message = body.message
    if idempotency_key:
        if message.idempotency_key not in (None, idempotency_key):
            raise ApiError(422, "validation_error",
                           "the Idempotency-Key header and message.idempotency_key differ",
                           "message.idempotency_key")
        message = replace(message, idempotency_key=idempotency_key)
    try:
        # On SQLite, with the write path free, the send runs right here on the event loop:
        # handing it to a pool thread cost 1.2-1.6x its CPU (benchmarks/README.md). Anything
        # that would wait (a lock held, PostgreSQL, the service not built yet) goes to the
        # threadpool as before.
        built = request.app.state.services.built()
        result = built.send_nowait(message) if built is not None else None
        if result is None:
            result = await run_in_threadpool(lambda: service(request).send(message))
    except ServiceError as exc:
        if exc.field and not exc.field.startswith("message."):
            exc.field = f"message.{exc.field}"  # the path into this request's body
        raise
    request.state.decision_id = result.decision.decision_id
    log_decision(result.decision, message, request.state)
    return JSONBytesResponse(result.to_dict(), status_code=201 if result.accepted else 403)


@router.get(
    "/v1/inmails/{inmail_id}", summary="Read an InMail (sender or recipient; not an open)",
    response_model=InMailOut, responses={**AUTHED, **E404, **E503},
)
def get_inmail(
    inmail_id: InMailId,
    request: Request,
    member_id: Annotated[str, Query(min_length=1, description="The acting member.")],
    _: Principal = Depends(require_service),
) -> Response:
    return JSONBytesResponse(service(request).get_inmail(inmail_id, member_id).to_dict())


@router.post(
    "/v1/inmails/{inmail_id}/open", summary="Open (recipient only): the full text",
    response_model=InMailOut, responses={**WITH_BODY, **E404, **E410, **E503},
)
def open_inmail(
    inmail_id: InMailId, body: ActingMember, request: Request,
    _: Principal = Depends(require_service),
) -> Response:
    return JSONBytesResponse(service(request).open(inmail_id, body.member_id).to_dict())


@router.post(
    "/v1/inmails/{inmail_id}/retract",
    summary="Retract (sender only, within the policy's retract window)",
    response_model=RetractOut, responses={**WITH_BODY, **E404, **E409, **E503},
)
def retract(
    inmail_id: InMailId, body: ActingMember, request: Request,
    _: Principal = Depends(require_service),
) -> Response:
    return JSONBytesResponse(service(request).retract(inmail_id, body.member_id).to_dict())


@router.post(
    "/v1/inmails/{inmail_id}/reply", status_code=201,
    summary="Reply (recipient only): starts or continues the conversation",
    response_model=ConversationOut, responses={**WITH_BODY, **E404, **E410, **E503},
)
def reply(
    inmail_id: InMailId, body: ReplyRequest, request: Request,
    _: Principal = Depends(require_service),
) -> Response:
    conversation = service(request).reply(inmail_id, body.member_id, body.body)
    return JSONBytesResponse(conversation.to_dict(), status_code=201)


@router.post(
    "/v1/inmails/{inmail_id}/report", status_code=201,
    summary="Report abuse (recipient only); may restrict the sender",
    response_model=ReportOut, responses={**WITH_BODY, **E404, **E410, **E503},
)
def report(
    inmail_id: InMailId, body: ReportRequest, request: Request,
    _: Principal = Depends(require_service),
) -> Response:
    result = service(request).report(inmail_id, body.member_id, body.reason)
    return JSONBytesResponse(result.to_dict(), status_code=201)


@router.get(
    "/v1/conversations/{conversation_id}", summary="A conversation (participants only)",
    response_model=ConversationOut, responses={**AUTHED, **E404, **E503},
)
def get_conversation(
    conversation_id: ConversationId,
    request: Request,
    member_id: Annotated[str, Query(min_length=1, description="The acting member.")],
    _: Principal = Depends(require_service),
) -> Response:
    conversation = service(request).conversation(conversation_id, member_id)
    return JSONBytesResponse(conversation.to_dict())


@router.post(
    "/v1/conversations/{conversation_id}/read",
    summary="Mark every message so far read for the acting participant",
    response_model=ConversationSummaryOut, responses={**WITH_BODY, **E404, **E503},
)
def mark_read(
    conversation_id: ConversationId, body: ReadRequest, request: Request,
    _: Principal = Depends(require_service),
) -> Response:
    summary = service(request).mark_read(conversation_id, body.member_id)
    return JSONBytesResponse(summary.to_dict())


@router.post(
    "/v1/conversations/{conversation_id}/messages", status_code=201,
    summary="Post a regular message to a conversation (participants only; no credit)",
    response_model=ConversationMessageOut, responses={**WITH_BODY, **E404, **E503},
)
def post_message(
    conversation_id: ConversationId, body: PostRequest, request: Request,
    _: Principal = Depends(require_service),
) -> Response:
    posted = service(request).post(conversation_id, body.member_id, body.body)
    return JSONBytesResponse(posted.to_dict(), status_code=201)
