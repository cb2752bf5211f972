"""One error shape for every 4xx/5xx: ``{"error": {"code", "message", "field"?}}``.

Service errors carry a ``code`` (``not_found``, ``not_allowed``, ...); :data:`STATUS_BY_CODE`
maps them to HTTP statuses. Validation errors name the first offending field as a dotted path
into the JSON body (``message.sender_id``) and list the others under ``issues``. Nothing here
echoes request values back: a message body must never end up in a log or an error.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from inmail_guard.api.responses import JSONBytesResponse
from inmail_guard.fieldpath import format_path
from inmail_guard.tracebacks import redacted

log = logging.getLogger("inmail_guard.api")

#: Service error code -> HTTP status. Unknown codes get 400 (the client asked for something
#: the service refused) and keep their code.
STATUS_BY_CODE: dict[str, int] = {
    "bad_request": 400,
    "malformed_json": 400,
    "unauthorized": 401,
    "forbidden": 403,
    "not_allowed": 403,
    "not_found": 404,
    "unknown_member": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "retract_window_passed": 409,
    "idempotency_conflict": 409,
    "already_opened": 409,
    "already_retracted": 409,
    "already_reported": 409,
    "expired": 409,
    "retracted": 409,
    "gone": 410,
    "body_too_large": 413,
    "unsupported_media_type": 415,
    "validation_error": 422,
    "validation": 422,
    "invalid": 422,
    "unknown_plan": 422,
    "policy_invalid": 422,
    "rate_limited": 429,
    "internal_error": 500,
    "database_unavailable": 503,
    "not_ready": 503,
}


class ApiError(Exception):
    """Raise from a route to answer with the standard error JSON."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers
        self.extra = extra or {}


