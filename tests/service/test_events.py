"""Outbox events: written with the change, dispatched at least once, retried with backoff;
built-in sinks (JSON Lines file, signed webhook) against a local HTTP server."""

from __future__ import annotations

import json
import os
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


class SlowSink:
    @hookimpl
    def inmail_guard_event(self, event: dict) -> None:
        time.sleep(0.3)


def test_a_slow_sink_stops_the_batch_at_half_the_lease(svc, store, clock, monkeypatch):
    from inmail_guard.store import outbox

    for i in range(4):
        svc.send(msg(recipient="bob" if i % 2 else "rita", subject=f"s{i}"))
    queued = len(outbox_rows(store))
    monkeypatch.setattr(outbox, "LEASE", timedelta(seconds=1))
    svc.plugins.pm.register(SlowSink(), name="slow")  # 0.3 s each: the 0.5 s budget fits two
    assert svc.dispatch_events() == 2
    rows = outbox_rows(store)
    assert [r.delivered_at is not None for r in rows] == [True, True] + [False] * (queued - 2)
    assert all(r.next_attempt_at == clock() for r in rows[2:])  # given back, due at once
    assert svc.dispatch_events() == 2  # the next round takes them without waiting the lease


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


def test_background_dispatcher_purges_old_delivered_events(svc, store, recorder, clock):
    svc.event_retention = timedelta(days=30)
    svc.send(msg())
    assert svc.dispatch_events() == 1
    clock.advance(timedelta(days=31))
    svc.start_dispatcher(interval=0.02, expire_every=0.02)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and [r.type for r in outbox_rows(store)] != [
                "inmail.expired"]:
            time.sleep(0.02)
    finally:
        svc.stop_dispatcher()
    # inmail.sent was delivered 31 days ago: purged; the expiry it led to is kept.
    assert [r.type for r in outbox_rows(store)] == ["inmail.expired"]


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


def test_a_jsonl_write_that_fails_part_way_is_cut_back_off(tmp_path, monkeypatch):
    path = tmp_path / "events.jsonl"
    sink = sinks.JsonlSink(path)
    sink.inmail_guard_event({"event_id": "a", "type": "x"})
    real_write = os.write

    def half_then_full(fd, data):  # the disk fills up in the middle of the line
        real_write(fd, bytes(data[:5]))
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sinks.os, "write", half_then_full)
    with pytest.raises(OSError, match="No space left"):
        sink.inmail_guard_event({"event_id": "b", "type": "x"})
    monkeypatch.setattr(sinks.os, "write", real_write)
    sink.inmail_guard_event({"event_id": "b", "type": "x"})  # the outbox's retry
    events = [json.loads(line) for line in path.read_text().splitlines()]
    assert [e["event_id"] for e in events] == ["a", "b"]


def test_a_webhook_delivery_is_bounded_in_all(svc, store, monkeypatch):
    import socket

    def trickle(server: socket.socket) -> None:  # answers one byte a second, for ever
        conn, _ = server.accept()
        with conn:
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok":
                try:
                    conn.send(bytes([byte]))
                except OSError:
                    return
                time.sleep(0.4)

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    threading.Thread(target=trickle, args=(server,), daemon=True).start()
    monkeypatch.setenv(sinks.WEBHOOK_URL_ENV, f"http://127.0.0.1:{server.getsockname()[1]}/")
    monkeypatch.setenv(sinks.WEBHOOK_SECRET_ENV, "s3cret")
    monkeypatch.setenv(sinks.WEBHOOK_TIMEOUT_ENV, "1")  # each read takes 0.4 s: never times out
    svc.send(msg())
    started = time.monotonic()
    assert svc.dispatch_events() == 0
    assert time.monotonic() - started < 3  # without the deadline: ~16 s, a read at a time
    (row,) = outbox_rows(store)
    assert row.delivered_at is None and row.attempts == 1
    assert "webhook delivery took longer than 1s" in row.last_error
    server.close()


