"""send(): facts from the store, one transaction on accept, nothing but the log on reject."""

from __future__ import annotations

from datetime import timedelta

import pytest

import inmail_guard as ig
from inmail_guard.plugins.teststring import MARKER
from inmail_guard.service import ServiceError
from inmail_guard.store import tables as t

from .cast import cast, count, events, msg, state


@pytest.fixture
def svc(service):
    return cast(service)


def test_accepted_send_spends_stores_and_queues_event(svc, store, clock):
    result = svc.send(msg(tags=("q1-outreach",), crm={"lead_id": "L-1", "account_id": "A-9"}))
    assert result.accepted and not result.replayed
    assert result.decision.credits.used == 0  # facts as evaluated, before the spend
    credits = svc.credits("alice")
    assert (credits.limit, credits.used, credits.remaining) == (10, 1, 9)
    assert credits.window_end.isoformat() == "2026-04-01T00:00:00+00:00"
    inmail = result.inmail
    assert inmail.status == "delivered" and inmail.expires_at == clock() + timedelta(days=7)
    assert count(store, t.inmails) == 1 and count(store, t.credit_ledger) == 1
    (sent,) = events(store, "inmail.sent")
    assert sent["inmail_id"] == inmail.id and sent["tags"] == ["q1-outreach"]
    assert sent["crm"] == {"account_id": "A-9", "lead_id": "L-1"} and sent["event_id"]
    assert "body" not in sent and "role" not in str(sent)


@pytest.mark.parametrize(("sender", "recipient", "code"), [
    ("basil", "bob", "plan_has_no_credits"),
    ("alice", "carol", "recipient_is_connection"),
    ("alice", "dave", "sender_blocked_by_recipient"),
    ("alice", "olive", "recipient_opted_out"),
    ("alice", "emma", "recipient_protected"),
    ("alice", "pat", "recipient_profile_not_public"),
    ("alice", "alice", "self_message"),
])
def test_each_eligibility_rejection_changes_only_the_decision_log(svc, store, sender,
                                                                  recipient, code):
    before = state(store)
    result = svc.send(msg(sender, recipient))
    assert not result.accepted and code in result.decision.codes
    after = state(store)
    assert after.pop("decision_log") == before.pop("decision_log") + 1
    after.pop("credit_accounts"), before.pop("credit_accounts")  # the lock row may be created
    assert after == before


@pytest.mark.parametrize(("kwargs", "code"), [
    ({"subject": ""}, "subject_missing"),
    ({"body": "x" * 3001}, "body_too_long"),
    ({"body": "![logo](https://x.example/a.png)"}, "image_not_allowed"),
    ({"attachments": (ig.Attachment("cv.pdf"),)}, "attachment_not_allowed"),
])
def test_content_rejections(svc, kwargs, code):
    assert code in svc.send(msg(**kwargs)).decision.codes


def test_credits_run_out_then_renew_next_month(svc, clock):
    for i in range(5):
        assert svc.send(msg("jess", "bob", subject=f"n{i}")).accepted
    rejected = svc.send(msg("jess", "bob", subject="one more"))
    assert rejected.decision.codes == ("credits_exhausted",)
    assert svc.credits("jess").remaining == 0
    clock.advance(timedelta(days=25))  # 2026-04-04: a new calendar month
    assert svc.credits("jess").used == 0
    assert svc.send(msg("jess", "bob", subject="april")).accepted


def test_idempotent_replay_returns_first_decision_and_spends_nothing(svc, store):
    first = svc.send(msg(idempotency_key="req-1"))
    again = svc.send(msg(idempotency_key="req-1"))
    assert again.replayed and again.decision.decision_id == first.decision.decision_id
    assert again.inmail.id == first.inmail.id
    assert again.decision.to_dict() == first.decision.to_dict()
    assert svc.credits("alice").used == 1 and count(store, t.inmails) == 1


def test_idempotency_conflict_on_a_different_message(svc):
    svc.send(msg(idempotency_key="req-2"))
    with pytest.raises(ServiceError) as err:
        svc.send(msg(idempotency_key="req-2", body="something else"))
    assert err.value.code == "idempotency_conflict" and err.value.status == 409


def test_rejected_decisions_replay_too(svc):
    first = svc.send(msg("basil", idempotency_key="k"))
    again = svc.send(msg("basil", idempotency_key="k"))
    assert again.replayed and again.decision.codes == first.decision.codes == (
        "plan_has_no_credits",)


