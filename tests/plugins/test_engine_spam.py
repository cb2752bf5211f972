"""The built-in detectors end to end through ``Engine(policy)``: signals, spam_detected,
restriction escalation, skipping, shadow mode and advice."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from inmail_guard import Engine
from inmail_guard.engine.types import Client
from inmail_guard.plugins.bulk import record
from inmail_guard.policies.loader import default_policy, load_policy_text

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)  # conftest's facts() use this now

POLICY = """
name: spam-e2e
plans: {premium_business: {monthly_credits: 10}, basic: {monthly_credits: 0}}
spam:
  reject_at: 10
  restrict_at: 15
  restriction: {durations: [24h, 72h, 30d]}
  detectors:
    volume:        {per_hour: 25, per_day: 100, score: 10}
    keywords:      {phrases: [], use_default_list: true, score_per_hit: 2.5, max_score: 10}
    abuse_reports: {window: 30d, threshold: 3, score: 15}
    automation:    {min_interval: 5s, score: 6}
    bulk:          {window: 24h, max_similar: 10, similarity: 0.8, score: 6}
"""


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_policy_text(POLICY))


def signals(decision) -> dict[str, float]:
    return {s.detector: s.score for s in decision.spam.signals}


def test_shipped_policy_enables_the_detectors_with_design_values() -> None:
    detectors = default_policy().spam.detectors
    assert detectors["volume"] == {"per_hour": 25, "per_day": 100, "score": 10}
    assert detectors["keywords"] == {"phrases": [], "use_default_list": True,
                                     "score_per_hit": 2.5, "max_score": 10}
    assert detectors["abuse_reports"] == {"window": "30d", "threshold": 3, "score": 15}
    assert detectors["automation"] == {"min_interval": "5s", "score": 6, "strong_score": 15}
    assert detectors["bulk"] == {"window": "24h", "max_similar": 10, "similarity": 0.8,
                                 "score": 6}


def test_clean_message_is_accepted_without_signals(engine, make_message, make_facts) -> None:
    decision = engine.evaluate(make_message(), make_facts())
    assert decision.outcome == "accepted", decision.to_dict()
    assert decision.spam.signals == ()
    assert decision.spam.score == 0
    assert decision.advice == ()


def test_keywords_alone_reach_reject_at(engine, make_message, make_facts) -> None:
    body = "Hi Dana, cl1ck here: w0rk from home, guaranteed income, act now."
    decision = engine.evaluate(make_message(body=body), make_facts())
    assert decision.outcome == "rejected"
    assert decision.codes == ("spam_detected",)
    assert decision.reasons[0].rule == "spam.reject_at"
    assert decision.reasons[0].detail == "spam score 10 >= reject_at 10 (keywords 10)"
    spam = decision.to_dict()["spam"]
    assert spam["score"] == 10.0
    assert spam["signals"] == [{
        "detector": "keywords", "score": 10.0,
        "detail": "4 spam hits: phrases 'click here' (leetspeak), 'work from home' (leetspeak),"
                  " 'guaranteed income', 'act now'",
        "data": {"phrases": ["click here", "work from home", "guaranteed income", "act now"],
                 "obfuscations": {"click here": ["leetspeak"], "work from home": ["leetspeak"]},
                 "hits": 4},
    }]
    assert decision.restrict_sender_until is None  # 10 < restrict_at 15
    assert decision.advice == ()  # advice only on accepted decisions
    json.dumps(decision.to_dict())


def test_signals_below_reject_at_are_reported_but_accepted(engine, make_message,
                                                            make_facts) -> None:
    decision = engine.evaluate(make_message(body="Hi Dana, act now!!!"), make_facts())
    assert decision.outcome == "accepted"
    assert signals(decision) == {"keywords": 5.0}
    assert decision.spam.score == 5.0


@pytest.mark.parametrize(
    ("prior", "duration"),
    [(0, timedelta(hours=24)), (1, timedelta(hours=72)), (2, timedelta(days=30)),
     (5, timedelta(days=30))],
)
def test_restriction_escalates(engine, make_message, make_facts, prior: int,
                               duration: timedelta) -> None:
    fct = make_facts(abuse_reports=3, prior_restrictions=prior)
    decision = engine.evaluate(make_message(), fct)
    assert decision.outcome == "rejected"
    assert decision.codes == ("spam_detected",)
    assert signals(decision) == {"abuse_reports": 15.0}
    assert decision.restrict_sender_until == NOW + duration
    assert decision.to_dict()["restrict_sender_until"] == (NOW + duration).isoformat().replace(
        "+00:00", "Z")


def test_volume_and_automation_add_up_to_a_restriction(engine, make_message,
                                                        make_facts) -> None:
    sends = tuple(NOW - timedelta(seconds=2 + 120 * i) for i in range(25))  # 25 in the hour
    browser = Client(user_agent="Mozilla/5.0 (Windows NT 10.0) Chrome/120.0 Safari/537.36")
    decision = engine.evaluate(make_message(client=browser), make_facts(recent_sends=sends))
    assert decision.outcome == "rejected"
    assert signals(decision) == {"automation": 6.0, "volume": 10.0}  # cadence alone is weak
    automation = next(s for s in decision.spam.signals if s.detector == "automation")
    assert set(automation.data) == {"too_fast", "regular_intervals", "evidence"}
    assert decision.spam.score == 16.0
    assert decision.restrict_sender_until == NOW + timedelta(hours=24)
    assert decision.reasons[0].detail == (
        "spam score 16 >= reject_at 10 (volume 10, automation 6)")


BROWSER = Client(user_agent="Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) Chrome/120.0")
HUMAN_SENDS = tuple(NOW - timedelta(minutes=m, seconds=s)
                    for m, s in ((4, 10), (19, 45), (47, 3), (95, 30), (180, 12), (301, 59)))


@pytest.mark.parametrize(
    ("client", "sends"),
    [
        (Client(automated=True, user_agent="acme-ats/2.1"), ()),
        (Client(user_agent="python-requests/2.31"), (NOW - timedelta(seconds=2),)),
        (Client(user_agent="Mozilla/5.0 HeadlessChrome/120.0"),
         tuple(NOW - timedelta(seconds=30 * (i + 1)) for i in range(6))),
    ],
    ids=["declared", "scripted-too-fast", "headless-regular"],
)
def test_automation_is_enforced_by_the_shipped_policy(make_message, make_facts, client,
                                                       sends) -> None:
    decision = Engine(default_policy()).evaluate(make_message(client=client),
                                                 make_facts(recent_sends=sends))
    assert decision.outcome == "rejected"
    assert decision.codes == ("spam_detected",)
    assert signals(decision)["automation"] == 15.0
    assert decision.spam.score >= decision.spam.restrict_at
    assert decision.restrict_sender_until == NOW + timedelta(hours=24)


def test_human_cadence_is_never_automation(make_message, make_facts) -> None:
    decision = Engine(default_policy()).evaluate(make_message(client=BROWSER),
                                                 make_facts(recent_sends=HUMAN_SENDS))
    assert decision.outcome == "accepted"
    assert "automation" not in signals(decision)
    assert decision.restrict_sender_until is None


def test_bulk_runs_last_and_is_skipped_once_decided(engine, make_message, make_facts) -> None:
    msg = make_message()
    recent = tuple(record(make_message(recipient_id=f"r{i}"), NOW - timedelta(minutes=i))
                   for i in range(2, 12))
    decision = engine.evaluate(msg, make_facts(recent_bodies=recent))
    assert signals(decision) == {"bulk": 6.0}
    assert decision.outcome == "accepted"  # 6 < reject_at
    assert decision.spam.signals[0].data["similar_recipients"] == 10
    with_bulk = make_facts(recent_bodies=recent, recent_sends=(NOW - timedelta(seconds=1),))
    assert signals(engine.evaluate(msg, with_bulk)) == {"automation": 6.0, "bulk": 6.0}
    assert engine.evaluate(msg, with_bulk).outcome == "rejected"
    decided = engine.evaluate(msg, make_facts(recent_bodies=recent, abuse_reports=3))
    assert signals(decided) == {"abuse_reports": 15.0}
    assert decided.spam.skipped == ("bulk",)


def test_evaluate_many_agrees(engine, make_message, make_facts) -> None:
    pairs = [
        (make_message(), make_facts()),
        (make_message(body="Hi Dana, act now, click here, wire transfer, 100% free"),
         make_facts()),
        (make_message(), make_facts(abuse_reports=4, prior_restrictions=1)),
    ]
    many = engine.evaluate_many(pairs)
    one = [engine.evaluate(m, f) for m, f in pairs]
    assert [d.outcome for d in many] == [d.outcome for d in one] == [
        "accepted", "rejected", "rejected"]
    assert [d.spam.to_dict() for d in many] == [d.spam.to_dict() for d in one]
    assert many[2].restrict_sender_until == NOW + timedelta(hours=72)


def test_shadow_mode_reports_without_rejecting(make_message, make_facts) -> None:
    policy = load_policy_text(POLICY + "rules_mode: {keywords: shadow}\n")
    decision = Engine(policy).evaluate(
        make_message(body="Hi Dana, act now, click here, wire transfer, 100% free"),
        make_facts())
    assert decision.outcome == "accepted"
    assert decision.spam.score == 0
    assert decision.spam.signals[0].shadow is True
    assert [(h.code, h.rule) for h in decision.shadow] == [
        ("spam_detected", "spam.detectors.keywords")]


def test_advice_on_accepted_decisions(engine, make_message, make_facts) -> None:
    body = "Hello there. " + " ".join(["word"] * 120)
    decision = engine.evaluate(make_message(subject="Quick question", body=body), make_facts())
    assert decision.outcome == "accepted"
    assert [a.code for a in decision.advice] == [
        "long_paragraph", "message_long", "no_call_to_action", "not_personalised",
        "simple_language", "subject_weak"]
    assert {"code": "message_long", "message": "Messages under 100 words get more replies."} in (
        decision.to_dict()["advice"])
