"""The InMail lifecycle: send, read, open, retract, reply, report; conversations.

Each call is one InMailService method; the service checks the acting member (only the sender
retracts; only the recipient opens, replies and reports) and its errors map to statuses in
:mod:`inmail_guard.api.errors`. Service calls do database I/O, so these are plain ``def``
routes, run in the threadpool; ``POST /v1/inmails`` runs a SQLite send on the event loop when
it can start without waiting (``InMailService.send_nowait``), else in the threadpool.

``POST /v1/inmails`` is the product's unit of work, so it is also mounted as raw ASGI
(:func:`asgi_send`) in front of FastAPI's routing by
:class:`~inmail_guard.api.middleware.EdgeMiddleware`, as ``POST /v1/evaluate`` is: the
framework's routing, dependency solving and exception stack cost about a third of a send's
CPU (benchmarks/README.md "Sends at scale"). It answers every request as the declared route
does (the key first, the body parsed by orjson and validated by the same model, the
``Idempotency-Key`` header checked the same way, errors in the same order and shape); the
declared route stays for OpenAPI, /docs and as the reference the tests compare it with.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request
from pydantic import Field, TypeAdapter, ValidationError
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from inmail_guard.api.auth import Principal, authenticate, require_service
from inmail_guard.api.errors import (
    ApiError,
    answer_raw,
    error_response,
    validation_response,
)
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
from inmail_guard.api.responses import JSONBytesResponse, loads
from inmail_guard.api.routes.common import (
    AUTHED,
    E404,
    E409,
    E410,
    E503,
    WITH_BODY,
    JSONRoute,
    reject_unknown_query,
)
from inmail_guard.engine.types import Message
from inmail_guard.service.errors import ServiceError

log = logging.getLogger("inmail_guard.api")

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
    return await _send(request, body.message, idempotency_key)


async def _send(request: Request, message: Message, idempotency_key: str | None) -> Response:
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
        # worker's few send threads (api/sendthreads.py), not the 40-thread threadpool.
        slot = request.app.state.services
        built = slot.built()
        result = built.send_nowait(message) if built is not None else None
        if result is None:
            result = await slot.send_threads().run(lambda: service(request).send(message))
    except ServiceError as exc:
        if exc.field and not exc.field.startswith("message."):
            exc.field = f"message.{exc.field}"  # the path into this request's body
        raise
    request.state.decision_id = result.decision.decision_id
    log_decision(result.decision, message, request.state)
    return JSONBytesResponse(result.to_dict(), status_code=201 if result.accepted else 403)


IDEMPOTENCY_HEADER = "Idempotency-Key"
_send_request = TypeAdapter(SendRequest)
_idempotency_key = TypeAdapter(Annotated[str | None, Field(max_length=200)])


async def _send_raw(request: Request) -> Response:
    """What FastAPI does for the declared route, in its order: the key (``JSONRoute``), the
    body read and parsed as JSON whatever its content type (a parse error is 400), then the
    header's and the body's validation errors together (422), then :func:`_send`."""
    authenticate(request, "service")
    if request.scope["query_string"]:
        reject_unknown_query(request)
    raw = await request.body()
    document: Any = None
    if raw:
        try:
            document = loads(raw)
        except json.JSONDecodeError as exc:  # orjson's is one too
            return validation_response([{"type": "json_invalid", "loc": ("body", exc.pos),
                                         "msg": "JSON decode error",
                                         "ctx": {"error": exc.msg}}])
        except Exception:  # as FastAPI answers any other failure to read the body
            return error_response(400, "malformed_json",
                                  "the request body could not be parsed as JSON")
    errors: list[dict[str, Any]] = []
    header = request.headers.get(IDEMPOTENCY_HEADER)
    try:
        idempotency_key = _idempotency_key.validate_python(header)
    except ValidationError as exc:
        errors += _located(exc, ("header", IDEMPOTENCY_HEADER))
    body = None
    if not raw:
        errors.append({"type": "missing", "loc": ("body",), "msg": "Field required"})
    else:
        try:
            body = _send_request.validate_python(document, from_attributes=True)  # as FastAPI
        except ValidationError as exc:
            errors += _located(exc, ("body",))
    if errors or body is None:
        return validation_response(errors)
    return await _send(request, body.message, idempotency_key)


def _located(exc: ValidationError, prefix: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{**e, "loc": (*prefix, *e["loc"])}
            for e in exc.errors(include_input=False, include_url=False)]


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


async def asgi_send(scope: Scope, receive: Receive, send: Send) -> None:
    """:func:`send` as a raw ASGI app, with the app's error mapping (see the module doc)."""
    await answer_raw(scope, receive, send, _send_raw)
