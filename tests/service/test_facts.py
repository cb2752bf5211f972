"""The facts the store fills reach the shipped detectors: volume (recent_sends), bulk
(recent_bodies), automation (recent send times), abuse reports (the count)."""

from __future__ import annotations

from datetime import timedelta

import pytest

import inmail_guard as ig

from .cast import cast, msg


@pytest.fixture
def svc(service):
    cast(service)
    for i in range(30):
        service.put_member(ig.Member(f"p{i}"))
    return service


def signal(decision, name):
    return next((s for s in decision.spam.signals if s.detector == name and s.score > 0), None)


def needs(svc, name):
    if name not in svc.policy.spam.detectors:
        pytest.skip(f"the shipped policy does not enable {name}")


def test_recent_sends_feed_the_volume_detector(svc, clock):
    needs(svc, "volume")
    per_hour = svc.policy.spam.detectors["volume"]["per_hour"]
    for i in range(per_hour):
        clock.advance(timedelta(seconds=30))  # slower than the automation detector's limit
        body = f"Hi, are you free on day {i}?"
        assert svc.send(msg("rita", f"p{i}", subject=f"Catch-up {i}", body=body)).accepted
    clock.advance(timedelta(seconds=30))
    over = svc.send(msg("rita", "bob", subject="one more", body="Hello again"))
    assert signal(over.decision, "volume") is not None and not over.accepted


def test_recent_bodies_feed_the_bulk_detector(svc, clock):
    needs(svc, "bulk")
    limit = svc.policy.spam.detectors["bulk"]["max_similar"]
    body = "Hi there, we are hiring senior data engineers in Lisbon, fully remote, great team."
    for i in range(limit):
        clock.advance(timedelta(minutes=5))
        first = svc.send(msg("rita", f"p{i}", body=body))
        assert first.accepted and signal(first.decision, "bulk") is None
    clock.advance(timedelta(minutes=5))
    again = svc.send(msg("rita", "bob", body=body))
    assert signal(again.decision, "bulk") is not None


def test_send_times_feed_the_automation_detector(svc, clock):
    needs(svc, "automation")
    svc.send(msg("rita", "p1", body="First message"))
    quick = svc.send(msg("rita", "p2", body="Second message, right away"))
    assert signal(quick.decision, "automation") is not None
