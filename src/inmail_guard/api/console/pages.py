"""The console's pages: login, Playground, Traffic, Restrictions and reports, Campaign
analytics, Policy. Server-rendered HTML over the same service and policy holder the JSON API
uses; none of these routes is in the OpenAPI document."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from inmail_guard.api.console import playground
from inmail_guard.api.console.sessions import COOKIE
from inmail_guard.api.console.web import (
    HEADERS,
    PREFIX,
    check_post,
    read_form,
    redirect,
    render,
    require_session,
    safe_next,
    same_origin,
    session_of,
    signer,
    unavailable,
)
from inmail_guard.api.policy_state import PolicyReloadError

log = logging.getLogger("inmail_guard.api.console")
router = APIRouter(prefix=PREFIX, include_in_schema=False)

GROUPS = {"sender": "Sender", "tag": "Campaign tag", "day": "Day"}
RATES = ("open_rate", "response_rate", "expiry_rate", "retraction_rate")


def _service(request: Request) -> Any:
    return request.app.state.services.get()


def _now(service: Any) -> datetime:
    """The service's clock (tests and the demo move it), else the wall clock."""
    clock = getattr(service, "clock", None)
    return clock() if callable(clock) else datetime.now(UTC)


# --- login -----------------------------------------------------------------------------------


@router.get("")
async def home(request: Request) -> Response:
    return redirect(f"{PREFIX}/playground")


@router.get("/login")
async def login_form(request: Request) -> Response:
    session = session_of(request)
    nxt = safe_next(request.query_params.get("next"))
    if session is not None:
        return redirect(nxt)
    return render(request, "login.html", None, next=nxt, error="")


@router.post("/login")
async def login(request: Request) -> Response:
    form = await read_form(request)
    nxt = safe_next(form.get("next"))
    if not same_origin(request):
        return render(request, "login.html", None, status=403, next=nxt,
                      error="This sign-in form was sent from another site; it was ignored.")
    key = form.get("key", "").strip()
    if not key:
        return render(request, "login.html", None, status=422, next=nxt,
                      error="Enter an API key (admin or service).")
    issued = signer(request).issue(key)
    if issued is None:
        log.warning("console sign-in refused: invalid key")
        return render(request, "login.html", None, status=401, next=nxt,
                      error="That key is not valid. Check it and try again: an admin or"
                            " service key of this server, as given to --keys.")
    token, session = issued
    log.info("console sign-in", extra={"key_name": session.principal.name})
    response = redirect(nxt)
    response.set_cookie(COOKIE, token, max_age=signer(request).lifetime_s, path=PREFIX,
                        httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    form = await read_form(request)
    check_post(request, form)
    response = redirect(f"{PREFIX}/login")
    response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="strict")
    return response


# --- playground ------------------------------------------------------------------------------


def _candidate_default(request: Request) -> str:
    """The candidate box starts with the live policy's file (or the shipped one)."""
    path = request.app.state.holder.active.policy.source
    if path and path != "builtin:default":
        try:
            with open(path, encoding="utf-8") as fh:
                return fh.read()
        except OSError:
            pass
    return "extends: builtin:default\nname: my-candidate\nspam:\n  reject_at: 8\n"


@router.get("/playground")
async def playground_form(request: Request) -> Response:
    session = require_session(request)
    example = request.query_params.get("example", "accepted")
    state = playground.FormState.example_state(example, _candidate_default(request))
    return render(request, "playground.html", session, state=state,
                  examples=playground.EXAMPLES, outcome=None, **_live(request))


@router.post("/playground")
async def playground_submit(request: Request) -> Response:
    session = require_session(request)
    form = await read_form(request)
    check_post(request, form)
    state = playground.FormState.from_form(form)
    live = request.app.state.holder.active.policy
    outcome = await asyncio.to_thread(playground.evaluate, state, live,
                                      request.app.state.console_engines)
    context: dict[str, Any] = {}
    if outcome.decision is not None:
        context = {"signals": playground.signal_rows(outcome.decision),
                   "scale": playground.spam_scale(outcome.decision)}
    status = 200 if outcome.decision is not None else 422
    return render(request, "playground.html", session, status=status, state=state,
                  examples=playground.EXAMPLES, outcome=outcome,
                  candidate_lines=state.candidate.splitlines(), **context, **_live(request))


def _live(request: Request) -> dict[str, Any]:
    active = request.app.state.holder.active
    return {"live_name": active.policy.name, "live_version": active.policy.version}


# --- traffic ---------------------------------------------------------------------------------


