"""The stateful API over a real InMailService: a fresh SQLite file, and a fresh PostgreSQL
schema (``store_url`` from tests/conftest.py; marked ``postgres``)."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from inmail_guard.api.models import (
    ConversationOut,
    InboxOut,
    InMailOut,
    ReportOut,
    RetractOut,
    SendOut,
    SentOut,
)
from inmail_guard.service.results import ManualClock

from .conftest import ADMIN, SVC, member_body

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
BODY = "Hi Bob, I enjoyed your **talk**. Open to a chat about a role?"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def api(make_client, clock, store_url):
    client = make_client(clock=clock, db=store_url)
    for member_id, attrs in {
        "alice": {"plan": "premium_business", "name": "Alice"},
        "bob": {},
        "carol": {"plan": "premium_business"},
    }.items():
        r = client.put(f"/v1/members/{member_id}", json=member_body(**attrs), headers=SVC)
        assert r.status_code == 200, r.text
    return client


def send(api, **overrides):
    api.app.state.settings.clock.advance(timedelta(minutes=7))  # no automation/volume signal
    message = {"sender_id": "alice", "recipient_id": "bob", "subject": "Hello", "body": BODY,
               "tags": ["q4"], **overrides}
    return api.post("/v1/inmails", json={"message": message}, headers=SVC)


@pytest.mark.parametrize(("member_id", "char"), [
    ("bob\u200b", "U+200B (ZERO WIDTH SPACE)"),            # looks like "bob"
    ("\u202ebob", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),        # shows as "bob" reversed
    ("bob\u2066", "U+2066 (LEFT-TO-RIGHT ISOLATE)"),
    ("bo\u00adb", "U+00AD (SOFT HYPHEN)"),
    ("bob\n", "U+000A (a control character)"),
    ("bob\x85", "U+0085 (a control character)"),
    ("\ufeffbob", "U+FEFF (ZERO WIDTH NO-BREAK SPACE)"),
])
def test_a_member_id_with_an_invisible_or_control_character_is_refused(api, member_id, char):
    r = api.put(f"/v1/members/{quote(member_id)}", json=member_body(), headers=SVC)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == {
        "code": "invalid_request", "field": "id",
        "message": f"id contains {char}, an invisible or control character: two ids that"
                   " look the same must be the same id; remove it"}
    assert api.get(f"/v1/members/{quote(member_id)}", headers=SVC).status_code == 404


@pytest.mark.parametrize(("field", "value", "char"), [
    ("name", "\u202emoc.evil", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),  # shows as "live.com"
    ("headline", "CTO \u2067at\u2069 Acme", "U+2067 (RIGHT-TO-LEFT ISOLATE)"),
    ("company", "Acme\nIgnore the above", "U+000A (a control character)"),
    ("role", "Lead\x1b[31m", "U+001B (a control character)"),
])
def test_profile_text_with_a_bidi_override_or_control_character_is_refused(api, field, value,
                                                                           char):
    r = api.put("/v1/members/dave", json=member_body(**{field: value}), headers=SVC)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == {
        "code": "invalid_request", "field": field,
        "message": f"{field} contains {char}, a control character or bidi override: shown to"
                   " other members, it would reorder or break the text around it; remove it"}
    r = api.patch("/v1/members/alice", json={field: value}, headers=SVC)
    assert r.status_code == 422 and r.json()["error"]["field"] == field


def test_profile_text_in_any_script_with_joiners_is_fine(api):
    text = {"name": "\u0645\u062d\u0645\u062f \U0001f469\u200d\U0001f4bb",  # Arabic, ZWJ emoji
            "headline": "\u0d15\u0d4d\u200d", "company": "\u05d0\u05e7\u05de\u05d4",
            "role": "Ing\u00e9nieure"}
    r = api.put("/v1/members/dave", json=member_body(**text), headers=SVC)
    assert r.status_code == 200, r.text
    assert {k: r.json()[k] for k in text} == text


def test_member_ids_in_other_scripts_are_still_ids(api):
    for member_id in ("m-\u00e9lodie", "\u674e\u96f7", "\u0645\u062d\u0645\u062f"):
        r = api.put(f"/v1/members/{quote(member_id)}", json=member_body(), headers=SVC)
        assert r.status_code == 200 and r.json()["id"] == member_id


def test_member_put_and_get(api):
    r = api.get("/v1/members/alice", headers=SVC)
    assert r.status_code == 200
    assert r.json()["plan"] == "premium_business" and r.json()["name"] == "Alice"
    r = api.put("/v1/members/dave", json=member_body(plan="gold"), headers=SVC)
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_plan"
    r = api.put("/v1/members/dave", json={**member_body(), "x": 1}, headers=SVC)
    assert r.status_code == 422 and r.json()["error"]["field"] == "x"
    assert api.get("/v1/members/nobody", headers=SVC).status_code == 404


def test_member_flags_must_be_json_booleans(api):
    for value in ("yes", 1, "true"):
        r = api.put("/v1/members/dave", json=member_body(is_employee=value), headers=SVC)
        assert r.status_code == 422
        error = r.json()["error"]
        assert (error["code"], error["field"], error["message"]) == (
            "validation_error", "is_employee", "is_employee: input should be a valid boolean")
        r = api.patch("/v1/members/alice", json={"is_employee": value}, headers=SVC)
        assert (r.status_code, r.json()["error"]["field"]) == (422, "is_employee")
    assert api.get("/v1/members/dave", headers=SVC).status_code == 404
    r = api.put("/v1/members/dave", json=member_body(is_employee=True), headers=SVC)
    assert r.status_code == 200 and r.json()["is_employee"] is True


def test_a_send_with_a_wrongly_typed_field_is_422_and_spends_nothing(api):
    r = send(api, client={"automated": "no"})
    assert r.status_code == 422
    error = r.json()["error"]
    assert (error["field"], error["message"]) == (
        "message.client.automated", "message.client.automated: input should be a valid boolean")
    assert api.get("/v1/members/alice/credits", headers=SVC).json()["used"] == 0


def test_a_photo_url_other_than_http_or_https_is_422_naming_it(api):
    r = api.put("/v1/members/dave", json=member_body(photo_url="javascript:alert(1)"),
                headers=SVC)
    assert r.status_code == 422
    error = r.json()["error"]
    assert (error["code"], error["field"], error["message"]) == (
        "validation_error", "photo_url",
        "photo_url: must be an http:// or https:// URL with a host")
    assert "alert" not in r.text  # the value is not echoed
    assert api.get("/v1/members/dave", headers=SVC).status_code == 404
    r = api.put("/v1/members/dave", json=member_body(photo_url="https://img.example/d.jpg"),
                headers=SVC)
    assert r.status_code == 200 and r.json()["photo_url"] == "https://img.example/d.jpg"


def test_send_accepted_is_201_with_decision_and_inmail(api):
    r = send(api)
    assert r.status_code == 201, r.text
    data = r.json()
    SendOut.model_validate(data)
    assert data["decision"]["outcome"] == "accepted"
    assert data["inmail"]["status"] == "delivered"
    assert "body" not in data["inmail"]
    assert data["decision"]["policy"]["version"].startswith("sha256:")
    credits = api.get("/v1/members/alice/credits", headers=SVC).json()
    assert credits["used"] == 1 and credits["remaining"] == 9


def test_send_waits_in_the_threadpool_while_another_thread_writes(make_client, clock,
                                                                   tmp_path):
    """SQLite sends run on the event loop only when they can start at once; with the write
    lock held elsewhere the route hands the send to the threadpool, which waits for it."""
    api = make_client(clock=clock, db=f"sqlite:///{tmp_path}/wait.db")
    for member_id in ("alice", "bob"):
        plan = {"plan": "premium_business"} if member_id == "alice" else {}
        assert api.put(f"/v1/members/{member_id}", json=member_body(**plan),
                       headers=SVC).status_code == 200
    store = api.app.state.services.built().store
    assert store.write_lock is not None
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store.writer():
            held.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    assert held.wait(10)
    timer = threading.Timer(0.3, release.set)
    timer.start()
    started = time.monotonic()
    try:
        r = send(api)
    finally:
        release.set()
        holder.join(10)
    assert r.status_code == 201, r.text
    assert time.monotonic() - started >= 0.25  # it waited for the lock instead of failing
    assert api.get("/v1/members/alice/credits", headers=SVC).json()["used"] == 1


def test_send_rejected_is_403_with_decision_and_spends_nothing(api):
    api.patch("/v1/members/bob", json={"accepts_inmail": False}, headers=SVC)
    r = send(api)
    assert r.status_code == 403
    data = r.json()
    assert data["inmail"] is None
    assert [x["code"] for x in data["decision"]["reasons"]] == ["recipient_opted_out"]
    assert api.get("/v1/members/alice/credits", headers=SVC).json()["used"] == 0


def test_idempotency_header_replays_and_conflicts(api):
    headers = {**SVC, "Idempotency-Key": "k-1"}
    message = {"sender_id": "alice", "recipient_id": "bob", "subject": "Hi", "body": BODY}
    first = api.post("/v1/inmails", json={"message": message}, headers=headers)
    again = api.post("/v1/inmails", json={"message": message}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["replayed"] is True
    assert again.json()["decision"]["decision_id"] == first.json()["decision"]["decision_id"]
    assert api.get("/v1/members/alice/credits", headers=SVC).json()["used"] == 1
    changed = api.post("/v1/inmails", json={"message": {**message, "subject": "Other"}},
                       headers=headers)
    assert changed.status_code == 409
    assert changed.json()["error"]["code"] == "idempotency_conflict"
    both = api.post("/v1/inmails", json={"message": {**message, "idempotency_key": "k-2"}},
                    headers=headers)
    assert both.status_code == 422 and both.json()["error"]["field"] == "message.idempotency_key"


def test_idempotency_field_is_honoured(api):
    a = send(api, idempotency_key="f-1")
    b = send(api, idempotency_key="f-1")
    assert b.json()["replayed"] is True and a.json()["inmail"]["id"] == b.json()["inmail"]["id"]


def test_send_to_unknown_member_is_404_naming_the_field(api):
    r = send(api, recipient_id="ghost")
    assert r.status_code == 404
    assert r.json()["error"] == {"code": "member_not_found", "message": "no member 'ghost'",
                                 "field": "message.recipient_id"}


@pytest.mark.parametrize(("overrides", "field", "message"), [
    ({"body": "Hi\u0000 Bob"}, "message.body",
     "body contains a NUL character (U+0000); remove it"),
    ({"tags": ["t" * 201]}, "message.tags", "tags is 201 characters long; at most 200"),
    ({"crm": {"lead_id": "L" * 201}}, "message.crm.lead_id",
     "crm.lead_id is 201 characters long; at most 200"),
    ({"idempotency_key": ""}, "message.idempotency_key",
     "idempotency_key is empty; leave it out for a send without one"),
])
def test_send_text_the_store_cannot_hold_is_422_naming_the_field(api, overrides, field,
                                                                 message):
    # On PostgreSQL these were 500s (the driver refused them mid-transaction).
    r = send(api, **overrides)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == {"code": "invalid_request", "message": message, "field": field}
    assert api.get("/v1/members/alice/credits", headers=SVC).json()["used"] == 0


@pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded",
                                          "text/plain; charset=utf-8"])
def test_a_json_body_is_read_as_json_whatever_its_declared_type(api, content_type):
    # As POST /v1/evaluate always did: `curl -d '{...}'` declares form data.
    headers = {**SVC, **({"Content-Type": content_type} if content_type else {})}
    raw = json.dumps(member_body(name="Zed")).encode()
    r = api.put("/v1/members/zed", content=raw, headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Zed"
    r = api.put("/v1/members/zed", content=b"plan=basic", headers=headers)
    assert r.status_code == 400 and r.json()["error"]["code"] == "malformed_json"


@pytest.mark.parametrize(("method", "path"), [
    ("PUT", "/v1/members/{long}"), ("GET", "/v1/members/{long}"),
    ("GET", "/v1/members/{long}/restriction"), ("DELETE", "/v1/members/a/blocks/{long}"),
    ("GET", "/v1/analytics/senders/{long}"), ("GET", "/v1/members/a%00b/inbox")])
def test_member_id_longer_than_the_store_holds_is_422(api, method, path):
    # On every route, as the OpenAPI document says (a GET used to answer 404, a DELETE 204).
    r = api.request(method, path.format(long="m" * 65), headers=SVC,
                    json=member_body() if method == "PUT" else None)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "validation_error"
    assert r.json()["error"]["field"] in ("member_id", "other_id")


def test_a_driver_data_error_is_422_not_500() -> None:
    psycopg_errors = pytest.importorskip("psycopg.errors")
    from inmail_guard.api.errors import map_exception

    mapped = map_exception(psycopg_errors.StringDataRightTruncation("value too long"))
    assert mapped is not None and (mapped.status, mapped.code) == (422, "validation_error")
    assert "value too long" not in mapped.message


def test_lifecycle_open_reply_and_acting_member_checks(api):
    inmail_id = send(api).json()["inmail"]["id"]
    # before the open, the recipient reads everything but the body
    r = api.get(f"/v1/inmails/{inmail_id}?member_id=bob", headers=SVC)
    assert r.status_code == 200 and "body" not in r.json() and r.json()["status"] == "delivered"
    InMailOut.model_validate(r.json())
    # only the recipient opens
    r = api.post(f"/v1/inmails/{inmail_id}/open", json={"member_id": "alice"}, headers=SVC)
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_allowed"
    r = api.post(f"/v1/inmails/{inmail_id}/open", json={"member_id": "bob"}, headers=SVC)
    assert r.status_code == 200
    InMailOut.model_validate(r.json())
    assert r.json()["body"] == BODY and r.json()["status"] == "opened"
    # reading is for the two of them only
    assert api.get(f"/v1/inmails/{inmail_id}?member_id=alice", headers=SVC).status_code == 200
    assert api.get(f"/v1/inmails/{inmail_id}?member_id=bob", headers=SVC).json()["body"] == BODY
    r = api.get(f"/v1/inmails/{inmail_id}?member_id=carol", headers=SVC)
    assert r.status_code == 403
    # only the recipient replies
    r = api.post(f"/v1/inmails/{inmail_id}/reply", json={"member_id": "alice", "body": "x"},
                 headers=SVC)
    assert r.status_code == 403
    r = api.post(f"/v1/inmails/{inmail_id}/reply",
                 json={"member_id": "bob", "body": "Sure, Friday?"}, headers=SVC)
    assert r.status_code == 201, r.text
    conversation = ConversationOut.model_validate(r.json())
    r = api.post(f"/v1/conversations/{conversation.id}/messages",
                 json={"member_id": "alice", "body": "Friday works."}, headers=SVC)
    assert r.status_code == 201
    r = api.get(f"/v1/conversations/{conversation.id}?member_id=bob", headers=SVC)
    assert [m["author_id"] for m in r.json()["messages"]] == ["bob", "alice"]
    r = api.get(f"/v1/conversations/{conversation.id}?member_id=carol", headers=SVC)
    assert r.status_code == 403


def test_inbox_and_sent(api):
    inmail_id = send(api).json()["inmail"]["id"]
    inbox = api.get("/v1/members/bob/inbox", headers=SVC).json()
    InboxOut.model_validate(inbox)
    assert inbox["items"][0]["inmail_id"] == inmail_id
    assert inbox["items"][0]["sender"]["name"] == "Alice"
    assert "body" not in inbox["items"][0]
    sent = api.get("/v1/members/alice/sent?limit=5", headers=SVC).json()
    SentOut.model_validate(sent)
    assert sent["items"][0]["id"] == inmail_id
    assert api.get("/v1/members/ghost/inbox", headers=SVC).status_code == 404
    assert api.get("/v1/members/bob/inbox?limit=0", headers=SVC).status_code == 422


def test_retract_only_sender_and_within_window(api, clock):
    first = send(api).json()["inmail"]["id"]
    r = api.post(f"/v1/inmails/{first}/retract", json={"member_id": "bob"}, headers=SVC)
    assert r.status_code == 403
    r = api.post(f"/v1/inmails/{first}/retract", json={"member_id": "alice"}, headers=SVC)
    assert r.status_code == 200
    RetractOut.model_validate(r.json())
    r = api.post(f"/v1/inmails/{first}/retract", json={"member_id": "alice"}, headers=SVC)
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_retracted"
    second = send(api, subject="Again").json()["inmail"]["id"]
    clock.advance(timedelta(days=8))
    r = api.post(f"/v1/inmails/{second}/retract", json={"member_id": "alice"}, headers=SVC)
    assert r.status_code == 409 and r.json()["error"]["code"] == "retract_window_passed"


def test_expired_inmail_cannot_be_opened(api, clock):
    inmail_id = send(api).json()["inmail"]["id"]
    clock.advance(timedelta(days=8))
    r = api.post(f"/v1/inmails/{inmail_id}/open", json={"member_id": "bob"}, headers=SVC)
    assert r.status_code == 410 and r.json()["error"]["code"] == "inmail_expired"


def test_report_and_admin_lifts_restriction(api):
    ids = []
    for i in range(3):
        api.put(f"/v1/members/r{i}", json=member_body(), headers=SVC)
        ids.append(send(api, recipient_id=f"r{i}", subject=f"S{i}").json()["inmail"]["id"])
    for i, inmail_id in enumerate(ids):
        r = api.post(f"/v1/inmails/{inmail_id}/report",
                     json={"member_id": f"r{i}", "reason": "spam"}, headers=SVC)
        assert r.status_code == 201, r.text
        ReportOut.model_validate(r.json())
    r = api.post(f"/v1/inmails/{ids[0]}/report", json={"member_id": "alice"}, headers=SVC)
    assert r.status_code == 403
    state = api.get("/v1/members/alice/restriction", headers=SVC).json()
    if state["restriction"] is not None:
        assert send(api, recipient_id="carol").status_code == 403
    r = api.post("/v1/members/alice/restriction/lift", json={"note": "ticket 1"}, headers=ADMIN)
    assert r.status_code == 200
    assert r.json()["member_id"] == "alice"
    assert api.get("/v1/members/alice/restriction", headers=SVC).json()["restriction"] is None


def test_connections_and_blocks(api):
    assert api.put("/v1/members/alice/connections/bob", headers=SVC).status_code == 204
    r = send(api)
    assert r.status_code == 403
    assert "recipient_is_connection" in [x["code"] for x in r.json()["decision"]["reasons"]]
    assert api.delete("/v1/members/alice/connections/bob", headers=SVC).status_code == 204
    assert api.put("/v1/members/bob/blocks/alice", headers=SVC).status_code == 204
    r = send(api)
    assert r.status_code == 403
    reason = r.json()["decision"]["reasons"][0]
    assert reason["code"] == "sender_blocked_by_recipient"
    assert "block" not in reason["sender_message"].lower()
    assert api.delete("/v1/members/bob/blocks/alice", headers=SVC).status_code == 204
    assert send(api).status_code == 201
    assert api.put("/v1/members/alice/blocks/ghost", headers=SVC).status_code == 404
    assert api.put("/v1/members/alice/blocks/alice", headers=SVC).status_code == 422


def test_analytics(api):
    inmail_id = send(api).json()["inmail"]["id"]
    api.post(f"/v1/inmails/{inmail_id}/open", json={"member_id": "bob"}, headers=SVC)
    send(api, recipient_id="carol", tags=["other"])
    r = api.get("/v1/analytics/senders/alice?tag=q4", headers=SVC)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["total"]["sent"] == 1 and data["total"]["opened"] == 1
    assert data["filters"]["tag"] == "q4"
    r = api.get("/v1/analytics/senders/alice?since=2026-11-28T00:00:00Z", headers=SVC)
    assert r.json()["total"]["sent"] == 0
    r = api.get("/v1/analytics/senders/alice?since=2026-11-28T00:00:00Z"
                "&until=2026-11-01T00:00:00Z", headers=SVC)
    assert r.status_code == 422 and r.json()["error"]["field"] == "until"
    r = api.get("/v1/analytics/senders/alice?since=yesterday", headers=SVC)
    assert r.status_code == 422 and r.json()["error"]["field"] == "since"


def test_analytics_across_senders_grouped_by_account_lead_and_day(api):
    first = send(api, crm={"account_id": "A-1", "lead_id": "L-1"}).json()["inmail"]["id"]
    send(api, recipient_id="carol", crm={"account_id": "A-1"}, tags=["q1"])
    api.post(f"/v1/inmails/{first}/open", json={"member_id": "bob"}, headers=SVC)
    r = api.get("/v1/analytics?group_by=account", headers=SVC)
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["group_by"] == "account" and data["total"]["sent"] == 2
    ((group),) = data["groups"]
    assert group["key"] == "A-1" and group["open_rate"] == 0.5
    assert {"expiry_rate", "retraction_rate"} <= set(group)
    lead = api.get("/v1/analytics?group_by=lead", headers=SVC).json()["groups"]
    assert [(g["key"], g["sent"]) for g in lead] == [("L-1", 1), (None, 1)]
    days = api.get("/v1/analytics?group_by=day&tag=q4", headers=SVC).json()
    assert [g["key"] for g in days["groups"]] == ["2026-11-27"] and days["total"]["sent"] == 1
    assert api.get("/v1/analytics?group_by=year", headers=SVC).status_code == 422
    r = api.get("/v1/analytics?since=2026-11-28T00:00:00Z&until=2026-11-01T00:00:00Z",
                headers=SVC)
    assert r.status_code == 422 and r.json()["error"]["field"] == "until"
    assert api.get("/v1/analytics").status_code == 401
    for bad in ("since=0001-01-01T00:00:00Z", "until=1700000000", "sender_id=a%00b",
                "format=xml"):
        r = api.get(f"/v1/analytics?{bad}", headers=SVC)
        assert r.status_code == 422, (bad, r.text)


def test_analytics_as_csv(api):
    import csv
    import io

    send(api, crm={"account_id": "=HYPERLINK(1)"})
    send(api, recipient_id="carol", crm={"account_id": "A-2"})
    r = api.get("/v1/analytics?group_by=account&format=csv", headers=SVC)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [(row["row"], row["key"]) for row in rows] == [
        ("group", "'=HYPERLINK(1)"), ("group", "A-2"), ("total", "")]  # no formula runs
    assert rows[-1]["sent"] == "2" and rows[-1]["open_rate"] == "0.0"
    assert list(rows[0]) == ["row", "key", "sent", "delivered", "opened", "replied",
                             "expired", "retracted", "open_rate", "response_rate",
                             "expiry_rate", "retraction_rate"]


def test_unknown_inmail_is_404(api):
    r = api.post("/v1/inmails/im-nope/open", json={"member_id": "bob"}, headers=SVC)
    assert r.status_code == 404 and r.json()["error"]["code"] == "inmail_not_found"
    r = api.get("/v1/inmails/im-nope?member_id=bob", headers=SVC)
    assert r.status_code == 404


def test_acting_member_is_required(api):
    r = api.post("/v1/inmails/im-x/open", json={}, headers=SVC)
    assert r.status_code == 422 and r.json()["error"]["field"] == "member_id"
    r = api.get("/v1/inmails/im-x", headers=SVC)
    assert r.status_code == 422 and r.json()["error"]["field"] == "member_id"


def test_send_decisions_are_in_metrics(api):
    send(api)
    assert 'inmail_guard_decisions_total{outcome="accepted"} 1.0' in api.get("/metrics").text


def test_readyz_ok_with_database(api):
    r = api.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ready",
                        "checks": {"policy": "ok", "model": "ok", "database": "ok"}}


def test_readyz_503_when_database_unusable(make_client, tmp_path):
    client = make_client(db=str(tmp_path / "missing-dir" / "x.db"))
    r = client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["status"] == "not_ready"
    assert r.json()["checks"]["database"].startswith("unavailable")
    r = client.get("/v1/members/alice/credits", headers=SVC)
    assert r.status_code == 503 and r.json()["error"]["code"] == "database_unavailable"


@pytest.mark.parametrize("raw", [
    b'{"plan": "basic", "name": "\\ud800"}',      # a lone surrogate: not storable text
    b'{"plan": "basic", "name": NaN}',
    b'{"plan": "basic", "name": "\xff"}',        # not UTF-8
])
def test_json_that_json_loads_would_accept_is_malformed(api, raw):
    r = api.put("/v1/members/zed", content=raw,
                headers={**SVC, "Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "malformed_json"


@pytest.mark.parametrize(("method", "path", "raw", "key"), [
    ("post", "/v1/inmails",
     b'{"message": {"sender_id": "alice", "recipient_id": "bob", "subject": "Hello",'
     b' "body": "checked by a proxy", "body": "sent"}}', "message.body"),
    ("put", "/v1/members/zed",
     b'{"plan": "basic", "profile_public": true, "accepts_inmail": true, "is_employee": false,'
     b' "name": null, "photo_url": null, "headline": null, "company": null, "role": null,'
     b' "accepts_inmail": false}', "accepts_inmail"),
    ("post", "/v1/inmails/im_x/open", b'{"member_id": "bob", "member_id": "alice"}',
     "member_id"),
])
def test_a_key_given_twice_is_400_naming_it_not_the_last_one_silently(api, method, path, raw,
                                                                       key):
    # Parsers disagree on which of two equal keys counts: a proxy may check one, we'd use
    # the other. Refused, named, and nothing happens.
    r = getattr(api, method)(path, content=raw,
                             headers={**SVC, "Content-Type": "application/json"})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == {
        "code": "malformed_json",
        "message": f"the request body is not valid JSON: duplicate key '{key}'; give each key"
                   " once"}
    assert api.get("/v1/members/zed", headers=SVC).status_code == 404
    assert api.get("/v1/members/bob/inbox", headers=SVC).json()["items"] == []


def test_lone_surrogate_in_a_send_is_400_not_500(api):
    raw = b'{"message": {"sender_id": "alice", "recipient_id": "bob", "subject": "\\udc00"}}'
    r = api.post("/v1/inmails", content=raw, headers={**SVC, "Content-Type": "application/json"})
    assert r.status_code == 400


# --- PUT replaces every attribute; PATCH changes only what it names (#17) ----------------------


def test_put_requires_every_attribute_and_names_the_missing_ones(api):
    r = api.put("/v1/members/alice", json={"plan": "recruiter_lite"}, headers=SVC)
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["message"] == "profile_public: is required (and 7 more)"
    assert [i["field"] for i in error["issues"]] == [
        "profile_public", "accepts_inmail", "is_employee", "name", "photo_url", "headline",
        "company", "role"]
    member = api.get("/v1/members/alice", headers=SVC).json()
    assert (member["plan"], member["name"]) == ("premium_business", "Alice")  # unchanged


def test_a_plan_upgrade_by_patch_keeps_the_opt_out_and_the_name(api):
    api.put("/v1/members/dana", json=member_body(accepts_inmail=False, profile_public=False,
                                                 name="Dana"), headers=SVC)
    r = api.patch("/v1/members/dana", json={"plan": "recruiter_lite"},
                  headers={**SVC, "Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    assert r.json() == {"id": "dana", "plan": "recruiter_lite", "profile_public": False,
                        "accepts_inmail": False, "is_employee": False, "name": "Dana",
                        "photo_url": None, "headline": None, "company": None, "role": None}
    assert api.get("/v1/members/dana", headers=SVC).json() == r.json()


def test_patch_null_clears_a_nullable_attribute_and_refuses_null_for_others(api):
    r = api.patch("/v1/members/alice", json={"name": None}, headers=SVC)
    assert r.status_code == 200 and r.json()["name"] is None
    r = api.patch("/v1/members/alice", json={"plan": None}, headers=SVC)
    assert r.status_code == 422 and r.json()["error"]["field"] == "plan"
    r = api.patch("/v1/members/alice", json={"accepts_inmail": None}, headers=SVC)
    assert r.status_code == 422 and r.json()["error"]["field"] == "accepts_inmail"
    assert api.get("/v1/members/alice", headers=SVC).json()["plan"] == "premium_business"


@pytest.mark.parametrize(("patch", "status", "code", "field"), [
    ({"plan": "gold"}, 422, "unknown_plan", None),
    ({"colour": "red"}, 422, "validation_error", "colour"),
    ({"photo_url": "javascript:alert(1)"}, 422, "validation_error", "photo_url"),
])
def test_a_bad_patch_is_refused_and_changes_nothing(api, patch, status, code, field):
    before = api.get("/v1/members/alice", headers=SVC).json()
    r = api.patch("/v1/members/alice", json=patch, headers=SVC)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    if field is not None:
        assert r.json()["error"]["field"] == field
    assert api.get("/v1/members/alice", headers=SVC).json() == before


def test_patch_of_an_unknown_member_is_404_and_creates_nothing(api):
    r = api.patch("/v1/members/ghost", json={"plan": "basic"}, headers=SVC)
    assert r.status_code == 404 and r.json()["error"]["code"] == "member_not_found"
    assert api.get("/v1/members/ghost", headers=SVC).status_code == 404


def test_an_empty_patch_changes_nothing_and_returns_the_member(api):
    before = api.get("/v1/members/alice", headers=SVC).json()
    r = api.patch("/v1/members/alice", json={}, headers=SVC)
    assert r.status_code == 200 and r.json() == before


def test_the_recipient_never_sees_the_senders_crm_references_or_tags(api):
    r = send(api, crm={"lead_id": "L-7", "account_id": "A-9"}, tags=["q4-cfo"])
    inmail_id = r.json()["inmail"]["id"]
    as_sender = api.get(f"/v1/inmails/{inmail_id}", params={"member_id": "alice"}, headers=SVC)
    assert as_sender.json()["crm"] == {"lead_id": "L-7", "account_id": "A-9"}
    assert as_sender.json()["tags"] == ["q4-cfo"]
    before = api.get(f"/v1/inmails/{inmail_id}", params={"member_id": "bob"}, headers=SVC)
    opened = api.post(f"/v1/inmails/{inmail_id}/open", json={"member_id": "bob"}, headers=SVC)
    after = api.get(f"/v1/inmails/{inmail_id}", params={"member_id": "bob"}, headers=SVC)
    for seen in (before, opened, after):
        assert seen.status_code == 200, seen.text
        assert (seen.json()["crm"], seen.json()["tags"]) == ({}, [])
        assert "L-7" not in seen.text and "q4-cfo" not in seen.text
    assert opened.json()["body"] == BODY  # the recipient still reads the message itself


def test_conversations_list_and_mark_read_over_http(api):
    inmail_id = send(api).json()["inmail"]["id"]
    r = api.post(f"/v1/inmails/{inmail_id}/reply",
                 json={"member_id": "bob", "body": "Happy to talk, **Tuesday**?"}, headers=SVC)
    assert r.status_code == 201, r.text
    conv_id = r.json()["id"]
    listed = api.get("/v1/members/alice/conversations", headers=SVC)
    assert listed.status_code == 200, listed.text
    (item,) = listed.json()["items"]
    assert (item["id"], item["inmail_id"], item["subject"]) == (conv_id, inmail_id, "Hello")
    assert item["with"] == {"id": "bob", "name": None, "photo_url": None}
    assert item["last_message"] == {"author_id": "bob", "preview": "Happy to talk, Tuesday?"}
    assert item["unread"] == 1
    r = api.post(f"/v1/conversations/{conv_id}/read", json={"member_id": "alice"}, headers=SVC)
    assert r.status_code == 200 and r.json()["unread"] == 0
    assert api.get("/v1/members/alice/conversations",
                   headers=SVC).json()["items"][0]["unread"] == 0
    r = api.post(f"/v1/conversations/{conv_id}/read", json={"member_id": "carol"}, headers=SVC)
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_allowed"
    assert api.get("/v1/members/nobody/conversations", headers=SVC).status_code == 404