def error_body(
    code: str, message: str, field: str | None = None, **extra: Any
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    error.update({k: v for k, v in extra.items() if v is not None})
    return {"error": error}


def error_response(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    return JSONBytesResponse(error_body(code, message, field, **extra), status_code=status,
                             headers=headers)


def field_path(loc: Sequence[Any]) -> str:
    """pydantic ``loc`` -> the path into the request body: ``message.attachments[0].filename``
    (:func:`~inmail_guard.fieldpath.format_path`, as every channel spells it); the leading
    ``body``/``query``/``path``/``header`` goes."""
    parts = tuple(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return format_path(parts)


_PLAIN = {
    "missing": "is required",
    "extra_forbidden": "unknown field; remove it",
    "unexpected_keyword_argument": "unknown field; remove it",
    "missing_argument": "is required",
    "json_invalid": "is not valid JSON",
}


def describe(err: dict[str, Any]) -> str:
    """One pydantic error -> 'message.sender_id: is required' without echoing the input."""
    msg = _PLAIN.get(err.get("type", ""), err.get("msg", "is invalid"))
    return msg[0].lower() + msg[1:] if msg else "is invalid"


def validation_issues(errors: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    issues = []
    for err in errors:
        loc = err.get("loc", ())
        if err.get("type") == "missing" and tuple(loc) in (("body",), ()):
            issues.append({"field": "", "message": "a JSON body is required"})
            continue
        issues.append({"field": field_path(loc), "message": describe(err)})
    return issues


def validation_response(errors: Sequence[dict[str, Any]]) -> Response:
    if any(e.get("type") == "json_invalid" for e in errors):
        first = next(e for e in errors if e.get("type") == "json_invalid")
        detail = (first.get("ctx") or {}).get("error", "invalid JSON")
        return error_response(400, "malformed_json",
                              f"the request body is not valid JSON: {detail}")
    issues = validation_issues(errors)
    head = issues[0] if issues else {"field": "", "message": "is invalid"}
    where = head["field"] or "body"
    more = f" (and {len(issues) - 1} more)" if len(issues) > 1 else ""
    return error_response(422, "validation_error", f"{where}: {head['message']}{more}",
                          head["field"] or None, issues=issues)


_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "body_too_large", 415: "unsupported_media_type"}


def install(app: FastAPI) -> None:
    """Register the handlers that turn every exception into the standard error JSON."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.field, exc.headers,
                              **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return validation_response(exc.errors())

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = f"no route for {request.method} {request.url.path}"
        if exc.status_code == 400 and "parsing the body" in message:
            code, message = "malformed_json", "the request body could not be parsed as JSON"
        return error_response(exc.status_code, code, message,
                              headers=getattr(exc, "headers", None))

    async def _mapped(request: Request, exc: Exception) -> Response:
        return handled(exc, request)

    for cls in _mapped_classes():
        app.add_exception_handler(cls, _mapped)

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> Response:
        return unhandled(exc, request)


def handled(exc: Exception, request: Request) -> Response:
    """What the app answers for an exception its routes raise: a known one's mapped error (a
    5xx logged by type and code), anything else :func:`unhandled`'s 500."""
    mapped = map_exception(exc)
    if mapped is None:
        return unhandled(exc, request)
    if mapped.status >= 500:
        log.warning("%s on %s %s: %s", type(exc).__name__, request.method,
                    request.url.path, mapped.code)
    return error_response(mapped.status, mapped.code, mapped.message, mapped.field,
                          mapped.headers, **mapped.extra)


async def answer_raw(scope: Scope, receive: Receive, send: Send,
                     handler: Callable[[Request], Awaitable[Response]]) -> None:
    """Answer an ASGI request with ``handler``, errors as the app's exception handlers answer
    them: for a route served ahead of FastAPI's routing (``api/middleware.py``'s fast
    routes)."""
    request = Request(scope, receive)
    try:
        response = await handler(request)
    except ApiError as exc:
        response = error_response(exc.status, exc.code, exc.message, exc.field, exc.headers,
                                  **exc.extra)
    except StarletteHTTPException as exc:  # 413 from the body limit
        response = error_response(exc.status_code, "body_too_large", str(exc.detail))
    except Exception as exc:
        response = handled(exc, request)
    await response(scope, receive, send)


def unhandled(exc: Exception, request: Request) -> Response:
    """A known exception's mapped error, else 500 (logged with its traceback)."""
    mapped = map_exception(exc)
    if mapped is not None:
        return error_response(mapped.status, mapped.code, mapped.message, mapped.field,
                              mapped.headers, **mapped.extra)
    if isinstance(exc, ClientDisconnect):  # no bug: the client left (or timed out, 408)
        return error_response(400, "bad_request", "the client went away mid-request")
    log_unhandled(exc, request.method, request.url.path)
    return error_response(500, "internal_error", "internal error; see the server log")


def log_unhandled(exc: BaseException, method: str, path: str) -> None:
    """The message of an arbitrary exception may quote input (``exc_info`` would print it, and
    its cause's): log the type and the traceback's frames only."""
    log.error("unhandled %s on %s %s", type(exc).__name__, method, path,
              extra={"exc_type": type(exc).__name__, "traceback": redacted(exc)})


def _mapped_classes() -> list[type[Exception]]:
    """Exception classes :func:`map_exception` knows, handled before the catch-all."""
    from sqlalchemy import exc as sa_exc

    from inmail_guard.engine.plans import UnknownPlanError
    from inmail_guard.service.errors import ServiceError
    from inmail_guard.store.errors import StoreUnavailable

    return [UnknownPlanError, OverflowError, UnicodeError, ServiceError, StoreUnavailable,
            sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError,
            sa_exc.TimeoutError, sa_exc.DataError]


def map_exception(exc: BaseException) -> ApiError | None:
    """Known non-HTTP exceptions -> ApiError (service errors, database down, engine limits)."""
    name = type(exc).__name__
    module = type(exc).__module__ or ""
    if module.startswith("sqlalchemy") and name in (
        "OperationalError", "InterfaceError", "DisconnectionError", "TimeoutError",
    ):
        return ApiError(503, "database_unavailable", "the database is unavailable; retry later",
                        headers={"Retry-After": "1"})
    if module.startswith(("sqlalchemy", "psycopg", "sqlite3")) and any(
            k.__name__ == "DataError" for k in type(exc).__mro__):  # also the raw send path's
        # A backstop: the service refuses, naming the field, the text PostgreSQL cannot store
        # (a NUL character, more than a column holds) before it writes. The write rolled back.
        return ApiError(422, "validation_error", "a value cannot be stored: text with a NUL"
                        " character, or longer than its field allows")
    code = getattr(exc, "code", None)
    if isinstance(code, str) and code and not module.startswith("sqlalchemy"):
        status = getattr(exc, "status", None)
        if not isinstance(status, int) or not 400 <= status < 600:
            status = STATUS_BY_CODE.get(code, 400)
        message = getattr(exc, "message", None) or str(exc) or code
        field = getattr(exc, "field", None)
        return ApiError(status, code, str(message), field if isinstance(field, str) else None,
                        headers={"Retry-After": "1"} if status == 503 else None)
    if isinstance(exc, UnicodeError):
        return ApiError(422, "validation_error", "text must be valid Unicode")
    if isinstance(exc, OverflowError):
        return ApiError(422, "validation_error", "a date is out of the supported range")
    return None
