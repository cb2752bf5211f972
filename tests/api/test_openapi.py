"""What the OpenAPI document says about requests is what the server does (the property-based
run is ``test_schemathesis.py``); here, the rules JSON Schema cannot state, which that run
keeps out of the data it generates as valid, and what the document learns from the server."""

from __future__ import annotations

import pytest

from .conftest import ADMIN, SVC, evaluate_body


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
@pytest.mark.parametrize("kind", ["connections", "blocks"])
def test_a_member_is_never_paired_with_itself(client, method, kind):
    r = client.request(method, f"/v1/members/ann/{kind}/ann", headers=SVC)
    assert r.status_code == 422 and r.json()["error"]["field"] == "other_id"


def test_the_idempotency_key_header_and_field_must_agree(client):
    body = {"message": {**evaluate_body()["message"], "idempotency_key": "k-1"}}
    r = client.post("/v1/inmails", json=body, headers={**SVC, "Idempotency-Key": "k-2"})
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "message.idempotency_key"


def test_analytics_until_may_not_be_before_since(client):
    r = client.get("/v1/analytics/senders/ann", headers=SVC,
                   params={"since": "2026-11-27T09:00:00Z", "until": "2026-11-26T09:00:00Z"})
    assert r.status_code == 422 and r.json()["error"]["field"] == "until"


@pytest.mark.parametrize("value", ["0.5", "1764234000", "0612-03-05T07:58:35Z"])
def test_analytics_times_are_iso_8601_in_range_never_numbers(client, value):
    # "0.5" was read as half a second after 1970 while the document said date-time.
    r = client.get("/v1/analytics/senders/ann", headers=SVC, params={"until": value})
    assert r.status_code == 422 and r.json()["error"]["field"] == "until"


def test_a_lift_body_is_an_object_or_nothing(client):
    path = "/v1/members/ann/restriction/lift"
    assert client.post(path, headers=ADMIN).status_code == 200
    assert client.post(path, json={}, headers=ADMIN).status_code == 200
    r = client.post(path, content=b"null", headers=ADMIN)
    assert r.status_code == 422


@pytest.mark.parametrize("body", ["", "  \n\t", "\u3000\x1c", "a\x00"])
def test_a_blank_reply_is_refused_by_the_document_too(client, body):
    import re

    schema = client.get("/openapi.json").json()["components"]["schemas"]["ReplyRequest"]
    assert not re.search(schema["properties"]["body"]["pattern"], body)


def test_plans_are_the_active_policys(client):
    doc = client.get("/openapi.json").json()["components"]["schemas"]
    plans = set(client.app.state.holder.active.policy.plans)
    assert set(doc["MemberIn"]["properties"]["plan"]["enum"]) == plans
    assert set(doc["MemberPatch"]["properties"]["plan"]["enum"]) == plans
    r = client.post("/v1/evaluate", headers=SVC, json=evaluate_body() | {
        "facts": {**evaluate_body()["facts"], "sender": {"id": "alice", "plan": "gold"}}})
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_plan"


def test_integer_bounds_are_integers(client):
    doc = client.get("/openapi.json").json()["components"]["schemas"]
    size = doc["Attachment"]["properties"]["size_bytes"]
    assert size["maximum"] == 2**31 - 1 and isinstance(size["maximum"], int)
