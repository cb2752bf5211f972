"""The Redis Streams sink against a real Redis (``redis_url``: skipped locally without one,
failed under CI=true), and the consumer-group semantics docs/events.md promises."""

from __future__ import annotations

import json
import socket
from datetime import timedelta

import pytest
import redis

from inmail_guard.plugins import redis_sink, sinks
from inmail_guard.store import outbox

from .cast import cast, events, msg


@pytest.fixture
def svc(service):
    return cast(service)


@pytest.fixture
def client(redis_url):
    c = redis.Redis.from_url(redis_url, decode_responses=True)
    yield c
    c.close()


@pytest.fixture
def stream(redis_url, redis_prefix, monkeypatch):
    name = f"{redis_prefix}events"
    monkeypatch.setenv(redis_sink.URL_ENV, redis_url)
    monkeypatch.setenv(redis_sink.STREAM_ENV, name)
    return name


def test_each_event_is_appended_to_the_stream(svc, store, client, stream):
    inmail = svc.send(msg(tags=("q4",), crm={"lead_id": "L-1", "account_id": "A-1"})).inmail
    svc.open(inmail.id, "bob")
    assert svc.dispatch_events() == 2
    entries = client.xrange(stream)
    assert [fields["type"] for _, fields in entries] == ["inmail.sent", "inmail.opened"]
    for (_, fields), queued in zip(entries, events(store), strict=True):
        assert fields["content_type"] == "application/json"
        assert json.loads(fields["event"]) == queued
        assert fields["event_id"] == queued["event_id"]
        assert "body" not in queued and "subject" not in queued


def test_cloudevents_format_on_the_stream(svc, client, stream, monkeypatch):
    from cloudevents.core.formats.json import JSONFormat

    monkeypatch.setenv(redis_sink.FORMAT_ENV, "cloudevents")
    svc.send(msg())
    assert svc.dispatch_events() == 1
    ((_, fields),) = client.xrange(stream)
    assert fields["content_type"] == "application/cloudevents+json"
    event = JSONFormat().read(None, fields["event"])
    assert event.get_id() == fields["event_id"] and event.get_type() == "inmail.sent"
    assert event.get_data()["event_id"] == fields["event_id"]


def test_redis_down_loses_nothing(svc, store, clock, client, stream, redis_url, monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(redis_sink.URL_ENV, f"redis://127.0.0.1:{port}/0")
    svc.send(msg())
    assert svc.dispatch_events() == 0
    assert outbox.pending_count(store) == 1
    clock.advance(timedelta(seconds=1))
    monkeypatch.setenv(redis_sink.URL_ENV, redis_url)
    assert svc.dispatch_events() == 1
    assert outbox.pending_count(store) == 0
    assert len(client.xrange(stream)) == 1


def test_maxlen_trims_the_stream_about_that_long(client, redis_url, redis_prefix):
    sink = redis_sink.RedisStreamSink(redis_url, f"{redis_prefix}trimmed", maxlen=1)
    for i in range(300):
        sink.inmail_guard_event(event={"event_id": f"e{i}", "type": "inmail.sent"})
    assert client.xlen(f"{redis_prefix}trimmed") < 300  # ~: Redis trims whole nodes


@pytest.mark.parametrize(("env", "message"), [
    ({redis_sink.FORMAT_ENV: "cloudevents-binary"}, "INMAIL_GUARD_REDIS_FORMAT: expected"),
    ({redis_sink.MAXLEN_ENV: "lots"}, "INMAIL_GUARD_REDIS_MAXLEN: expected a whole number"),
    ({redis_sink.MAXLEN_ENV: "0"}, "INMAIL_GUARD_REDIS_MAXLEN: expected a whole number"),
    ({redis_sink.URL_ENV: "http://127.0.0.1/"}, "INMAIL_GUARD_REDIS_URL: "),
])
def test_bad_redis_settings_are_refused_by_name(env, message):
    with pytest.raises(ValueError, match=message):
        sinks.configured_sinks({redis_sink.URL_ENV: "redis://127.0.0.1:6379/0", **env})


def test_consumer_groups_as_documented(svc, client, stream):
    """docs/events.md#redis-streams: every group gets every event; within a group each entry
    goes to one consumer; an unacknowledged entry stays pending and another consumer claims it
    after the consumer that read it died; consumers de-duplicate on event_id."""
    client.xgroup_create(stream, "crm", id="0", mkstream=True)
    client.xgroup_create(stream, "analytics", id="0", mkstream=True)
    for recipient in ("bob", "jess", "rita"):
        assert svc.send(msg(recipient=recipient)).accepted
    assert svc.dispatch_events() == 3

    first = client.xreadgroup("crm", "worker-1", {stream: ">"}, count=2)[0][1]
    rest = client.xreadgroup("crm", "worker-2", {stream: ">"}, count=10)[0][1]
    assert len(first) == 2 and len(rest) == 1  # shared out within the group
    everything = client.xreadgroup("analytics", "a-1", {stream: ">"}, count=10)[0][1]
    assert len(everything) == 3  # and all of it to another group

    # worker-2 handles its entry and acknowledges it; worker-1 dies before it does
    assert client.xack(stream, "crm", rest[0][0]) == 1
    assert client.xpending(stream, "crm")["pending"] == 2
    # after it was idle long enough, another consumer claims it (min_idle_time 0 here)
    _, claimed, _ = client.xautoclaim(stream, "crm", "worker-2", min_idle_time=0,
                                      start_id="0-0")
    assert [entry_id for entry_id, _ in claimed] == [entry_id for entry_id, _ in first]
    seen: set[str] = set()
    for _, fields in claimed + first:  # delivered twice: once to each worker
        seen.add(fields["event_id"])
    assert len(seen) == 2
    assert client.xack(stream, "crm", *[entry_id for entry_id, _ in claimed]) == 2
    assert client.xpending(stream, "crm")["pending"] == 0


def test_the_documented_consumer_handles_each_event_once_and_resumes_its_pending(
        svc, client, stream):
    import re
    from pathlib import Path

    page = (Path(__file__).parents[2] / "docs" / "events.md").read_text()
    (code,) = [m for m in re.findall(r"```python\n(.*?)```", page, re.S) if "def consume" in m]
    namespace: dict = {}
    exec(code, namespace)
    consume = namespace["consume"]
    client.xgroup_create(stream, "crm", id="0", mkstream=True)
    for recipient in ("bob", "jess", "rita"):
        svc.send(msg(recipient=recipient))
    assert svc.dispatch_events() == 3

    class Crash(Exception):
        pass

    handled: list[str] = []

    def crash_on_second(event):
        if len(handled) == 1:
            raise Crash  # dies before acknowledging the second event
        handled.append(event["event_id"])

    with pytest.raises(Crash):
        consume(client, crash_on_second, stream=stream)

    def handle(event):
        handled.append(event["event_id"])
        if len(handled) == 3:
            raise Crash  # stop the loop once everything is in

    with pytest.raises(Crash):
        consume(client, handle, stream=stream)
    ids = [fields["event_id"] for _, fields in client.xrange(stream)]
    assert handled == ids  # the unacknowledged one came back first, then the new one
