"""A query parameter an operation does not take is a 422 naming it, as an unknown body field
is; never ignored. Ignored, it answers something else than was asked: ``?groupby=tag`` an
ungrouped total, ``?limt=5`` the default page, ``?dry_run=true`` on a send a real, paid send."""

from __future__ import annotations

import pytest

from .conftest import SVC, evaluate_body, member_body
from .test_send_fast_route import _edge, body

JSON = {"Content-Type": "application/json"}
NO_PARAMETERS = "this operation takes no query parameters"


@pytest.fixture
def api(make_client):
    client = make_client()
    for member_id, plan in (("alice", "premium_business"), ("bob", "basic")):
        r = client.put(f"/v1/members/{member_id}", json=member_body(plan=plan), headers=SVC)
        assert r.status_code == 200, r.text
    return client


def assert_unknown(response, name: str, takes: str) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["field"] == name
    assert error["message"] == f"{name}: unknown query parameter; {takes}"


def test_a_send_with_an_unknown_parameter_is_refused_and_spends_nothing(api):
    assert api.post("/v1/inmails", content=body(), headers={**SVC, **JSON}).status_code == 201
    r = api.post("/v1/inmails?dry_run=true", content=body(subject="Second"),
                 headers={**SVC, **JSON})
    assert_unknown(r, "dry_run", NO_PARAMETERS)
    assert [i["subject"] for i in api.get("/v1/members/alice/sent", headers=SVC).json()["items"]] \
        == ["Hello"]
    assert api.get("/v1/members/alice/credits", headers=SVC).json()["used"] == 1


def test_the_declared_send_route_answers_the_same(api):
    edge_fast, declared = both_with_query(api, "?dry_run=true")
    assert_unknown(edge_fast, "dry_run", NO_PARAMETERS)
    assert declared.json() == edge_fast.json()
    assert api.get("/v1/members/alice/credits", headers=SVC).json()["used"] == 0


def both_with_query(client, query: str):
    """(fast route's, declared route's) answer to ``POST /v1/inmails`` with a query string
    (``test_send_fast_route.both``, which sends none)."""
    edge = _edge(client)
    fast = client.post(f"/v1/inmails{query}", content=body(), headers={**SVC, **JSON})
    routes = edge.fast_routes
    edge.fast_routes = {k: v for k, v in routes.items() if k != ("POST", "/v1/inmails")}
    try:
        declared = client.post(f"/v1/inmails{query}", content=body(), headers={**SVC, **JSON})
    finally:
        edge.fast_routes = routes
    return fast, declared


def test_evaluate_takes_no_parameters(api):
    r = api.post("/v1/evaluate?verbose=1", json=evaluate_body(), headers=SVC)
    assert_unknown(r, "verbose", NO_PARAMETERS)
    assert api.post("/v1/evaluate", json=evaluate_body(), headers=SVC).status_code == 200


@pytest.mark.parametrize(("path", "name", "takes"), [
    ("/v1/members/bob/inbox?limt=5", "limt", "this operation takes limit"),
    ("/v1/analytics?groupby=tag", "groupby",
     "this operation takes format, group_by, sender_id, since, tag, until"),
    ("/v1/analytics/senders/alice?group_by=tag&sinse=2026-01-01T00:00:00Z", "sinse",
     "this operation takes group_by, since, tag, until"),
    ("/v1/members/alice/credits?member_id=alice", "member_id", NO_PARAMETERS),
    ("/v1/policy?verbose=1", "verbose", NO_PARAMETERS),
])
def test_reads_name_the_parameter_and_what_they_take(api, path, name, takes):
    assert_unknown(api.get(path, headers=SVC), name, takes)


def test_a_reload_with_an_unknown_parameter_does_not_reload(make_client):
    from .conftest import ADMIN

    client = make_client()
    r = client.post("/v1/policy/reload?dry_run=true", headers=ADMIN)
    assert_unknown(r, "dry_run", NO_PARAMETERS)
    assert client.app.state.metrics.reloads.labels("ok")._value.get() == 0
    assert client.post("/v1/policy/reload", headers=ADMIN).status_code == 200
    assert client.app.state.metrics.reloads.labels("ok")._value.get() == 1


def test_probes_take_what_a_load_balancer_adds(api):
    assert api.get("/healthz?source=lb").status_code == 200


def test_known_parameters_still_work(api):
    assert api.get("/v1/members/bob/inbox?limit=5", headers=SVC).status_code == 200
    r = api.get("/v1/analytics?group_by=tag&format=csv", headers=SVC)
    assert r.status_code == 200, r.text
    assert api.post("/v1/evaluate?", json=evaluate_body(), headers=SVC).status_code == 200


def test_the_key_is_checked_first(api):
    r = api.get("/v1/members/bob/inbox?limt=5")
    assert r.status_code == 401
    r = api.post("/v1/inmails?dry_run=true", content=body(), headers=JSON)
    assert r.status_code == 401


@pytest.mark.parametrize("limit", ["5_0", "5.0", "+5", " 5", "5 ", "0x10", "\u0665"])
@pytest.mark.parametrize("route", ["inbox", "sent", "conversations"])
def test_limit_is_digits_only_never_read_as_another_number(api, route, limit):
    # pydantic's lax int took "5_0" as 50, "5.0" and "+5" as 5: a page of another size.
    r = api.get(f"/v1/members/bob/{route}", params={"limit": limit}, headers=SVC)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["message"] == (
        "limit: input should be a whole number written in the digits 0-9, such as 50")
    assert r.json()["error"]["field"] == "limit"
    assert api.get(f"/v1/members/bob/{route}?limit=050", headers=SVC).status_code == 200


def test_the_document_still_bounds_limit(api):
    # A validator placed before Query() made FastAPI write "ge"/"le", which JSON Schema ignores.
    doc = api.get("/openapi.json").json()
    [limit] = [p for p in doc["paths"]["/v1/members/{member_id}/inbox"]["get"]["parameters"]
               if p["name"] == "limit"]
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 500)
    assert "ge" not in limit["schema"] and "le" not in limit["schema"]
