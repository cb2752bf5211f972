"""Properties over any schema-valid input (Hypothesis)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inmail_guard import Attachment, Client, Engine, Facts, Member, Message, default_policy

ENGINE = Engine(default_policy())
PLANS = sorted(ENGINE.policy.plans)
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)

ids = st.sampled_from(["a", "b", "c"])
markdownish = st.lists(
    st.sampled_from([*"ab c*_~[]()!<>#`-+1.\n\\&|=", "<img ", "https://x.y"]),
    max_size=60).map("".join)
bodies = st.one_of(st.text(max_size=200), markdownish,
                   st.integers(2990, 3010).map(lambda n: "x" * n))
times = st.integers(-200_000, 200_000).map(lambda s: NOW + timedelta(seconds=s))

members = st.builds(Member, id=ids, plan=st.sampled_from(PLANS), profile_public=st.booleans(),
                    accepts_inmail=st.booleans(), is_employee=st.booleans(),
                    name=st.none() | st.text(max_size=10))
messages = st.builds(
    Message, sender_id=ids, recipient_id=ids, subject=st.text(max_size=220), body=bodies,
    attachments=st.lists(st.builds(Attachment, filename=st.text(max_size=5)), max_size=1)
    .map(tuple),
    tags=st.lists(st.text(max_size=5), max_size=2).map(tuple),
    client=st.none() | st.builds(Client, automated=st.booleans(), user_agent=st.text(max_size=9)),
)
facts = st.builds(
    Facts, sender=members, recipient=members, now=st.just(NOW),
    connection_degree=st.sampled_from([None, 1, 2, 3]), blocked_by_recipient=st.booleans(),
    credits_used=st.integers(0, 60), recent_sends=st.lists(times, max_size=5).map(tuple),
    abuse_reports=st.integers(0, 5), restricted_until=st.none() | times,
    credits_extra=st.integers(0, 5), prior_restrictions=st.integers(0, 4),
    pending_to_recipient=st.booleans(),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messages, facts)
def test_evaluate_never_raises_and_rejections_carry_reasons(message: Message,
                                                            fact: Facts) -> None:
    decision = ENGINE.evaluate(message, fact)
    assert decision.outcome in ("accepted", "rejected")
    assert (decision.outcome == "rejected") == bool(decision.reasons)
    assert all(r.sender_message and r.code and r.rule for r in decision.reasons)
    assert decision.policy.version == ENGINE.policy.version
    decision.to_dict()  # always serialisable


@settings(max_examples=200, deadline=None)
@given(messages, facts)
def test_evaluate_is_deterministic(message: Message, fact: Facts) -> None:
    a, b = ENGINE.evaluate(message, fact), ENGINE.evaluate(message, fact)
    assert (a.outcome, a.reasons, a.spam.score, a.spam.signals, a.shadow, a.credits) == (
        b.outcome, b.reasons, b.spam.score, b.spam.signals, b.shadow, b.credits)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(messages, facts), max_size=12))
def test_evaluate_many_equals_a_loop_of_evaluate(pairs: list[tuple[Message, Facts]]) -> None:
    def strip(d):
        out = d.to_dict()
        out.pop("decision_id"), out.pop("duration_ms")
        return out

    assert [strip(d) for d in ENGINE.evaluate_many(pairs)] == [
        strip(ENGINE.evaluate(m, f)) for m, f in pairs]


def test_sender_message_never_reveals_block_or_opt_out() -> None:
    fact = Facts(sender=Member("a", "premium_business"),
                 recipient=Member("b", accepts_inmail=False), now=NOW, blocked_by_recipient=True)
    decision = ENGINE.evaluate(Message("a", "b", "Hi", "Hello"), fact)
    assert decision.codes == ("recipient_opted_out", "sender_blocked_by_recipient")
    for reason in decision.reasons:
        assert reason.sender_message == "This member isn't accepting InMail right now."
        assert "block" not in reason.sender_message.lower()
        assert "opt" not in reason.sender_message.lower()


def test_credit_window_ends_at_month_end_even_in_december_9999() -> None:
    from datetime import MAXYEAR

    assert ENGINE.window_end(datetime(2026, 12, 31, 23, tzinfo=UTC)) == datetime(
        2027, 1, 1, tzinfo=UTC)
    last = ENGINE.window_end(datetime(MAXYEAR, 12, 31, tzinfo=UTC))
    assert last == datetime.max.replace(tzinfo=UTC)
