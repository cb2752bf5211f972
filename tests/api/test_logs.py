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


class _Quoting(Exception):
    """What a bug (ours or a plugin's) may raise: a message that quotes the request."""


def test_a_failure_inside_a_send_logs_its_traceback_without_the_body(client, caplog,
                                                                    monkeypatch):
    from inmail_guard.engine.evaluator import Engine

    def broken(self, message, facts, **kwargs):
        try:
            int(message.body)  # ValueError: invalid literal for int() ...: '<the body>'
        except ValueError as exc:
            raise _Quoting(f"could not evaluate {message.body!r}") from exc

    caplog.set_level(logging.DEBUG)
    member = {"plan": "premium_business", "profile_public": True, "accepts_inmail": True,
              "is_employee": False, "name": None, "photo_url": None, "headline": None,
              "company": None, "role": None}
    for member_id in ("alice", "bob"):
        assert client.put(f"/v1/members/{member_id}", json=member, headers=SVC).is_success
    monkeypatch.setattr(Engine, "evaluate", broken)
    message = {"sender_id": "alice", "recipient_id": "bob", "subject": "Hello", "body": SECRET}
    r = client.post("/v1/inmails", json={"message": message}, headers=SVC)
    assert r.status_code == 500 and "TOP-SECRET" not in r.text
    errors = [json.loads(x) for x in formatted(caplog) if '"level":"error"' in x]
    assert len(errors) == 1
    error = errors[0]
    assert error["exc_type"] == "_Quoting"
    assert "in broken" in error["traceback"] and "int(message.body)" in error["traceback"]
    assert "TOP-SECRET" not in json.dumps(errors), error["traceback"]
    assert not any("TOP-SECRET" in line for line in formatted(caplog))


def test_a_failing_decision_hook_is_logged_without_the_body(client, caplog):
    from inmail_guard.plugins.hookspecs import hookimpl

    class Quoting:
        @hookimpl
        def inmail_guard_decision(self, message, facts, decision):
            raise _Quoting(f"cannot record {message.body}")

    plugins = client.app.state.holder.active.engine.plugins
    plugins.pm.register(Quoting(), name="quoting-test")
    try:
        caplog.set_level(logging.DEBUG)
        r = client.post("/v1/evaluate", json=evaluate_body(body=SECRET), headers=SVC)
        assert r.status_code == 200
    finally:
        plugins.pm.unregister(name="quoting-test")
    lines = formatted(caplog)
    assert any("_Quoting" in line and "quoting-test" in line for line in lines)
    assert not any("TOP-SECRET" in line for line in lines)


def test_an_unhandled_error_is_answered_and_never_re_raised_to_the_server(tmp_path, caplog,
                                                                          monkeypatch):
    # Starlette's ServerErrorMiddleware re-raises after answering 500, for the server to log;
    # uvicorn then logged the whole traceback, messages included ("Exception in ASGI
    # application"). A TestClient that raises server exceptions stands in for uvicorn.
    from fastapi.testclient import TestClient

    from inmail_guard.api import Settings, create_app
    from inmail_guard.service import InMailService

    from .conftest import KEYS_ENV

    def broken(self, *args, **kwargs):
        raise _Quoting(SECRET)

    monkeypatch.setattr(InMailService, "reply", broken)
    caplog.set_level(logging.DEBUG)
    app = create_app(Settings(keys_env=KEYS_ENV, db=str(tmp_path / "x.db")))
    with TestClient(app, raise_server_exceptions=True) as client:
        r = client.post("/v1/inmails/im_x/reply", json={"member_id": "bob", "body": SECRET},
                        headers=SVC)
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
    lines = formatted(caplog)
    assert any('"exc_type":"_Quoting"' in line for line in lines)
    assert not any("TOP-SECRET" in line for line in lines)


def test_a_request_id_is_echoed_only_when_it_is_a_short_visible_one(client, caplog):
    caplog.set_level(logging.INFO)
    for given, echoed in (("req-42.abc", True), ("x" * 128, True), ("x" * 129, False),
                          ("x" * 60_000, False), ("with space", False), ("caf\xe9", False)):
        r = client.get("/healthz", headers={"X-Request-ID": given.encode("latin-1")})
        got = r.headers["x-request-id"]
        assert (got == given) is echoed, given[:20]
        if not echoed:
            assert len(got) == 32 and int(got, 16) >= 0
    assert max(len(line) for line in formatted(caplog)) < 1000  # no 60 KB log line
