"""The Traffic page's in-memory decisions: the ring, per-minute counts, bodies only on request."""

from __future__ import annotations

import inmail_guard as ig
from inmail_guard.api.console.playground import EXAMPLES, FormState, parse_request
from inmail_guard.api.console.recent import RecentDecisions


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def decide(name: str) -> tuple[ig.Message, ig.Decision]:
    request, issues = parse_request(FormState.example_state(name))
    assert not issues
    return request.message, ig.Engine(ig.default_policy()).evaluate(request.message,
                                                                      request.facts)


def test_counts_per_minute_by_outcome_and_code_and_the_latest_first():
    clock = Clock()
    recent = RecentDecisions(clock=clock, size=3)
    for name in ("accepted", "opted_out"):
        recent.inmail_guard_decision(*decide(name))
    clock.now += 120
    for name in ("opted_out", "no_credits"):
        recent.inmail_guard_decision(*decide(name))
    series = recent.series(minutes=3)
    assert len(series["minutes"]) == 3
    assert series["outcomes"] == [["accepted", [1, 0, 0]], ["rejected", [1, 0, 2]]]
    assert series["codes"] == [["recipient_opted_out", [1, 0, 1]],
                               ["plan_has_no_credits", [0, 0, 1]]]
    assert series["totals"]["outcomes"] == [["accepted", 1], ["rejected", 3]]
    latest = recent.latest()
    assert [s.decision.codes for s in latest] == [  # the ring keeps 3
        ("plan_has_no_credits",), ("recipient_opted_out",), ("recipient_opted_out",)]
    assert [s.decision.codes for s in recent.latest(code="plan_has_no_credits")] == [
        ("plan_has_no_credits",)]
    assert recent.find(latest[0].decision.decision_id) == latest[0]


def test_old_minutes_are_dropped_and_bodies_kept_only_when_asked():
    clock = Clock()
    recent = RecentDecisions(clock=clock, minutes=2)
    for _ in range(3):
        recent.inmail_guard_decision(*decide("accepted"))
        clock.now += 60
    assert len(recent._minutes) == 2
    assert recent.latest()[0].body is None
    keeping = RecentDecisions(keep_bodies=True)
    message, decision = decide("accepted")
    keeping.inmail_guard_decision(message, decision)
    assert keeping.latest()[0].body == EXAMPLES["accepted"][1]["body"]
