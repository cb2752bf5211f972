"""Outbox events: written with the change, dispatched at least once, retried with backoff;
built-in sinks (JSON Lines file, signed webhook) against a local HTTP server."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from sqlalchemy import select

from inmail_guard import hookimpl
from inmail_guard.plugins import sinks
from inmail_guard.store import tables as t

from .cast import cast, msg


class Recorder:
    def __init__(self) -> None:
        self.events: list[dict] = []
        self.fail: Exception | None = None

    @hookimpl
    def inmail_guard_event(self, event: dict) -> None:
        if self.fail is not None:
            raise self.fail
        self.events.append(event)


@pytest.fixture
def svc(service):
    return cast(service)


@pytest.fixture
def recorder(svc):
    rec = Recorder()
    svc.plugins.pm.register(rec, name="test-recorder")
    yield rec
    svc.plugins.pm.unregister(rec)


def outbox_rows(store):
    with store.read() as conn:
        return conn.execute(select(t.outbox).order_by(t.outbox.c.seq)).all()


def test_lifecycle_events_are_dispatched_once_each_without_bodies(svc, recorder):
    inmail = svc.send(msg(tags=("q1",), crm={"lead_id": "L-7"})).inmail
    svc.open(inmail.id, "bob")
    svc.reply(inmail.id, "bob", "Tell me more")
    other = svc.send(msg(subject="second")).inmail
    svc.retract(other.id, "alice")
    assert svc.dispatch_events() == 5 and svc.dispatch_events() == 0
    types = [e["type"] for e in recorder.events]
    assert types == ["inmail.sent", "inmail.opened", "inmail.replied", "inmail.sent",
                     "inmail.retracted"]
    assert len({e["event_id"] for e in recorder.events}) == 5
    for event in recorder.events:
        assert event["sender_id"] == "alice" and event["occurred_at"].endswith("Z")
        assert "body" not in event and "Tell me more" not in json.dumps(event)
    assert recorder.events[0]["crm"] == {"lead_id": "L-7"} and recorder.events[0]["tags"] == [
        "q1"]


def test_a_failing_sink_loses_nothing_and_backs_off(svc, store, recorder, clock):
    svc.send(msg())
    recorder.fail = ConnectionError("sink down")
    assert svc.dispatch_events() == 0
    (row,) = outbox_rows(store)
    assert row.attempts == 1 and row.delivered_at is None
    assert row.next_attempt_at == clock() + timedelta(seconds=1)
    assert "sink down" in row.last_error
    assert svc.dispatch_events() == 0  # not due yet
    clock.advance(timedelta(seconds=1))
    assert svc.dispatch_events() == 0
    assert outbox_rows(store)[0].next_attempt_at == clock() + timedelta(seconds=2)
    recorder.fail = None
    clock.advance(timedelta(seconds=2))
    assert svc.dispatch_events() == 1 and len(recorder.events) == 1
    assert outbox_rows(store)[0].delivered_at is not None


def test_a_dispatcher_that_dies_mid_batch_is_redelivered_after_the_lease(svc, store, recorder,
                                                                         clock):
    from inmail_guard.store import outbox

    svc.send(msg())
    assert len(outbox.claim_due(store, clock(), 10)) == 1  # claimed, then the process "dies"
    assert svc.dispatch_events() == 0
    clock.advance(outbox.LEASE)
    assert svc.dispatch_events() == 1


def test_background_dispatcher_delivers_and_expires(svc, recorder, clock):
    svc.send(msg())
    clock.advance(timedelta(days=8))
    svc.start_dispatcher(interval=0.02)
    try:
        deadline = time.monotonic() + 10
        while len(recorder.events) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        svc.stop_dispatcher()
    assert [e["type"] for e in recorder.events] == ["inmail.sent", "inmail.expired"]


def test_jsonl_sink_from_environment(svc, tmp_path, monkeypatch):
    path = tmp_path / "events.jsonl"
    monkeypatch.setenv(sinks.JSONL_ENV, str(path))
    inmail = svc.send(msg()).inmail
    svc.open(inmail.id, "bob")
    assert svc.dispatch_events() == 2
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [e["type"] for e in lines] == ["inmail.sent", "inmail.opened"]


class _Hook(BaseHTTPRequestHandler):
    status = 200
    received: list[tuple[bytes, dict]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append((body, dict(self.headers)))
        self.send_response(_Hook.status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook_server():
    _Hook.status, _Hook.received = 200, []
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks/inmail"
    server.shutdown()
    server.server_close()


def test_signed_webhook_with_retries(svc, store, clock, webhook_server, monkeypatch):
    monkeypatch.setenv(sinks.WEBHOOK_URL_ENV, webhook_server)
    monkeypatch.setenv(sinks.WEBHOOK_SECRET_ENV, "s3cret")
    svc.send(msg(crm={"account_id": "A-1"}))
    _Hook.status = 503
    assert svc.dispatch_events() == 0
    assert outbox_rows(store)[0].attempts == 1 and "503" in outbox_rows(store)[0].last_error
    _Hook.status = 200
    clock.advance(timedelta(seconds=1))
    assert svc.dispatch_events() == 1
    body, headers = _Hook.received[-1]
    assert sinks.verify(body, headers[sinks.SIGNATURE_HEADER], "s3cret")
    assert not sinks.verify(body, headers[sinks.SIGNATURE_HEADER], "wrong")
    event = json.loads(body)
    assert event["type"] == "inmail.sent" and event["crm"] == {"account_id": "A-1"}
    assert headers[sinks.EVENT_ID_HEADER] == event["event_id"]


def test_webhook_down_keeps_events_queued(svc, store, monkeypatch):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(sinks.WEBHOOK_URL_ENV, f"http://127.0.0.1:{port}/")
    monkeypatch.setenv(sinks.WEBHOOK_SECRET_ENV, "s3cret")
    monkeypatch.setenv(sinks.WEBHOOK_TIMEOUT_ENV, "2")
    svc.send(msg())
    assert svc.dispatch_events() == 0
    (row,) = outbox_rows(store)
    assert row.delivered_at is None and row.attempts == 1


def test_webhook_requires_a_secret():
    with pytest.raises(ValueError, match="SECRET"):
        sinks.configured_sinks({sinks.WEBHOOK_URL_ENV: "http://127.0.0.1:1/"})
