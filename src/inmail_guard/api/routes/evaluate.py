"""``POST /v1/evaluate``: stateless; a message and its facts in, a Decision out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request
from starlette.responses import Response

from inmail_guard.api.auth import Principal, require_service
from inmail_guard.api.logs import log_decision
from inmail_guard.api.models import EVALUATE_EXAMPLES, DecisionOut, EvaluateRequest
from inmail_guard.api.responses import JSONBytesResponse
from inmail_guard.api.routes.common import WITH_BODY, check_date_range, request_id

router = APIRouter(tags=["evaluate"])


@router.post(
    "/v1/evaluate",
    summary="Evaluate one send against the active policy (stateless)",
    response_class=JSONBytesResponse,
    responses={200: {"model": DecisionOut,
                     "description": "The decision; HTTP 200 whether accepted or rejected."},
               **WITH_BODY},
)
async def evaluate(
    body: Annotated[EvaluateRequest, Body(openapi_examples=EVALUATE_EXAMPLES)],
    request: Request,
    _: Principal = Depends(require_service),
) -> Response:
    """Runs the policy's rules and detectors on `message` given `facts` and returns the
    Decision. Nothing is read from or written to the store; `facts.now` is the only clock.
    The decision's `policy.version` names the policy that made it."""
    check_date_range(body.facts.now, "facts.now")
    engine = request.app.state.holder.active.engine  # read once: a reload can't split us
    decision = engine.evaluate(body.message, body.facts)
    request.state.decision_id = decision.decision_id
    log_decision(decision, body.message, route="/v1/evaluate", request_id=request_id(request))
    return JSONBytesResponse(decision.to_dict())