@pytest.mark.parametrize("value", ["abc", "0", "-1", "nan", "inf"])
def test_a_bad_webhook_timeout_is_refused_with_its_name(value):
    env = {sinks.WEBHOOK_URL_ENV: "http://127.0.0.1:1/", sinks.WEBHOOK_SECRET_ENV: "s",
           sinks.WEBHOOK_TIMEOUT_ENV: value}
    with pytest.raises(ValueError) as caught:
        sinks.configured_sinks(env)
    assert str(caught.value) == (f"INMAIL_GUARD_WEBHOOK_TIMEOUT: expected a number of seconds"
                                 f" above 0, such as 5 or 2.5; found {value!r}")


def test_webhook_requires_a_secret():
    with pytest.raises(ValueError, match="SECRET"):
        sinks.configured_sinks({sinks.WEBHOOK_URL_ENV: "http://127.0.0.1:1/"})


def test_purge_deletes_only_events_delivered_before_the_retention(svc, store, recorder, clock):
    svc.event_retention = timedelta(days=30)
    svc.send(msg(subject="old, delivered"))
    svc.dispatch_events()
    svc.send(msg(subject="old, undelivered"))  # its sink fails for good
    recorder.fail = ConnectionError("sink down")
    svc.dispatch_events()
    clock.advance(timedelta(days=20))
    recorder.fail = None
    svc.send(msg(subject="recent, delivered"))
    clock.advance(timedelta(days=5))
    svc.dispatch_events()  # delivers the retried event too: delivered now, not 30 days ago
    (stuck,) = [r for r in outbox_rows(store) if r.attempts > 1]
    clock.advance(timedelta(days=11))  # first delivery 36 days ago, the others 11 days ago
    assert svc.purge_events() == 1
    rows = outbox_rows(store)
    assert len(rows) == 2 and stuck.event_id in {r.event_id for r in rows}
    assert svc.purge_events() == 0


def test_purge_keeps_an_undelivered_event_however_old(svc, store, recorder, clock):
    svc.event_retention = timedelta(days=1)
    svc.send(msg())
    recorder.fail = ConnectionError("sink down")
    svc.dispatch_events()
    clock.advance(timedelta(days=400))
    assert svc.purge_events() == 0
    (row,) = outbox_rows(store)
    assert row.delivered_at is None and row.attempts == 1


def test_purge_runs_in_batches_and_off_keeps_everything(svc, store, recorder, clock):
    from inmail_guard.store import outbox

    for i in range(5):
        svc.send(msg(subject=f"s{i}"))
    assert svc.dispatch_events() == 5
    clock.advance(timedelta(days=31))
    svc.event_retention = None
    assert svc.purge_events() == 0 and len(outbox_rows(store)) == 5
    assert outbox.purge_delivered(store, clock(), batch=2) == 5  # 2 + 2 + 1
    assert outbox_rows(store) == []


@pytest.mark.parametrize(("value", "expected"), [
    (None, timedelta(days=30)), ("7d", timedelta(days=7)), ("off", None), (" OFF ", None)])
def test_events_retention_from_the_environment(value, expected):
    from inmail_guard.store import outbox

    env = {} if value is None else {"INMAIL_GUARD_EVENTS_RETENTION": value}
    assert outbox.retention_from_env(env) == expected


@pytest.mark.parametrize(("value", "message"), [
    ("30", "INMAIL_GUARD_EVENTS_RETENTION: expected a duration such as 7d, 24h, 30m or 5s (a"
           " whole number and one of s, m, h, d, w), found '30', or off"),
    ("0s", "INMAIL_GUARD_EVENTS_RETENTION: must be longer than 0s; use off to keep delivered"
           " events forever"),
])
def test_a_bad_events_retention_is_refused_with_its_name(value, message):
    from inmail_guard.store import outbox

    with pytest.raises(ValueError) as info:
        outbox.retention_from_env({"INMAIL_GUARD_EVENTS_RETENTION": value})
    assert str(info.value) == message


