"""``serve --dispatch-events`` (``Settings.dispatch_events``): the app's own service delivers
outbox events to the configured sinks in the background. (``store_url`` comes before
``make_client`` so the app is closed before its schema is dropped.)"""

from __future__ import annotations

import json
import time

from inmail_guard.plugins import sinks
from service.cast import MEMBERS

from .conftest import SVC, member_body

MESSAGE = {"message": {"sender_id": "alice", "recipient_id": "bob", "subject": "Hello",
                       "body": "Hi Bob, would you be open to a chat?"}}


def test_the_app_dispatches_events_when_asked(store_url, make_client, tmp_path, monkeypatch):
    out = tmp_path / "events.jsonl"
    monkeypatch.setenv(sinks.JSONL_ENV, str(out))
    client = make_client(db=store_url, dispatch_events=True)
    for member in MEMBERS[:5]:
        client.put(f"/v1/members/{member.id}", json=member_body(plan=member.plan), headers=SVC)
    sent = client.post("/v1/inmails", json=MESSAGE, headers=SVC)
    assert sent.status_code == 201
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (out.exists() and out.read_text()):
        time.sleep(0.05)
    (event,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert event["type"] == "inmail.sent"
    assert event["inmail_id"] == sent.json()["inmail"]["id"]
