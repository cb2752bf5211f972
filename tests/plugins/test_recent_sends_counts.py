"""The volume and automation detectors read a heavy sender's send times by sorting and
bisecting; they must decide exactly as the one-by-one loops they replaced (main at 6f3191b),
on any order of times, times exactly on a window's edge, and times after ``now``."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest

from inmail_guard.engine.content import parse_body
from inmail_guard.engine.types import Client, Facts, Member, Message
from inmail_guard.plugins.automation import AutomationDetector
from inmail_guard.plugins.volume import DAY, HOUR, VolumeDetector

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
CONTENT = parse_body("Hi Dana, a role at Acme", max_source_chars=12000)


def old_volume_counts(facts: Facts) -> tuple[int, int]:
    hour_ago, day_ago = facts.now - HOUR, facts.now - DAY
    last_hour = last_day = 0
    for sent in facts.recent_sends:
        if sent > day_ago:
            last_day += 1
            if sent > hour_ago:
                last_hour += 1
    return last_hour, last_day


def old_automation_timing(detector: AutomationDetector, facts: Facts) -> dict[str, Any]:
    """The timing sub-signals' data as the old code computed them."""
    cfg, now, data = detector.config, facts.now, {}
    ages = sorted(age for age in ((now - sent).total_seconds() for sent in facts.recent_sends)
                  if age >= 0)
    if ages and ages[0] < cfg.min_interval.total_seconds():
        data["too_fast"] = ages[0]
    window = ages[:cfg.regular_window]
    if len(window) > cfg.regular_min_intervals:
        gaps = [older - newer for newer, older in pairwise(window)]
        mean = sum(gaps) / len(gaps)
        spread = math.sqrt(sum((g - mean) ** 2 for g in gaps) / len(gaps))
        cv = spread / mean if mean > 0 else 0.0
        if cv < cfg.regular_max_cv:
            data["regular_intervals"] = {"intervals": len(gaps), "mean_seconds": round(mean, 3),
                                         "cv": round(cv, 4)}
    return data


def history(rng: random.Random) -> tuple[datetime, ...]:
    n = rng.choice((0, 1, 3, 6, 25, 30, 99, 100, 200, 1000))
    kind = rng.choice(("random", "regular", "burst"))
    times = []
    for i in range(n):
        if kind == "regular":
            at = NOW - timedelta(seconds=60 * i + rng.choice((0, 0, 1)))
        elif kind == "burst":
            at = NOW - timedelta(seconds=rng.randrange(0, 4 * 3600))
        else:
            at = NOW - timedelta(seconds=rng.randrange(-600, 26 * 3600),
                                 microseconds=rng.randrange(10**6))
        times.append(at)
    times += rng.sample([NOW - HOUR, NOW - DAY, NOW, NOW + timedelta(seconds=1)],
                        rng.randrange(5))  # edges, and after now (clock skew)
    if rng.random() < 0.5:
        rng.shuffle(times)  # callers' order; the store's is oldest first
    else:
        times.sort()
    return tuple(times)


@pytest.mark.parametrize("seed", range(60))
def test_volume_counts_as_the_loop_did(seed: int) -> None:
    rng = random.Random(seed)
    facts = Facts(Member("s1"), Member("r1"), NOW, recent_sends=history(rng))
    detector = VolumeDetector.from_settings({"per_hour": rng.choice((1, 25, 60)),
                                             "per_day": rng.choice((1, 100, 300))})
    last_hour, last_day = old_volume_counts(facts)
    signal = detector.check(Message("s1", "r1"), facts, CONTENT)
    cfg = detector.config
    if last_hour < cfg.per_hour and last_day < cfg.per_day:
        assert signal is None
    else:
        assert signal is not None
        assert (signal.data["sends_last_hour"], signal.data["sends_last_day"]) == (
            last_hour, last_day)


@pytest.mark.parametrize("seed", range(60))
def test_automation_times_as_the_loop_did(seed: int) -> None:
    rng = random.Random(seed)
    facts = Facts(Member("s1"), Member("r1"), NOW, recent_sends=history(rng))
    detector = AutomationDetector.from_settings(
        {"regular_window": rng.choice((3, 20, 50)), "regular_max_cv": rng.choice((0.1, 0.5))})
    msg = Message("s1", "r1", client=Client(user_agent="python-requests/2.32"))
    want = old_automation_timing(detector, facts)
    signal = detector.check(msg, facts, CONTENT)
    assert signal is not None  # the user agent alone is weak evidence
    got = {k: v for k, v in signal.data.items() if k in ("too_fast", "regular_intervals")}
    if "too_fast" in got:
        got["too_fast"] = got["too_fast"]["seconds_since_last"]
    assert got == want


def test_the_cases_cover_every_outcome() -> None:
    """Worth something only if the random histories reach each branch."""
    seen = set()
    for seed in range(60):
        rng = random.Random(seed)
        facts = Facts(Member("s1"), Member("r1"), NOW, recent_sends=history(rng))
        hour, day = old_volume_counts(facts)
        seen.add(("hour", hour >= 25))
        seen.add(("day", day >= 100))
        seen.update(old_automation_timing(AutomationDetector.from_settings({}), facts))
    assert seen >= {("hour", True), ("hour", False), ("day", True), ("day", False),
                    "too_fast", "regular_intervals"}
