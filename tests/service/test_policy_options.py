"""The LinkedIn-like options (examples/linkedin-like.yaml): refunds on responses, one pending
InMail per recipient, credit roll-over."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

import inmail_guard as ig
from inmail_guard.policies.loader import load_policy_text
from inmail_guard.service import InMailService

from .cast import cast, events, msg

EXAMPLE = Path(__file__).parents[2] / "examples" / "linkedin-like.yaml"


@pytest.fixture
def policy():
    return ig.load_policy(EXAMPLE)


@pytest.fixture
def svc(policy, store, clock):
    service = InMailService(policy, store, clock=clock)
    yield cast(service)
    service.close()


def test_example_extends_the_default_and_turns_the_options_on(policy):
    default = ig.default_policy()
    assert policy.plans == default.plans and policy.content == default.content
    assert policy.credits.refund_on_response_within == timedelta(days=90)
    assert policy.credits.rollover_cap == 30
    assert policy.eligibility.one_pending_per_recipient is True
    assert default.credits.refund_on_response_within is None
    assert default.credits.rollover_cap == 0
    assert default.eligibility.one_pending_per_recipient is False


def test_a_response_within_90_days_refunds_the_credit(svc, store, clock):
    inmail = svc.send(msg()).inmail
    assert svc.credits("alice").remaining == 9
    svc.reply(inmail.id, "bob", "Happy to chat")
    credits = svc.credits("alice")
    assert (credits.limit, credits.used, credits.remaining) == (11, 1, 10)
    assert events(store, "inmail.replied")[0]["credit_refunded"] is True


def test_no_refund_after_90_days(svc, clock):
    inmail = svc.send(msg()).inmail
    svc.open(inmail.id, "bob")
    clock.advance(timedelta(days=91))
    svc.reply(inmail.id, "bob", "Sorry for the delay")
    # June: the plan's 10 plus May's unused 10 rolled over; a refund would have made it 21.
    assert svc.credits("alice").limit == 10 + 10


def test_one_pending_inmail_per_recipient_until_reply_expiry_or_retraction(svc, clock):
    first = svc.send(msg()).inmail
    second = svc.send(msg(subject="follow-up"))
    assert second.decision.codes == ("recipient_has_pending_inmail",)
    assert svc.send(msg(recipient="rita")).accepted  # another recipient
    svc.reply(first.id, "bob", "ok")
    assert svc.send(msg(subject="after reply")).accepted
    pending = svc.send(msg("rita", "bob")).inmail
    assert svc.send(msg("rita", "bob", subject="again")).decision.codes == (
        "recipient_has_pending_inmail",)
    svc.retract(pending.id, "rita")
    assert svc.send(msg("rita", "bob", subject="after retract")).accepted
    clock.advance(timedelta(days=7))
    assert svc.send(msg("rita", "bob", subject="after expiry")).accepted


def test_an_opened_unanswered_inmail_stays_pending_after_seven_days(svc, clock):
    # An opened InMail never expires, so it waits for a reply however old it is.
    first = svc.send(msg()).inmail
    svc.open(first.id, "bob")
    clock.advance(timedelta(days=8))
    assert svc.get_inmail(first.id, "alice").status == "opened"
    assert svc.send(msg(subject="nudge")).decision.codes == ("recipient_has_pending_inmail",)
    svc.reply(first.id, "bob", "sorry, busy")
    assert svc.send(msg(subject="after reply")).accepted


def test_unused_credits_roll_over_up_to_the_cap(svc, policy, store, clock):
    for recipient in ("bob", "rita"):
        assert svc.send(msg("jess", recipient)).accepted
    assert svc.credits("jess").limit == 5  # joined this month: nothing to roll over
    clock.advance(timedelta(days=25))  # April
    credits = svc.credits("jess")
    assert (credits.limit, credits.used) == (5 + 3, 0)
    capped = policy.model_copy(update={
        "credits": policy.credits.model_copy(update={"rollover_cap": 2})})
    with InMailService(capped, store, clock=clock) as other:
        clock.advance(timedelta(days=30))  # May: April's 8 unused, capped at 2
        assert other.credits("jess").limit == 5 + 2


SHADOW_CREDITS = ("rules_mode.credits: expected enforce for the InMail service, found shadow:"
                  " every accepted send spends a credit. Shadow the credit rule in replay or"
                  " policy test instead")


def test_the_service_refuses_credits_in_shadow_mode(store, clock):
    # An accepted send the credit rule would have refused has no credit to spend: it used to
    # raise mid-send (a 500 over HTTP). The engine alone still shadows credits (what-if).
    policy = load_policy_text("name: t\nextends: builtin:default\n"
                                 "rules_mode: {credits: shadow}\n")
    with pytest.raises(ValueError) as caught:
        InMailService(policy, store, clock=clock)
    assert str(caught.value) == SHADOW_CREDITS
    engine = ig.Engine(policy)
    facts = ig.Facts(ig.Member("s", "basic"), ig.Member("r"), clock(), 2)
    decision = engine.evaluate(ig.Message("s", "r", "Hi", "Hello"), facts)
    assert decision.outcome == "accepted"
    assert [hit.code for hit in decision.shadow] == ["plan_has_no_credits"]


def test_a_running_service_keeps_its_policy_when_given_credits_in_shadow(svc, store, clock):
    policy = load_policy_text("name: t\nextends: builtin:default\n"
                                 "rules_mode: {credits: shadow}\n")
    before = svc.policy
    with pytest.raises(ValueError, match=r"^rules_mode\.credits: expected enforce"):
        svc.swap_engine(ig.Engine(policy))
    assert svc.policy is before