def test_unknown_members_and_plans(svc):
    with pytest.raises(ServiceError) as err:
        svc.send(msg(recipient="nobody"))
    assert (err.value.code, err.value.field) == ("member_not_found", "recipient_id")
    with pytest.raises(ServiceError) as err:
        svc.put_member(ig.Member("zed", plan="platinum"))
    assert err.value.code == "unknown_plan"


def test_unknown_members_and_plans_change_nothing_before_and_after_the_first_send(svc, store):
    """The sender's account for the window missing (first send) or there (later sends): the
    same error names the same field, and nothing is written."""
    from sqlalchemy import update

    for first_send_done in (False, True):
        if first_send_done:
            assert svc.send(msg("alice", "bob", body="Hello Bob")).accepted
        before = state(store)
        for message, field in ((msg("nobody", "bob"), "sender_id"),
                               (msg("alice", "nobody"), "recipient_id"),
                               (msg("nobody", "nobody2"), "sender_id")):
            with pytest.raises(ServiceError) as err:
                svc.send(message)
            assert (err.value.code, err.value.field) == ("member_not_found", field)
        assert state(store) == before
    with store.write() as conn:  # a plan the policy no longer declares
        conn.execute(update(t.members).where(t.members.c.id == "alice")
                     .values(plan="platinum"))
    before = state(store)
    with pytest.raises(ServiceError) as err:
        svc.send(msg("alice", "bob", body="Hello again", idempotency_key="k1"))
    assert err.value.code == "unknown_plan"
    assert state(store) == before


def test_spam_restricts_then_rejects_until_lifted_and_escalates(svc, store, clock):
    spam = svc.send(msg(body=f"Buy now {MARKER}"))
    assert "spam_detected" in spam.decision.codes
    assert spam.decision.restrict_sender_until == clock() + timedelta(hours=24)
    (event,) = events(store, "sender.restricted")
    assert event["sender_id"] == "alice" and event["cause"] == "spam"
    blocked = svc.send(msg())
    assert blocked.decision.codes == ("sender_restricted",)
    assert "until 2026-03-11 12:00 UTC" in blocked.decision.reasons[0].sender_message
    assert svc.restriction("alice").until == clock() + timedelta(hours=24)
    assert svc.lift_restriction("alice", by="ops@example", note="false positive") == 1
    assert svc.restriction("alice") is None and svc.send(msg()).accepted
    again = svc.send(msg(body=f"{MARKER} again"))
    assert again.decision.restrict_sender_until == clock() + timedelta(hours=72)  # escalated
    clock.advance(timedelta(hours=73))
    assert svc.send(msg(subject="later")).accepted


def test_automation_restricts_and_escalates_once_the_restriction_ends(svc, store, clock):
    """A declared bot is refused and restricted by automation alone; its next automated send
    after the restriction has run out gets the next, longer restriction."""
    bot = ig.Client(automated=True, user_agent="acme-outreach/3.2")
    first = svc.send(msg(client=bot))
    assert not first.accepted and first.decision.codes == ("spam_detected",)
    assert {s.detector: s.score for s in first.decision.spam.signals}["automation"] == 15.0
    assert first.decision.restrict_sender_until == clock() + timedelta(hours=24)
    (event,) = events(store, "sender.restricted")
    assert event["sender_id"] == "alice" and event["cause"] == "spam"
    clock.advance(timedelta(hours=23))
    assert svc.send(msg()).decision.codes == ("sender_restricted",)
    clock.advance(timedelta(hours=1))  # the 24h are over
    assert svc.restriction("alice") is None
    second = svc.send(msg(client=bot, subject="Another opportunity"))
    assert second.decision.codes == ("spam_detected",)
    assert second.decision.restrict_sender_until == clock() + timedelta(hours=72)  # escalated
    assert len(events(store, "sender.restricted")) == 2
    clock.advance(timedelta(hours=72))
    person = ig.Client(user_agent="Mozilla/5.0 (Windows NT 10.0) Chrome/120.0 Safari/537.36")
    assert svc.send(msg(client=person, subject="later")).accepted