def _traffic_data(request: Request, session: Any) -> dict[str, Any]:
    recent = request.app.state.console_recent
    q = request.query_params
    minutes = _int(q.get("minutes"), 60, 5, 24 * 60)
    outcome = q.get("outcome") if q.get("outcome") in ("accepted", "rejected") else None
    code = q.get("code") or None
    rows = []
    for seen in recent.latest(100, outcome, code):
        d = seen.decision
        rows.append({"decision_id": d.decision_id, "seen_at": seen.at,
                     "evaluated_at": d.evaluated_at, "outcome": d.outcome,
                     "codes": list(d.codes), "shadow": [s.code for s in d.shadow],
                     "score": d.spam.score, "sender_id": seen.sender_id,
                     "recipient_id": seen.recipient_id, "subject_len": seen.subject_len,
                     "body_len": seen.body_len, "policy_version": d.policy.version})
    return {"series": recent.series(minutes), "rows": rows, "minutes": minutes,
            "outcome": outcome or "", "code": code or "", "keep_bodies": recent.keep_bodies}


@router.get("/traffic")
async def traffic(request: Request) -> Response:
    session = require_session(request)
    return render(request, "traffic.html", session, **_traffic_data(request, session))


@router.get("/traffic.json")
async def traffic_json(request: Request) -> Response:
    session = require_session(request)
    data = _traffic_data(request, session)
    for row in data["rows"]:
        row["seen_at"] = datetime.fromtimestamp(row["seen_at"], UTC).isoformat()
        row["evaluated_at"] = row["evaluated_at"].isoformat()
    return JSONResponse(data, headers=HEADERS)


@router.get("/traffic/{decision_id}")
async def decision_detail(request: Request, decision_id: str) -> Response:
    session = require_session(request)
    seen = request.app.state.console_recent.find(decision_id)
    if seen is None:
        return render(request, "message.html", session, status=404, title="Not found",
                      message=f"No recent decision {decision_id!r} in this process (the list"
                              " keeps the latest 500).")
    show_body = seen.body is not None and session.principal.has("admin")
    return render(request, "decision.html", session, seen=seen, decision=seen.decision,
                  signals=playground.signal_rows(seen.decision),
                  scale=playground.spam_scale(seen.decision), show_body=show_body,
                  keep_bodies=request.app.state.console_recent.keep_bodies)


# --- restrictions ----------------------------------------------------------------------------


@router.get("/restrictions")
async def restrictions(request: Request) -> Response:
    session = require_session(request)
    member = (request.query_params.get("member") or "").strip() or None
    lifted = request.query_params.get("lifted")
    from inmail_guard.store import moderation

    def read() -> dict[str, Any]:
        service = _service(request)
        with service.store.read() as conn:
            return {"active": moderation.active_restrictions(conn, _now(service)),
                    "history": moderation.restriction_history(conn, member),
                    "reports": moderation.reports_against(conn, member) if member else []}

    try:
        data = await asyncio.to_thread(read)
    except Exception as exc:
        return unavailable(request, session, exc)
    return render(request, "restrictions.html", session, member=member, lifted=lifted, **data)


@router.post("/restrictions/{member_id}/lift")
async def lift(request: Request, member_id: str) -> Response:
    form = await read_form(request)
    session = check_post(request, form, role="admin")
    reason = form.get("reason", "").strip()
    if not reason:
        return render(request, "message.html", session, status=422, title="A reason is needed",
                      message="Say why the restriction is lifted: the reason is kept in the"
                              " history.", back=f"{PREFIX}/restrictions?member={member_id}")
    if len(reason) > 500:
        return render(request, "message.html", session, status=422, title="Reason too long",
                      message="Keep the reason under 500 characters.",
                      back=f"{PREFIX}/restrictions?member={member_id}")
    try:
        lifted = await asyncio.to_thread(
            _service(request).lift_restriction, member_id,
            by=f"console:{session.principal.name}", note=reason)
    except Exception as exc:
        return unavailable(request, session, exc)
    log.info("restriction lifted", extra={"member_id": member_id, "lifted": lifted,
                                          "key_name": session.principal.name})
    from urllib.parse import quote

    return redirect(f"{PREFIX}/restrictions?member={quote(member_id)}&lifted={lifted}")


# --- analytics -------------------------------------------------------------------------------