def test_the_service_refuses_a_bad_event_retention(store):
    import inmail_guard as ig
    from inmail_guard.service import InMailService

    with pytest.raises(ValueError, match="event_retention must be a positive timedelta or None"):
        InMailService(ig.default_policy(), store, event_retention=timedelta(0))


# --- CloudEvents and Standard Webhooks (opt-in settings of the webhook sink) -----------------

WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def _deliver_one(svc, webhook_server, monkeypatch, **env):
    monkeypatch.setenv(sinks.WEBHOOK_URL_ENV, webhook_server)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    svc.send(msg(tags=("q3",), crm={"lead_id": "L-9"}))
    assert svc.dispatch_events() == 1
    return _Hook.received[-1]


def test_webhook_in_cloudevents_structured_mode(svc, webhook_server, monkeypatch):
    from cloudevents.core.bindings.http import HTTPMessage, from_http
    from cloudevents.core.formats.json import JSONFormat

    body, headers = _deliver_one(svc, webhook_server, monkeypatch, **{
        sinks.WEBHOOK_SECRET_ENV: "s3cret", sinks.WEBHOOK_FORMAT_ENV: "cloudevents"})
    assert headers["Content-Type"] == "application/cloudevents+json"
    assert sinks.verify(body, headers[sinks.SIGNATURE_HEADER], "s3cret")
    received = from_http(HTTPMessage(headers, body), JSONFormat())
    data = received.get_data()
    assert received.get_specversion() == "1.0" and received.get_id() == data["event_id"]
    assert received.get_type() == "inmail.sent" and received.get_source() == "inmail-guard"
    assert received.get_subject() == data["inmail_id"]
    assert received.get_time().isoformat().replace("+00:00", "Z") == data["occurred_at"]
    assert data["crm"] == {"lead_id": "L-9"} and data["tags"] == ["q3"]
    assert "body" not in data and "subject" not in data


def test_webhook_in_cloudevents_binary_mode(svc, webhook_server, monkeypatch):
    from cloudevents.core.bindings.http import HTTPMessage, from_http
    from cloudevents.core.formats.json import JSONFormat

    body, headers = _deliver_one(svc, webhook_server, monkeypatch, **{
        sinks.WEBHOOK_SECRET_ENV: "s3cret", sinks.WEBHOOK_FORMAT_ENV: "cloudevents-binary",
        sinks.CLOUDEVENTS_SOURCE_ENV: "//crm.example/inmail"})
    assert headers["Content-Type"] == "application/json"
    assert headers["ce-specversion"] == "1.0" and headers["ce-type"] == "inmail.sent"
    assert headers["ce-source"] == "//crm.example/inmail"
    event = json.loads(body)  # the body is the event's own JSON
    assert headers["ce-id"] == event["event_id"] == headers[sinks.EVENT_ID_HEADER]
    assert sinks.verify(body, headers[sinks.SIGNATURE_HEADER], "s3cret")
    received = from_http(HTTPMessage(headers, body), JSONFormat())
    assert received.get_data() == event and received.get_subject() == event["inmail_id"]


def test_webhook_with_standard_webhooks_signature(svc, store, clock, webhook_server,
                                                  monkeypatch):
    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

    monkeypatch.setenv(sinks.WEBHOOK_URL_ENV, webhook_server)
    monkeypatch.setenv(sinks.WEBHOOK_SECRET_ENV, WHSEC)
    monkeypatch.setenv(sinks.WEBHOOK_SIGNATURE_ENV, "standard")
    svc.send(msg())
    _Hook.status = 503  # fails now, delivered on a retry much later (service clock)
    assert svc.dispatch_events() == 0
    _Hook.status = 200
    clock.advance(timedelta(hours=3))
    assert svc.dispatch_events() == 1
    (_, first), (body, headers) = _Hook.received
    event = json.loads(body)
    assert headers["webhook-id"] == first["webhook-id"] == event["event_id"]
    assert sinks.SIGNATURE_HEADER not in headers
    # the retry is signed with its own timestamp, inside the receiver's replay window
    assert Webhook(WHSEC).verify(body, headers) == event
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 32).verify(body, headers)
    with pytest.raises(WebhookVerificationError):  # replayed outside the window (5 min)
        stale = {**headers, "webhook-timestamp": str(int(time.time()) - 600)}
        Webhook(WHSEC).verify(body, stale)
    with pytest.raises(WebhookVerificationError):  # the id is signed too
        Webhook(WHSEC).verify(body, {**headers, "webhook-id": "other"})