def test_a_unique_key_clash_is_retried_as_a_replay(svc, store, monkeypatch):
    # Two sends with one key racing across a month boundary lock different credit accounts;
    # the unique (sender, key) index stops the second, which then replays the first.
    first = svc.send(msg(idempotency_key="edge"))
    real = svc.sends.run
    calls = []

    def clash(message, digest):
        calls.append(1)
        if len(calls) == 1:
            raise store.db.dialect.loaded_dbapi.IntegrityError("duplicate key")
        return real(message, digest)

    monkeypatch.setattr(svc.sends, "run", clash)
    again = svc.send(msg(idempotency_key="edge"))
    assert again.replayed and again.inmail.id == first.inmail.id and len(calls) == 2


def test_credit_window_is_the_calendar_month_in_the_policy_time_zone(store, clock):
    from datetime import UTC, datetime

    from inmail_guard.service import InMailService

    base = ig.default_policy()
    policy = base.model_copy(update={"credits": base.credits.model_copy(
        update={"timezone": "America/New_York"})})
    clock.set(datetime(2026, 4, 1, 2, 0, tzinfo=UTC))  # still March 31 in New York
    with InMailService(policy, store, clock=clock) as svc:
        cast(svc)
        assert svc.send(msg()).accepted
        credits = svc.credits("alice")
        assert credits.window_end == datetime(2026, 4, 1, 4, 0, tzinfo=UTC)
        assert credits.used == 1
        clock.set(datetime(2026, 4, 1, 4, 0, tzinfo=UTC))  # April 1, 00:00 in New York
        assert svc.credits("alice").used == 0


NUL = "contains a NUL character (U+0000); remove it"


@pytest.mark.parametrize(("kwargs", "field", "message"), [
    ({"body": "Hi\x00 Bob"}, "body", f"body {NUL}"),
    ({"subject": "Role\x00"}, "subject", f"subject {NUL}"),
    ({"tags": ("ok", "t" * 201)}, "tags", "tags is 201 characters long; at most 200"),
    ({"tags": ("q\x001",)}, "tags", f"tags {NUL}"),
    ({"crm": {"lead_id": "L" * 201}}, "crm.lead_id",
     "crm.lead_id is 201 characters long; at most 200"),
    ({"crm": {"account_id": "A" * 201}}, "crm.account_id",
     "crm.account_id is 201 characters long; at most 200"),
    ({"crm": {"stage": "new\x00"}}, "crm.stage", f"crm.stage {NUL}"),
    ({"idempotency_key": "k" * 201}, "idempotency_key",
     "idempotency_key is 201 characters long; at most 200"),
    ({"idempotency_key": "k\x00"}, "idempotency_key", f"idempotency_key {NUL}"),
    ({"idempotency_key": ""}, "idempotency_key",
     "idempotency_key is empty; leave it out for a send without one"),
])
def test_text_the_store_cannot_hold_is_refused_before_anything_is_written(
        svc, store, kwargs, field, message):
    # PostgreSQL cannot store NUL and enforces the column sizes; SQLite would take both. The
    # service refuses them alike on both, naming the field, and never evaluates or spends.
    before = state(store)
    with pytest.raises(ServiceError) as info:
        svc.send(msg(**kwargs))
    assert (info.value.code, info.value.field, info.value.message) == (
        "invalid_request", field, message)
    assert state(store) == before


def test_text_at_the_column_sizes_is_stored(svc):
    result = svc.send(msg(tags=("t" * 200,), crm={"lead_id": "L" * 200},
                          idempotency_key="k" * 200))
    assert result.accepted
    assert result.inmail.tags == ("t" * 200,) and result.inmail.crm["lead_id"] == "L" * 200
    assert svc.send(msg(tags=("t" * 200,), crm={"lead_id": "L" * 200},
                        idempotency_key="k" * 200)).replayed


def test_an_unknown_plan_from_the_service_is_the_engines_error_too(svc, store):
    """One type for an unknown plan: the service's refusal is an UnknownPlanError as well as a
    ServiceError (``unknown_plan``, naming ``plan``), and changes nothing."""
    from sqlalchemy import update

    with store.write() as conn:
        conn.execute(update(t.members).where(t.members.c.id == "alice")
                     .values(plan="platinum"))
    before = state(store)
    for call in (lambda: svc.send(msg()), lambda: svc.credits("alice"),
                 lambda: svc.put_member(ig.Member("zed", plan="platinum"))):
        with pytest.raises(ig.UnknownPlanError) as caught:
            call()
        assert isinstance(caught.value, ServiceError)
        assert (caught.value.code, caught.value.status, caught.value.field) == (
            "unknown_plan", 422, "plan")
        assert str(caught.value).startswith("plan 'platinum' is not declared in policy")
    assert state(store) == before
