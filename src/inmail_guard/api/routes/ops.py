"""Operations: ``/healthz``, ``/readyz``, ``/metrics``, ``GET /v1/policy``,
``POST /v1/policy/reload`` (admin)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from inmail_guard.api.auth import Principal, require_admin, require_service
from inmail_guard.api.errors import ApiError
from inmail_guard.api.logs import access_log
from inmail_guard.api.models import (
    ErrorOut,
    HealthOut,
    PolicyInfo,
    PolicyInvalidOut,
    PolicyReloadOut,
    ReadyOut,
)
from inmail_guard.api.policy_state import PolicyReloadError
from inmail_guard.api.responses import JSONBytesResponse
from inmail_guard.api.routes.common import AUTHED, JSONRoute

router = APIRouter()
#: The policy operations are API calls (a key, no query parameters: ``JSONRoute``); the probes
#: and ``/metrics`` above take whatever query a load balancer or scraper adds.
policy_router = APIRouter(route_class=JSONRoute)


@router.get("/healthz", tags=["ops"], response_model=HealthOut, summary="The process is up")
async def healthz() -> Response:
    return JSONBytesResponse({"status": "ok"})


@router.get(
    "/readyz", tags=["ops"], summary="Ready to serve: database reachable, policy and model loaded",
    response_model=ReadyOut,
    responses={503: {"model": ReadyOut, "description": "Not ready; `checks` say why."}},
)
def readyz(request: Request) -> Response:
    checks = request.app.state.readiness()
    ready = all(v == "ok" for v in checks.values())
    return JSONBytesResponse({"status": "ready" if ready else "not_ready", "checks": checks},
                             status_code=200 if ready else 503)


@router.get(
    "/metrics", tags=["ops"], summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                     "description": "Prometheus text exposition format."}},
)
def metrics(request: Request) -> Response:
    # A plain def: FastAPI runs it in the threadpool, off the event loop, since the outbox
    # backlog is a database query.
    body, content_type = request.app.state.metrics.render()
    return Response(body, media_type=content_type)


@policy_router.get(
    "/v1/policy", tags=["policy"], summary="The active policy",
    response_model=PolicyInfo, responses={**AUTHED},
)
async def get_policy(request: Request, _: Principal = Depends(require_service)) -> Response:
    return JSONBytesResponse(request.app.state.holder.active.to_dict())


@policy_router.post(
    "/v1/policy/reload", tags=["policy"], summary="Reload the policy file (admin)",
    response_model=PolicyReloadOut,
    responses={**AUTHED, 422: {
        "model": PolicyInvalidOut | ErrorOut,
        "description": "`policy_invalid`: the new policy is invalid and the old one stays"
                       " active; `issues` say where, as `inmail-guard policy validate --format"
                       " json` does. (`validation_error` for a query parameter or a body.)"}},
)
async def reload_policy(
    request: Request, principal: Principal = Depends(require_admin)
) -> Response:
    """Loads the policy from its source again, validates it and compiles a new engine, then
    swaps it in atomically. In-flight requests finish on the policy they started with. With
    several workers each reloads on its own (see docs/http.md)."""
    if (await request.body()).strip():  # e.g. {"path": ...}: it would reload the old source
        raise ApiError(422, "validation_error", "body: this operation takes no body; it"
                       " reloads the policy from the server's own source (serve --policy):"
                       " edit that file, then reload", "body")
    holder = request.app.state.holder
    previous = holder.active
    try:
        # Loading may read files and compile models: keep it off the event loop.
        active = await asyncio.to_thread(holder.reload)
    except PolicyReloadError as exc:
        request.app.state.metrics.reloads.labels("failed").inc()
        access_log.warning("policy reload failed", extra={
            "source": holder.source, "issues": exc.issues, "key_name": principal.name})
        raise ApiError(422, "policy_invalid", exc.message, extra={"issues": exc.issues,
                       "active_version": previous.policy.version}) from None
    holder.touch_marker()  # other workers, if any, reload too
    request.app.state.metrics.reloads.labels("ok").inc()
    access_log.info("policy reloaded", extra={
        "policy_name": active.policy.name, "policy_version": active.policy.version,
        "previous_version": previous.policy.version, "key_name": principal.name})
    return JSONBytesResponse({
        "changed": active.policy.version != previous.policy.version,
        "previous": previous.to_dict(),
        "active": active.to_dict(),
    })
