from __future__ import annotations

import hashlib
import json
import logging

from inmail_guard.api.logs import JSONFormatter

from .conftest import SVC, evaluate_body

# An ordinary message around a marker: the test is about logs, and a bare marker line reads
# as borderline spam to the classifier (spam-v1 ce671d49 scores it 0.39, its threshold).
SECRET = "Hi Bob, would you be open to a chat? TOP-SECRET-BODY-7c1e please do not log me"


def formatted(caplog) -> list[str]:
    fmt = JSONFormatter()
    return [fmt.format(r) for r in caplog.records]


def test_decision_logs_have_id_length_and_hash_never_the_body(client, caplog):
    caplog.set_level(logging.DEBUG)
    r = client.post("/v1/evaluate", json=evaluate_body(body=SECRET), headers=SVC)
    decision_id = r.json()["decision_id"]
    lines = formatted(caplog)
    assert lines and not any("TOP-SECRET" in line for line in lines)
    access = [json.loads(x) for x in lines if '"logger":"inmail_guard.api.access"' in x]
    assert len(access) == 1
    line = access[0]
    assert line["decision_id"] == decision_id and line["outcome"] == "accepted"
    assert line["body_len"] == len(SECRET)
    assert line["body_sha256"] == hashlib.sha256(SECRET.encode()).hexdigest()
    assert line["status"] == 200 and line["route"] == "/v1/evaluate"
    assert line["key_name"] == "svc" and line["request_id"] == r.headers["x-request-id"]


def test_rejected_and_invalid_requests_do_not_log_the_body(client, caplog):
    caplog.set_level(logging.DEBUG)
    client.post("/v1/evaluate", json=evaluate_body(body=SECRET + " INMAIL-GUARD-TEST-SPAM-9F3A7C"),
                headers=SVC)
    bad = evaluate_body(body=SECRET)
    bad["facts"]["credits_used"] = SECRET          # wrong type: the value must not be echoed
    r = client.post("/v1/evaluate", json=bad, headers=SVC)
    assert r.status_code == 422 and "TOP-SECRET" not in r.text
    client.post("/v1/evaluate", json={**evaluate_body(body=SECRET), "x": SECRET}, headers=SVC)
    assert not any("TOP-SECRET" in line for line in formatted(caplog))


def test_json_formatter_one_line_with_extras():
    record = logging.LogRecord("inmail_guard.api.access", logging.INFO, __file__, 1, "request",
                               (), None)
    record.status = 200
    line = JSONFormatter().format(record)
    assert "\n" not in line
    assert json.loads(line)["status"] == 200
