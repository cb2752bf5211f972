"""Shared bits of route declarations: the documented error responses of every operation."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.responses import Response

from inmail_guard.api.auth import authenticate, required_role
from inmail_guard.api.errors import ApiError
from inmail_guard.api.models import ErrorOut
from inmail_guard.api.responses import loads
from inmail_guard.bounds import year_problem


def _err(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


E400 = {400: _err("Malformed JSON.")}
E401 = {401: _err("Missing or invalid API key (see WWW-Authenticate).")}
E403 = {403: _err("The key's role, or the acting member, may not do this.")}
E404 = {404: _err("No such InMail or member.")}
E409 = {409: _err("Conflicts with the current state (retract window passed, idempotency key"
                  " reused with a different message, ...).")}
E410 = {410: _err("The InMail expired unopened.")}
E413 = {413: _err("Request body larger than the limit (64 KiB by default).")}
E422 = {422: _err("A field is missing, of the wrong type or unknown; `field` names it.")}
E503 = {503: _err("The database is unavailable.")}

#: What any authenticated operation can answer besides its own statuses.
AUTHED: dict[int | str, dict[str, Any]] = {**E401, **E403, **E413, **E422}
#: ... and with a JSON body.
WITH_BODY: dict[int | str, dict[str, Any]] = {**AUTHED, **E400, **E422}


#: :data:`~inmail_guard.bounds.MIN_YEAR`..``MAX_YEAR`` for the OpenAPI document: an ISO 8601
#: time whose year is in that range.
YEAR_IN_RANGE = r"^(19\d\d|[2-8]\d\d\d|9[0-8]\d\d|99[0-8]\d|999[0-8])-"


def check_date_range(value: datetime | None, field: str) -> None:
    problem = year_problem(value)
    if problem is not None:
        raise ApiError(422, "validation_error", f"{field}: {problem}", field)


def reject_unknown_query(request: Request, known: frozenset[str] = frozenset()) -> None:
    """422 for a query parameter the operation does not take, as for an unknown body field.

    Ignoring it would answer something else than was asked, silently: ``?groupby=tag`` (for
    ``group_by``) an ungrouped total, ``?limt=5`` the default page, ``?dry_run=true`` on ``POST
    /v1/inmails`` a real, paid send."""
    for name in request.query_params:
        if name not in known:
            takes = ", ".join(sorted(known)) if known else "no query parameters"
            raise ApiError(422, "validation_error",
                           f"{name}: unknown query parameter; this operation takes {takes}", name)


class StrictJSONRequest(Request):
    """A request whose JSON body is parsed by orjson: faster than ``json.loads``, and strict
    where json is lenient (lone UTF-16 surrogates, NaN/Infinity are malformed JSON, not values
    that blow up later in the database)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads(await self.body())
        return self._json


class JSONRoute(APIRoute):
    """Routes that read their body with :class:`StrictJSONRequest`, after the API key.

    FastAPI reads and validates a route's body before it runs the route's dependencies, the
    key check among them: a caller without a valid key would get ``400 malformed_json`` or a
    422 about the body instead of 401/403. So the role the route's dependencies require is
    checked here first; the dependency then finds the caller already authenticated. Then a
    query parameter the route does not declare is refused (:func:`reject_unknown_query`)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        role = required_role(self.dependant)
        has_body = self.body_field is not None
        known = _query_names(self.dependant)

        async def strict_handler(request: Request) -> Response:
            scope = request.scope
            if has_body and not _is_json(request.headers.get("content-type")):
                scope = _as_json(scope)
            strict = StrictJSONRequest(scope, request.receive)
            if role is not None:
                authenticate(strict, role)
            if strict.scope["query_string"]:
                reject_unknown_query(strict, known)
            return await handler(strict)

        return strict_handler


def _query_names(dependant: Dependant) -> frozenset[str]:
    """The query parameters a route and its dependencies declare (FastAPI's own flattening,
    ``get_flat_dependant``, moved between its versions; these two attributes did not)."""
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return frozenset(names)


def _is_json(content_type: str | None) -> bool:
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    return mime == "application/json" or mime.endswith("+json")


def _as_json(scope: Any) -> Any:
    """The request with ``Content-Type: application/json``. The body is read as JSON whatever
    it is declared as (``curl -d`` says form data), as ``POST /v1/evaluate`` always did: a body
    that is not JSON is 400 ``malformed_json``, not a 422 about a missing object."""
    headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
    return {**scope, "headers": [*headers, (b"content-type", b"application/json")]}
