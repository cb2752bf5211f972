"""Inbox, open, expiry, retraction, reply and conversation, abuse reports (docs/service.md)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from inmail_guard import Member
from inmail_guard.service import ServiceError

from .cast import cast, events, msg, state


@pytest.fixture
def svc(service):
    return cast(service)


def error(fn, *args):
    with pytest.raises(ServiceError) as err:
        fn(*args)
    return err.value.code


def test_inbox_lists_sender_subject_preview_newest_first(svc, clock):
    body = "**Hello** Bob, " + "x" * 400
    first = svc.send(msg(subject="First", body=body)).inmail
    clock.advance(timedelta(minutes=1))
    second = svc.send(msg("rita", subject="Second")).inmail
    items = svc.inbox("bob")
    assert [i.inmail_id for i in items] == [second.id, first.id]
    item = items[1]
    assert item.sender.name == "Alice Adams"
    assert item.sender.photo_url == "https://img.example/alice.jpg"
    assert item.subject == "First" and item.status == "delivered"
    assert item.preview.startswith("Hello Bob, xx") and len(item.preview) == 160
    assert "body" not in item.to_dict()


def test_only_the_recipient_opens_and_sees_the_full_text(svc, store):
    inmail = svc.send(msg()).inmail
    assert error(svc.open, inmail.id, "alice") == "not_allowed"
    assert error(svc.open, inmail.id, "carol") == "not_allowed"
    opened = svc.open(inmail.id, "bob")
    assert opened.body == msg().body and opened.status == "opened"
    svc.open(inmail.id, "bob")
    assert len(events(store, "inmail.opened")) == 1
    assert error(svc.open, "im_nope", "bob") == "inmail_not_found"


def test_the_recipient_reads_the_body_only_by_opening(svc, store, clock):
    inmail = svc.send(msg()).inmail
    expiring = svc.send(msg(subject="two")).inmail
    before = svc.get_inmail(inmail.id, "bob")  # a read is not an open: no body, no event
    assert before.body is None and before.subject == "An opportunity"
    assert "body" not in before.to_dict() and before.status == "delivered"
    assert svc.get_inmail(inmail.id, "alice").body == msg().body  # the sender wrote it
    assert events(store, "inmail.opened") == []
    svc.open(inmail.id, "bob")
    assert svc.get_inmail(inmail.id, "bob").body == msg().body
    clock.advance(timedelta(days=7))
    late = svc.get_inmail(expiring.id, "bob")  # expired unopened: open refuses, so does this
    assert late.status == "expired" and late.body is None
    assert error(svc.open, expiring.id, "bob") == "inmail_expired"


def test_unopened_inmail_expires_at_read_time_and_expire_due_emits_once(svc, store, clock):
    unopened = svc.send(msg()).inmail
    opened = svc.send(msg(subject="two")).inmail
    svc.open(opened.id, "bob")
    clock.advance(timedelta(days=7))
    assert [i.inmail_id for i in svc.inbox("bob")] == [opened.id]
    assert error(svc.open, unopened.id, "bob") == "inmail_expired"
    assert svc.get_inmail(unopened.id, "alice").status == "expired"
    assert svc.expire_due() == 1 and svc.expire_due() == 0
    (event,) = events(store, "inmail.expired")
    assert event["inmail_id"] == unopened.id
    assert svc.analytics(sender_id="alice").total.expired == 1


def test_retract_unopened_opened_and_too_late(svc, store, clock):
    unopened = svc.send(msg()).inmail
    opened = svc.send(msg(subject="two")).inmail
    late = svc.send(msg(subject="three")).inmail
    svc.open(opened.id, "bob")
    assert error(svc.retract, unopened.id, "bob") == "not_allowed"
    assert svc.retract(unopened.id, "alice").was_opened is False
    assert svc.retract(opened.id, "alice").was_opened is True
    assert [i.inmail_id for i in svc.inbox("bob")] == [late.id]
    assert error(svc.open, opened.id, "bob") == "inmail_not_found"
    assert error(svc.get_inmail, opened.id, "bob") == "inmail_not_found"
    assert error(svc.retract, unopened.id, "alice") == "already_retracted"
    clock.advance(timedelta(days=7, seconds=1))
    assert error(svc.retract, late.id, "alice") == "retract_window_passed"
    assert [e["was_opened"] for e in events(store, "inmail.retracted")] == [False, True]


def test_reply_opens_a_conversation_without_spending(svc, store):
    inmail = svc.send(msg()).inmail
    assert error(svc.reply, inmail.id, "alice", "me?") == "not_allowed"
    conv = svc.reply(inmail.id, "bob", "Sounds good, tell me more.")
    assert conv.participants == ("alice", "bob")
    svc.post(conv.id, "alice", "Great: are you free Tuesday?")
    svc.post(conv.id, "bob", "Yes.")
    assert error(svc.post, conv.id, "carol", "hi") == "not_allowed"
    assert error(svc.conversation, conv.id, "carol") == "not_allowed"
    thread = svc.conversation(conv.id, "alice")
    assert [m.author_id for m in thread.messages] == ["bob", "alice", "bob"]
    assert svc.credits("alice").used == 1
    assert svc.get_inmail(inmail.id, "bob").status == "replied"
    assert error(svc.retract, inmail.id, "alice") == "already_replied"
    (replied,) = events(store, "inmail.replied")
    assert replied["conversation_id"] == conv.id and replied["credit_refunded"] is False
    assert len(events(store, "inmail.opened")) == 1  # a reply implies the open
    assert error(svc.reply, inmail.id, "bob", "   ") == "invalid_request"


def test_a_block_ends_the_conversation_for_the_blocked_member(svc, store):
    inmail = svc.send(msg()).inmail
    conv = svc.reply(inmail.id, "bob", "Happy to talk")
    svc.post(conv.id, "alice", "Great, Tuesday?")
    svc.block("bob", "alice")
    before = state(store)
    with pytest.raises(ServiceError) as info:
        svc.post(conv.id, "alice", "Hello again?")
    assert (info.value.code, info.value.field) == ("not_allowed", "member_id")
    assert info.value.message == "this member does not take messages from you"
    assert state(store) == before
    svc.post(conv.id, "bob", "For the record: no.")  # the blocker may still write
    svc.block("alice", "bob")
    assert error(svc.reply, inmail.id, "bob", "one more") == "not_allowed"
    svc.unblock("alice", "bob")
    svc.unblock("bob", "alice")
    svc.post(conv.id, "alice", "Thanks")
    assert [m.author_id for m in svc.conversation(conv.id, "bob").messages] == [
        "bob", "alice", "bob", "alice"]


def test_lifecycle_text_the_store_cannot_hold_is_refused(svc, store):
    inmail = svc.send(msg()).inmail
    conv = svc.reply(inmail.id, "bob", "Happy to talk")
    before = state(store)
    for call, field in ((lambda: svc.reply(inmail.id, "bob", "ok\x00"), "body"),
                        (lambda: svc.post(conv.id, "alice", "\x00"), "body"),
                        (lambda: svc.report(inmail.id, "bob", "spam\x00"), "reason"),
                        (lambda: svc.lift_restriction("alice", note="\x00"), "note")):
        with pytest.raises(ServiceError) as info:
            call()
        assert (info.value.code, info.value.field) == ("invalid_request", field)
        assert info.value.message == f"{field} contains a NUL character (U+0000); remove it"
    assert state(store) == before


@pytest.mark.parametrize(("member", "field", "message"), [
    (Member("m" * 65), "id", "id is 65 characters long; at most 64"),
    (Member("m1", name="N" * 201), "name", "name is 201 characters long; at most 200"),
    (Member("m1", name="Ann\x00"), "name", "name contains a NUL character (U+0000); remove it"),
    (Member("m1", photo_url="https://x/" + "p" * 1991), "photo_url",
     "photo_url is 2001 characters long; at most 2000"),
])
def test_member_text_the_store_cannot_hold_is_refused(svc, store, member, field, message):
    before = state(store)
    with pytest.raises(ServiceError) as info:
        svc.put_member(member)
    assert (info.value.code, info.value.field, info.value.message) == (
        "invalid_request", field, message)
    assert state(store) == before


NOT_HTTP = "photo_url must be an http:// or https:// URL with a host"
UNSAFE = "photo_url must not contain spaces, control characters or backslashes"


@pytest.mark.parametrize(("url", "message"), [
    ("javascript:alert(document.cookie)", NOT_HTTP),
    ("JavaScript:alert(1)", NOT_HTTP),
    ("data:image/svg+xml;base64,PHN2Zz4=", NOT_HTTP),
    ("vbscript:msgbox(1)", NOT_HTTP),
    ("//evil.example/x.jpg", NOT_HTTP),  # scheme-relative: the page's scheme decides
    ("ftp://img.example/a.jpg", NOT_HTTP),
    ("https://", NOT_HTTP),
    ("https:///x.jpg", NOT_HTTP),
    ("", NOT_HTTP),
    (" javascript:alert(1)", UNSAFE),  # browsers strip leading spaces and control characters
    ("java\tscript:alert(1)", UNSAFE),  # ... and drop tabs and newlines anywhere
    ("https://img.example/a.jpg\n", UNSAFE),
    ("https:\\\\evil.example", UNSAFE),
    ("https://img.example/" + "p" * 1981, "photo_url is 2001 characters long; at most 2000"),
])
def test_a_photo_url_must_be_http_or_https(svc, store, url, message):
    before = state(store)
    with pytest.raises(ServiceError) as info:
        svc.put_member(Member("m1", photo_url=url))
    assert (info.value.code, info.value.field, info.value.message) == (
        "invalid_request", "photo_url", message)
    assert state(store) == before


@pytest.mark.parametrize("url", ["https://img.example/a.jpg", "HTTP://IMG.EXAMPLE/A.PNG",
                                 "https://cdn.example:8443/u/1?size=64#x",
                                 "https://img.example/" + "p" * 1980, None])
def test_http_and_https_photo_urls_are_kept(svc, url):
    svc.put_member(Member("m1", photo_url=url))
    assert svc.get_member("m1").photo_url == url


def test_a_photo_url_stored_before_the_check_is_not_shown_to_recipients(svc, store):
    from inmail_guard.store import tables as t

    svc.send(msg())
    with store.write() as conn:
        conn.execute(t.members.update().where(t.members.c.id == "alice")
                     .values(photo_url="javascript:alert(1)"))
    (item,) = svc.inbox("bob")
    assert item.sender.photo_url is None and item.sender.name == "Alice Adams"


def test_a_reported_unopened_inmail_is_reported_not_expired(svc, store, clock):
    reported = svc.send(msg()).inmail
    unopened = svc.send(msg(subject="two")).inmail
    svc.report(reported.id, "bob", "spam")
    clock.advance(timedelta(days=8))
    assert svc.get_inmail(reported.id, "alice").status == "reported"
    assert svc.expire_due() == 1
    assert [e["inmail_id"] for e in events(store, "inmail.expired")] == [unopened.id]
    assert svc.analytics(sender_id="alice").total.expired == 1


def test_reports_restrict_the_sender_at_the_threshold(svc, store, clock):
    ids = []
    for name in ("r1", "r2", "r3"):
        svc.put_member(Member(name))
        ids.append(svc.send(msg(recipient=name)).inmail.id)
    assert error(svc.report, ids[0], "alice") == "not_allowed"
    first = svc.report(ids[0], "r1", "spam")
    assert first.restriction is None and first.sender_reports_in_window == 1
    assert svc.report(ids[0], "r1").report_id == first.report_id  # idempotent
    assert svc.inbox("r1") == []
    svc.report(ids[1], "r2")
    third = svc.report(ids[2], "r3", "harassment")
    assert third.restriction is not None and third.restriction.cause == "abuse_reports"
    assert third.restriction.until == clock() + timedelta(hours=24)
    assert len(events(store, "inmail.reported")) == 3
    assert len(events(store, "sender.restricted")) == 1
    rejected = svc.send(msg(recipient="bob"))
    assert rejected.decision.codes == ("sender_restricted",)
    # Lifting clears the reports that led to the restriction from the count (they stay stored).
    assert svc.lift_restriction("alice") == 1
    assert svc.send(msg(recipient="bob")).accepted
    assert svc.report(ids[0], "r1").sender_reports_in_window == 0


def test_analytics_by_sender_tag_and_period(svc, clock):
    a = svc.send(msg(tags=("q1", "eng"))).inmail
    svc.send(msg(subject="2", tags=("q1",)))
    r = svc.send(msg("rita", tags=("eng",))).inmail
    svc.open(a.id, "bob")
    svc.reply(r.id, "bob", "hi")
    clock.advance(timedelta(days=8))
    svc.send(msg(subject="later", tags=("q2",)))
    total = svc.analytics().total
    assert (total.sent, total.delivered, total.opened, total.replied, total.expired) == (
        4, 4, 2, 1, 1)
    assert total.open_rate == 0.5 and total.response_rate == 0.25
    by_sender = dict(svc.analytics(group_by="sender").groups)
    assert by_sender["rita"].replied == 1 and by_sender["alice"].sent == 3
    by_tag = dict(svc.analytics(group_by="tag").groups)
    assert by_tag["q1"].sent == 2 and by_tag["eng"].opened == 2
    assert svc.analytics(tag="q1").total.opened == 1
    weeks = svc.analytics(sender_id="alice", group_by="week")
    assert [k for k, _ in weeks.groups] == ["2026-W11", "2026-W12"]
    since = svc.analytics(since=clock() - timedelta(hours=1)).total
    assert since.sent == 1
    with pytest.raises(ServiceError):
        svc.analytics(group_by="year")


def test_concurrent_expire_due_and_open_emit_each_event_once(svc, store, clock):
    from concurrent.futures import ThreadPoolExecutor

    ids = [svc.send(msg(subject=f"s{i}")).inmail.id for i in range(6)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: svc.open(ids[0], "bob"), range(4)))
    clock.advance(timedelta(days=8))
    with ThreadPoolExecutor(4) as pool:
        counts = list(pool.map(lambda _: svc.expire_due(), range(4)))
    assert sum(counts) == 5
    assert len(events(store, "inmail.expired")) == 5
    assert len(events(store, "inmail.opened")) == 1


def test_analytics_by_crm_account_and_lead_with_expiry_and_retraction_rates(svc, clock):
    a = svc.send(msg(crm={"account_id": "A-1", "lead_id": "L-1"})).inmail
    b = svc.send(msg(recipient="jess", crm={"account_id": "A-1", "lead_id": "L-2"})).inmail
    svc.send(msg(recipient="rita", crm={"account_id": "A-2"}))
    svc.send(msg("rita", subject="no crm"))
    svc.open(a.id, "bob")
    svc.retract(b.id, "alice")
    clock.advance(timedelta(days=8))
    by_account = svc.analytics(group_by="account")
    assert [k for k, _ in by_account.groups] == ["A-1", "A-2", None]  # no account: last
    a1 = dict(by_account.groups)["A-1"]
    assert (a1.sent, a1.opened, a1.retracted, a1.expired) == (2, 1, 1, 0)
    assert a1.to_dict()["retraction_rate"] == 0.5 and a1.to_dict()["expiry_rate"] == 0.0
    a2 = dict(by_account.groups)["A-2"]
    assert a2.expired == 1 and a2.expiry_rate == 1.0
    by_lead = dict(svc.analytics(group_by="lead", sender_id="alice").groups)
    assert set(by_lead) == {"L-1", "L-2", None} and by_lead[None].sent == 1
    total = svc.analytics().total.to_dict()
    assert (total["expiry_rate"], total["retraction_rate"]) == (0.5, 0.25)


def test_period_groups_count_expiry_as_the_total_does(svc, clock):
    reported = svc.send(msg()).inmail
    svc.send(msg(recipient="jess"))
    svc.report(reported.id, "bob")
    clock.advance(timedelta(days=8))
    result = svc.analytics(group_by="day")
    assert result.total.expired == 1
    assert sum(c.expired for _, c in result.groups) == 1  # the reported one is not expired