def _analytics_query(request: Request) -> tuple[dict[str, Any], list[str]]:
    q = request.query_params
    errors: list[str] = []
    group_by = q.get("group_by") if q.get("group_by") in GROUPS else "sender"
    since = _day(q.get("since"), "From", errors)
    until = _day(q.get("until"), "To", errors)
    if since and until and until < since:
        errors.append("To: is before From.")
    return {"group_by": group_by, "sender_id": (q.get("sender_id") or "").strip() or None,
            "tag": (q.get("tag") or "").strip() or None,
            "since": datetime.combine(since, time(), UTC) if since else None,
            "until": datetime.combine(until + timedelta(days=1), time(), UTC)
            if until else None}, errors


def _day(value: str | None, label: str, errors: list[str]) -> date | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        errors.append(f"{label}: expected a date like 2026-11-27.")
        return None
    if not 1900 <= day.year <= 9998:
        errors.append(f"{label}: expected a year between 1900 and 9998.")
        return None
    return day


@router.get("/analytics")
async def analytics(request: Request) -> Response:
    session = require_session(request)
    query, errors = _analytics_query(request)
    result = None
    if not errors:
        try:
            result = await asyncio.to_thread(lambda: _service(request).analytics(**query))
        except Exception as exc:
            return unavailable(request, session, exc)
    rows = []
    if result is not None:
        rows = [{"key": key, **counts.to_dict()} for key, counts in result.groups]
    chart = {"labels": [r["key"] if r["key"] is not None else "(none)" for r in rows],
             "rates": [[name.replace("_", " "), [r[name] for r in rows]] for name in RATES],
             "sent": [r["sent"] for r in rows], "group_by": query["group_by"]}
    q = request.query_params
    return render(request, "analytics.html", session, status=422 if errors else 200,
                  errors=errors, rows=rows, total=result.total.to_dict() if result else None,
                  chart=chart, groups=GROUPS, query=query,
                  form={k: q.get(k, "") for k in ("sender_id", "tag", "since", "until")},
                  csv_query=request.url.query)


@router.get("/analytics.csv")
async def analytics_csv(request: Request) -> Response:
    session = require_session(request)
    query, errors = _analytics_query(request)
    if errors:
        return render(request, "message.html", session, status=422, title="Bad filter",
                      message=" ".join(errors), back=f"{PREFIX}/analytics")
    from inmail_guard.api.routes.analytics import to_csv

    try:
        result = await asyncio.to_thread(lambda: _service(request).analytics(**query))
    except Exception as exc:
        return unavailable(request, session, exc)
    return Response(to_csv(result), media_type="text/csv; charset=utf-8", headers={
        **HEADERS, "Content-Disposition": 'attachment; filename="inmail-analytics.csv"'})


# --- policy ----------------------------------------------------------------------------------


@router.get("/policy")
async def policy(request: Request) -> Response:
    session = require_session(request)
    return render(request, "policy.html", session, **_policy_context(request), result=None)


def _policy_context(request: Request) -> dict[str, Any]:
    from inmail_guard.workflow.explain import explain_policy

    holder = request.app.state.holder
    active = holder.active
    reloads = request.app.state.metrics.reloads
    counts = {r: int(reloads.labels(r)._value.get()) for r in ("ok", "failed")}
    return {"info": active.to_dict(), "sections": explain_policy(active.policy),
            "reloads": counts, "changed_on_disk": holder.changed_on_disk(),
            "watching": request.app.state.settings.watch_policy}


@router.post("/policy/reload")
async def policy_reload(request: Request) -> Response:
    form = await read_form(request)
    session = check_post(request, form, role="admin")
    holder = request.app.state.holder
    metrics = request.app.state.metrics
    previous = holder.active
    try:
        active = await asyncio.to_thread(holder.reload)
    except PolicyReloadError as exc:
        metrics.reloads.labels("failed").inc()
        log.warning("policy reload failed", extra={"issues": exc.issues,
                                                   "key_name": session.principal.name})
        return render(request, "policy.html", session, status=422, **_policy_context(request),
                      result={"ok": False, "message": exc.message, "issues": exc.issues})
    holder.touch_marker()
    metrics.reloads.labels("ok").inc()
    log.info("policy reloaded", extra={"policy_version": active.policy.version,
                                       "previous_version": previous.policy.version,
                                       "key_name": session.principal.name})
    changed = active.policy.version != previous.policy.version
    return render(request, "policy.html", session, **_policy_context(request), result={
        "ok": True, "message": "Reloaded: a new version is active." if changed
        else "Reloaded: the policy is unchanged."})


# --- helpers ---------------------------------------------------------------------------------


def _int(value: str | None, default: int, low: int, high: int) -> int:
    try:
        return max(low, min(high, int(value or default)))
    except ValueError:
        return default
