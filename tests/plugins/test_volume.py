"""The volume detector: at or over the hourly / daily limit scores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from inmail_guard.plugins.volume import VolumeDetector

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)  # conftest's facts() use this now


def sends(count: int, every: timedelta, start: timedelta = timedelta(0)) -> tuple:
    return tuple(NOW - start - every * i for i in range(count))


def test_under_both_limits_abstains(run, make_facts) -> None:
    assert run(VolumeDetector, fct=make_facts(recent_sends=sends(24, timedelta(minutes=2)))) is None
    assert run(VolumeDetector, fct=make_facts()) is None


@pytest.mark.parametrize(("count", "fires"), [(24, False), (25, True), (26, True)])
def test_hourly_limit_boundary(run, make_facts, count: int, fires: bool) -> None:
    signal = run(VolumeDetector, fct=make_facts(recent_sends=sends(count, timedelta(minutes=2))))
    assert (signal is not None) is fires
    if fires:
        assert signal.score == 10.0
        assert signal.detail == f"{count} sends in the last hour (limit 25)"
        assert signal.data == {"sends_last_hour": count, "sends_last_day": count,
                               "per_hour": 25, "per_day": 100}


@pytest.mark.parametrize(("count", "fires"), [(99, False), (100, True)])
def test_daily_limit_boundary(run, make_facts, count: int, fires: bool) -> None:
    # Spread over the day, never more than 10 in any hour.
    recent = sends(count, timedelta(minutes=14), start=timedelta(minutes=1))
    signal = run(VolumeDetector, fct=make_facts(recent_sends=recent))
    assert (signal is not None) is fires
    if fires:
        assert signal.data["sends_last_day"] == 100
        assert signal.data["sends_last_hour"] == 5
        assert signal.detail == "100 sends in the last 24h (limit 100)"


def test_window_edges(run, make_facts) -> None:
    settings = {"per_hour": 2, "per_day": 3}
    exactly_an_hour_ago = make_facts(recent_sends=(NOW - timedelta(hours=1), NOW))
    assert run(VolumeDetector, settings, fct=exactly_an_hour_ago) is None
    just_inside = make_facts(recent_sends=(NOW - timedelta(minutes=59, seconds=59), NOW))
    assert run(VolumeDetector, settings, fct=just_inside).data["sends_last_hour"] == 2
    old = make_facts(recent_sends=(NOW - timedelta(days=1), NOW - timedelta(days=2), NOW))
    assert run(VolumeDetector, settings, fct=old) is None
    future = make_facts(recent_sends=(NOW + timedelta(seconds=3), NOW))
    assert run(VolumeDetector, settings, fct=future).data["sends_last_hour"] == 2


def test_both_limits_reported_one_score(run, make_facts) -> None:
    settings = {"per_hour": 2, "per_day": 3, "score": 7}
    recent = sends(3, timedelta(minutes=1))
    signal = run(VolumeDetector, settings, fct=make_facts(recent_sends=recent))
    assert signal.score == 7.0
    assert signal.detail == ("3 sends in the last hour (limit 2); 3 sends in the last 24h"
                             " (limit 3)")


def test_limit_can_be_turned_off(run, make_facts) -> None:
    recent = make_facts(recent_sends=sends(30, timedelta(minutes=1)))
    assert run(VolumeDetector, {"per_hour": None}, fct=recent) is None
