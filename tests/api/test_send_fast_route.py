"""``POST /v1/inmails`` is served as raw ASGI in front of FastAPI's routing
(:func:`inmail_guard.api.routes.inmails.asgi_send`); the declared FastAPI route stays. Every
request here is answered by both, on the same app and database, and the answers must be the
same: status, error JSON (code, message, field, issues), and the headers that matter. On both
databases (``store_url``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from inmail_guard.api.middleware import EdgeMiddleware
from inmail_guard.service.results import ManualClock

from .conftest import ADMIN, SVC, member_body

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
MESSAGE = {"sender_id": "alice", "recipient_id": "bob", "subject": "Hello",
           "body": "Hi Bob, I enjoyed your **talk**. Open to a chat about a role?"}
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def api(make_client, store_url):
    """On SQLite the send runs on the event loop; on PostgreSQL in the threadpool."""
    client = make_client(clock=ManualClock(T0), db=store_url)
    for member_id, plan in (("alice", "premium_business"), ("bob", "basic")):
        r = client.put(f"/v1/members/{member_id}", json=member_body(plan=plan), headers=SVC)
        assert r.status_code == 200, r.text
    return client


def _edge(client) -> EdgeMiddleware:
    node: Any = client.app.middleware_stack
    while not isinstance(node, EdgeMiddleware):
        node = node.app
    return node


def both(client, content: bytes | None, headers: dict[str, str]) -> tuple[Any, Any]:
    """(fast route's response, declared route's response) to the same request."""
    edge = _edge(client)
    fast = client.post("/v1/inmails", content=content, headers=headers)
    routes = edge.fast_routes
    edge.fast_routes = {k: v for k, v in routes.items() if k != ("POST", "/v1/inmails")}
    try:
        declared = client.post("/v1/inmails", content=content, headers=headers)
    finally:
        edge.fast_routes = routes
    return fast, declared


def body(**overrides: Any) -> bytes:
    return json.dumps({"message": {**MESSAGE, **overrides}}).encode()


def test_the_fast_route_is_the_one_answering(api):
    """The declared route is not reached while the fast one is mounted (else this file
    compares a route with itself)."""
    import inmail_guard.api.routes.inmails as inmails

    calls = []
    real = inmails._send_raw

    async def counting(request):
        calls.append(1)
        return await real(request)

    inmails._send_raw = counting
    try:
        fast, declared = both(api, body(sender_id="nobody"), {**SVC, **JSON})
    finally:
        inmails._send_raw = real
    assert len(calls) == 1
    assert fast.status_code == declared.status_code == 404


LONG_KEY = "k" * 201

ERROR_CASES = [
    # auth comes first, whatever the body
    ("no key", b"{", JSON),
    ("wrong key", body(), {"Authorization": "Bearer nope", **JSON}),
    ("not bearer", body(), {"Authorization": "Basic abc", **JSON}),
    # the body: JSON whatever its declared type; a parse error is 400
    ("malformed", b'{"message": ', {**SVC, **JSON}),
    ("not utf-8", b'{"message": "\xff"}', {**SVC, **JSON}),
    ("NaN", b'{"message": NaN}', {**SVC, **JSON}),
    ("lone surrogate", b'{"message": {"sender_id": "\\ud800"}}', {**SVC, **JSON}),
    ("key given twice", b'{"message": {"sender_id": "alice", "sender_id": "bob"}}',
     {**SVC, **JSON}),
    ("form content type", b"message=1",
     {**SVC, "Content-Type": "application/x-www-form-urlencoded"}),
    ("no content type", b"[]", SVC),
    ("empty", b"", {**SVC, **JSON}),
    ("null", b"null", {**SVC, **JSON}),
    ("list", b"[1]", {**SVC, **JSON}),
    ("empty object", b"{}", {**SVC, **JSON}),
    ("unknown top-level field", json.dumps({"message": MESSAGE, "x": 1}).encode(),
     {**SVC, **JSON}),
    ("unknown message field", body(colour="red"), {**SVC, **JSON}),
    ("missing fields", json.dumps({"message": {"sender_id": "alice"}}).encode(),
     {**SVC, **JSON}),
    ("wrong type", body(subject=5, tags="q4"), {**SVC, **JSON}),
    ("NUL in the body", body(body="a\x00b"), {**SVC, **JSON}),
    # the header, alone and with body errors (header errors come first)
    ("header too long", body(), {**SVC, **JSON, "Idempotency-Key": LONG_KEY}),
    ("header too long and no body", b"", {**SVC, **JSON, "Idempotency-Key": LONG_KEY}),
    ("header too long and bad body", body(colour="red"),
     {**SVC, **JSON, "Idempotency-Key": LONG_KEY}),
    ("header and field differ", body(idempotency_key="a"),
     {**SVC, **JSON, "Idempotency-Key": "b"}),
    # the service's refusals, with the field path into the body
    ("unknown sender", body(sender_id="nobody"), {**SVC, **JSON}),
    ("unknown recipient", body(recipient_id="nobody"), {**SVC, **JSON}),
    ("overlong id", body(sender_id="a" * 5000), {**SVC, **JSON}),
]


@pytest.mark.parametrize("content,headers", [c[1:] for c in ERROR_CASES],
                         ids=[c[0] for c in ERROR_CASES])
def test_refusals_are_the_same_on_both_routes(api, content, headers):
    before = _state(api)
    fast, declared = both(api, content, headers)
    assert fast.status_code == declared.status_code
    assert fast.status_code >= 400
    assert fast.json() == declared.json()
    for name in ("content-type", "www-authenticate", "retry-after"):
        assert fast.headers.get(name) == declared.headers.get(name)
    assert fast.headers["x-request-id"] and declared.headers["x-request-id"]
    assert _state(api) == before  # neither spent nor stored anything


def _state(api) -> tuple[Any, ...]:
    """What a send changes: credits used, and what each member sent."""
    answers = [api.get(f"/v1/members/alice/{what}", headers=SVC)
               for what in ("credits", "sent")]
    assert all(r.status_code == 200 for r in answers)
    return tuple(r.json() for r in answers)


def test_an_oversized_body_is_413_on_both(api):
    big = body(body="x" * 70_000)
    fast, declared = both(api, big, {**SVC, **JSON})
    assert fast.status_code == declared.status_code == 413
    assert fast.json() == declared.json()
    assert fast.json()["error"]["code"] == "body_too_large"


def test_accepted_and_replayed_sends_are_the_same_on_both(api):
    clock = api.app.state.settings.clock
    answers = []
    for key in ("fast-1", "declared-1"):
        clock.advance(timedelta(minutes=7))
        headers = {**SVC, **JSON, "Idempotency-Key": key}
        answers.append(both(api, body(), headers))
    (fast, fast_replay), (declared_first, declared) = answers
    # the first request of each pair sent; the second (same key) is its replay
    assert fast.status_code == declared_first.status_code == 201
    assert fast_replay.status_code == declared.status_code == 201
    assert fast_replay.json()["replayed"] is True and declared.json()["replayed"] is True
    assert fast_replay.json()["inmail"]["id"] == fast.json()["inmail"]["id"]
    assert declared.json()["inmail"]["id"] == declared_first.json()["inmail"]["id"]
    # one idempotency store behind both: the declared route replays the fast one's send
    _, again = both(api, body(), {**SVC, **JSON, "Idempotency-Key": "fast-1"})
    assert again.json()["replayed"] is True
    assert again.json()["inmail"]["id"] == fast.json()["inmail"]["id"]
    assert set(fast.json()) == set(declared_first.json())
    assert set(fast.json()["decision"]) == set(declared_first.json()["decision"])
    assert fast.headers["content-type"] == declared_first.headers["content-type"]


@pytest.mark.parametrize("overrides,code", [
    ({"sender_id": "bob", "recipient_id": "alice"}, "plan_has_no_credits"),
    ({"recipient_id": "alice"}, "self_message"),
    ({"body": "   "}, "body_missing"),
])
def test_a_rejected_send_is_403_with_its_decision_on_both(api, overrides, code):
    fast, declared = both(api, body(**overrides), {**SVC, **JSON})
    assert fast.status_code == declared.status_code == 403
    for r in (fast, declared):
        assert r.json()["inmail"] is None and r.json()["replayed"] is False
        assert r.json()["decision"]["outcome"] == "rejected"
        assert [x["code"] for x in r.json()["decision"]["reasons"]] == [code]
    assert fast.json()["decision"]["reasons"] == declared.json()["decision"]["reasons"]


def test_an_admin_key_may_send_on_both(api):
    api.app.state.settings.clock.advance(timedelta(minutes=7))
    fast, declared = both(api, body(), {**ADMIN, **JSON})
    assert fast.status_code == declared.status_code == 201


# An ordinary message around a marker (see tests/api/test_logs.py).
SECRET = "Hi Bob, would you be open to a chat? TOP-SECRET-BODY-51d0 please do not log me"


def test_the_access_line_and_metrics_of_a_fast_send(api, caplog):
    """The edge middleware's access line and HTTP metrics see the fast route as the declared
    one: route template, status, key name, the decision's fields, never the body."""
    import hashlib
    import logging

    from prometheus_client.parser import text_string_to_metric_families

    from inmail_guard.api.logs import JSONFormatter

    caplog.set_level(logging.DEBUG)
    api.app.state.settings.clock.advance(timedelta(minutes=7))
    r = api.post("/v1/inmails", content=body(body=SECRET), headers={**SVC, **JSON})
    assert r.status_code == 201
    bad = api.post("/v1/inmails", content=body(body=SECRET, colour=SECRET),
                   headers={**SVC, **JSON})
    assert bad.status_code == 422 and "TOP-SECRET" not in bad.text
    lines = [JSONFormatter().format(rec) for rec in caplog.records]
    assert lines and not any("TOP-SECRET" in line for line in lines)
    access = [json.loads(x) for x in lines if '"logger":"inmail_guard.api.access"' in x]
    sent = [a for a in access if a["status"] == 201]
    assert len(sent) == 1
    line = sent[0]
    assert line["route"] == "/v1/inmails" and line["key_name"] == "svc"
    assert line["request_id"] == r.headers["x-request-id"]
    assert line["decision_id"] == r.json()["decision"]["decision_id"]
    assert line["outcome"] == "accepted" and line["body_len"] == len(SECRET)
    assert line["body_sha256"] == hashlib.sha256(SECRET.encode()).hexdigest()
    refused = [a for a in access if a["status"] == 422]
    assert len(refused) == 1 and refused[0]["key_name"] == "svc"
    assert "decision_id" not in refused[0]

    counts = {}
    for family in text_string_to_metric_families(api.get("/metrics").text):
        for s in family.samples:
            if s.name == "inmail_guard_http_requests_total" and \
                    s.labels["route"] == "/v1/inmails":
                counts[s.labels["status"]] = s.value
    assert counts == {"201": 1.0, "422": 1.0}
