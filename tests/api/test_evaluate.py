from __future__ import annotations

import json

import pytest

from inmail_guard.api.models import DecisionOut

from .conftest import SVC, evaluate_body


def test_accepted_is_200_with_decision(client):
    r = client.post("/v1/evaluate", json=evaluate_body(), headers=SVC)
    assert r.status_code == 200
    data = r.json()
    assert data["outcome"] == "accepted"
    assert data["policy"]["version"].startswith("sha256:")
    assert r.headers["x-request-id"]
    DecisionOut.model_validate(data)  # the documented schema matches what we send


def test_rejected_is_200_too(client):
    body = evaluate_body()
    body["facts"]["recipient"]["accepts_inmail"] = False
    r = client.post("/v1/evaluate", json=body, headers=SVC)
    assert r.status_code == 200
    data = r.json()
    assert data["outcome"] == "rejected"
    assert [x["code"] for x in data["reasons"]] == ["recipient_opted_out"]
    assert "opted" not in data["reasons"][0]["sender_message"]
    DecisionOut.model_validate(data)


def test_spam_path_end_to_end(client):
    r = client.post("/v1/evaluate", json=evaluate_body(body="INMAIL-GUARD-TEST-SPAM-9F3A7C"),
                    headers=SVC)
    data = r.json()
    assert data["outcome"] == "rejected"
    assert "spam_detected" in [x["code"] for x in data["reasons"]]
    assert "test_string" in [s["detector"] for s in data["spam"]["signals"]]


def test_malformed_json_is_400(client):
    r = client.post("/v1/evaluate", content=b'{"message": ',
                    headers={**SVC, "Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "malformed_json"


def test_a_key_given_twice_is_400_naming_it(client):
    raw = json.dumps(evaluate_body()).replace('"subject": "Hello"',
                                               '"subject": "Hello", "subject": ""').encode()
    r = client.post("/v1/evaluate", content=raw,
                    headers={**SVC, "Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"]["message"] == ("the request body is not valid JSON: duplicate key"
                                            " 'message.subject'; give each key once")


def test_unknown_field_is_422_naming_it(client):
    body = evaluate_body(colour="red")
    r = client.post("/v1/evaluate", json=body, headers=SVC)
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "validation_error"
    assert error["field"] == "message.colour"
    assert "unknown field" in error["message"]


def test_wrong_type_is_422_naming_it(client):
    body = evaluate_body()
    body["facts"]["credits_used"] = "many"
    r = client.post("/v1/evaluate", json=body, headers=SVC)
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "facts.credits_used"


@pytest.mark.parametrize(("where", "value", "field", "message"), [
    (("facts", "recipient", "is_employee"), "yes", "facts.recipient.is_employee",
     "input should be a valid boolean"),
    (("facts", "now"), 253402300800, "facts.now",
     "input should be an ISO 8601 date and time with a time zone, such as"
     " 2026-11-27T09:00:00Z"),
    (("facts", "credits_used"), "3", "facts.credits_used", "input should be a valid integer"),
    (("facts", "connection_degree"), True, "facts.connection_degree",
     "input should be 1, 2 or 3"),
])
def test_a_value_of_the_wrong_type_is_422_not_coerced(client, where, value, field, message):
    body = evaluate_body()
    target = body
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value
    r = client.post("/v1/evaluate", json=body, headers=SVC)
    assert r.status_code == 422
    error = r.json()["error"]
    assert (error["code"], error["field"], error["message"]) == (
        "validation_error", field, f"{field}: {message}")


def test_a_photo_url_other_than_http_or_https_is_422_naming_it(client):
    body = evaluate_body()
    body["facts"]["recipient"]["photo_url"] = "javascript:alert(1)"
    r = client.post("/v1/evaluate", json=body, headers=SVC)
    assert r.status_code == 422
    error = r.json()["error"]
    assert (error["code"], error["field"], error["message"]) == (
        "validation_error", "facts.recipient.photo_url",
        "facts.recipient.photo_url: must be an http:// or https:// URL with a host")


@pytest.mark.parametrize("field", ["credits_used", "abuse_reports", "credits_extra",
                                   "prior_restrictions"])
def test_count_beyond_the_stores_integers_is_422_not_500(client, field):
    body = evaluate_body()
    body["facts"][field] = 10**20  # JSON can carry it; no count ever reaches it
    r = client.post("/v1/evaluate", json=body, headers=SVC)
    assert r.status_code == 422
    error = r.json()["error"]
    assert (error["code"], error["field"]) == ("validation_error", f"facts.{field}")
    assert "less than or equal to 2147483647" in error["message"]
    body["facts"][field] = 2**31 - 1
    assert client.post("/v1/evaluate", json=body, headers=SVC).status_code == 200


def test_missing_field_and_nested_index(client):
    body = evaluate_body(attachments=[{"content_type": "x"}])
    del body["message"]["sender_id"]
    r = client.post("/v1/evaluate", json=body, headers=SVC)
    assert r.status_code == 422
    fields = {i["field"] for i in r.json()["error"]["issues"]}
    assert {"message.sender_id", "message.attachments[0].filename"} <= fields


def test_naive_datetime_is_422(client):
    body = evaluate_body()
    body["facts"]["now"] = "2026-11-27T09:00:00"
    r = client.post("/v1/evaluate", json=body, headers=SVC)
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "facts.now"


def test_empty_and_non_object_bodies(client):
    r = client.post("/v1/evaluate", headers=SVC)
    assert r.status_code == 422
    r = client.post("/v1/evaluate", json=[1, 2], headers=SVC)
    assert r.status_code == 422


def test_unknown_plan_is_422_not_500(client):
    body = evaluate_body()
    body["facts"]["sender"]["plan"] = "platinum"
    r = client.post("/v1/evaluate", json=body, headers=SVC)
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "unknown_plan"
    assert r.json()["error"]["field"] == "facts.sender.plan"


@pytest.mark.parametrize("year", ["0001", "9999"])
def test_extreme_dates_are_not_500(client, year):
    body = evaluate_body()
    body["facts"]["now"] = f"{year}-12-31T23:59:59Z"
    r = client.post("/v1/evaluate", json=body, headers=SVC)
    assert r.status_code < 500, r.text


def test_oversized_body_is_413(client):
    body = evaluate_body(body="x" * 70_000)
    r = client.post("/v1/evaluate", json=body, headers=SVC)
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "body_too_large"


def test_oversized_chunked_body_is_413(client):
    def chunks():
        for _ in range(20):
            yield b"x" * 8192

    r = client.post("/v1/evaluate", content=chunks(),
                    headers={**SVC, "Content-Type": "application/json"})
    assert r.status_code == 413


def test_limit_is_configurable(make_client):
    client = make_client(max_body_bytes=2048)
    r = client.post("/v1/evaluate", json=evaluate_body(body="y" * 3000), headers=SVC)
    assert r.status_code == 413


def test_unknown_route_and_method_are_json(client):
    r = client.get("/v1/nope", headers=SVC)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = client.get("/v1/evaluate", headers=SVC)
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


def test_openapi_is_complete(client):
    spec = client.get("/openapi.json").json()
    op = spec["paths"]["/v1/evaluate"]["post"]
    assert "examples" in op["requestBody"]["content"]["application/json"]
    assert op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "DecisionOut")
    for status in ("400", "401", "403", "413", "422"):
        assert status in op["responses"]
    assert "ApiKey" in spec["components"]["securitySchemes"]
    assert client.get("/docs").status_code == 200