def test_standard_webhooks_signature_over_cloudevents(svc, webhook_server, monkeypatch):
    from standardwebhooks.webhooks import Webhook

    body, headers = _deliver_one(svc, webhook_server, monkeypatch, **{
        sinks.WEBHOOK_SECRET_ENV: WHSEC, sinks.WEBHOOK_SIGNATURE_ENV: "standard",
        sinks.WEBHOOK_FORMAT_ENV: "cloudevents"})
    data = Webhook(WHSEC).verify(body, headers)
    assert data["specversion"] == "1.0" and data["id"] == headers["webhook-id"]


def test_the_default_webhook_request_is_unchanged(svc, webhook_server, monkeypatch):
    body, headers = _deliver_one(svc, webhook_server, monkeypatch,
                                 **{sinks.WEBHOOK_SECRET_ENV: "s3cret"})
    assert body == sinks.encode(json.loads(body))
    assert headers["Content-Type"] == "application/json"
    assert not any(k.lower().startswith(("ce-", "webhook-")) for k in headers)
    assert sinks.verify(body, headers[sinks.SIGNATURE_HEADER], "s3cret")


@pytest.mark.parametrize(("env", "message"), [
    ({sinks.WEBHOOK_FORMAT_ENV: "xml"}, "INMAIL_GUARD_WEBHOOK_FORMAT: expected one of"),
    ({sinks.WEBHOOK_SIGNATURE_ENV: "md5"}, "INMAIL_GUARD_WEBHOOK_SIGNATURE: expected one of"),
    ({sinks.WEBHOOK_SIGNATURE_ENV: "standard"}, "INMAIL_GUARD_WEBHOOK_SECRET: a Standard"),
    ({sinks.WEBHOOK_SIGNATURE_ENV: "standard", sinks.WEBHOOK_SECRET_ENV: "whsec_***"},
     "not base64"),
    ({sinks.WEBHOOK_SIGNATURE_ENV: "standard", sinks.WEBHOOK_SECRET_ENV: "whsec_c2hvcnQ="},
     "5 bytes long"),
])
def test_bad_webhook_format_or_signature_settings_are_refused_by_name(env, message):
    base = {sinks.WEBHOOK_URL_ENV: "http://127.0.0.1:9/", sinks.WEBHOOK_SECRET_ENV: "s3cret"}
    with pytest.raises(ValueError, match=message):
        sinks.configured_sinks({**base, **env})


def test_backlog_counts_pending_and_failing_and_dates_the_oldest(svc, store, recorder, clock):
    from inmail_guard.store import outbox

    assert outbox.backlog(store) == outbox.Backlog(0, 0, None)
    svc.send(msg())
    first_at = clock()
    clock.advance(timedelta(minutes=1))
    svc.send(msg(recipient="jess"))
    recorder.fail = RuntimeError("down")
    assert svc.dispatch_events() == 0
    backlog = outbox.backlog(store)
    assert (backlog.pending, backlog.failing) == (2, 2)
    assert backlog.oldest_created_at == first_at and outbox.pending_count(store) == 2
    recorder.fail = None
    clock.advance(timedelta(hours=1))
    assert svc.dispatch_events() == 2
    assert outbox.backlog(store) == outbox.Backlog(0, 0, None)
