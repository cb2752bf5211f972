"""The automation detector: declared, headless user agent, too fast, machine-regular."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from inmail_guard.engine.types import Client
from inmail_guard.plugins.automation import AutomationDetector

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)  # conftest's facts() use this now
BROWSER = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/537.36 (KHTML, like Gecko)"
           " Chrome/120.0 Safari/537.36")
HUMAN_SENDS = tuple(NOW - timedelta(seconds=s) for s in (40, 400, 1300, 1500, 3600, 7300, 9000))


def test_human_abstains(run, make_facts) -> None:
    fct = make_facts(recent_sends=HUMAN_SENDS)
    assert run(AutomationDetector, client=Client(user_agent=BROWSER), fct=fct) is None
    assert run(AutomationDetector, fct=make_facts()) is None


def test_declared_automated(run) -> None:
    signal = run(AutomationDetector, client=Client(automated=True, user_agent=BROWSER))
    assert signal.score == 15.0
    assert signal.data == {"declared_automated": True, "evidence": "strong"}
    assert signal.detail == "automation (strong evidence): the client says it is automated"


@pytest.mark.parametrize(
    ("agent", "found"),
    [
        ("Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/120.0.0.0 Safari/537.36",
         "HeadlessChrome"),
        ("Mozilla/5.0 (Unknown; Linux x86_64) PhantomJS/2.1.1 Safari/538.1", "PhantomJS"),
        ("python-requests/2.31.0", "python-requests"),
        ("curl/8.4.0", "curl/"),
        ("Mozilla/5.0 Selenium WebDriver", "Selenium"),
        ("Puppeteer/21.0", "Puppeteer"),
        ("Mozilla/5.0 Playwright/1.40", "Playwright"),
        ("Mozilla/5.0 (compatible; Googlebot/2.1)", "Googlebot"),
        ("OutreachBot 1.0", "OutreachBot"),
    ],
)
def test_headless_user_agents(run, agent: str, found: str) -> None:
    signal = run(AutomationDetector, client=Client(user_agent=agent))
    assert signal.data == {"headless_user_agent": found, "evidence": "weak"}
    assert signal.score == 6.0


@pytest.mark.parametrize("agent", [BROWSER, "Mozilla/5.0 (Linux; Android 12; CUBOT X30)", ""])
def test_ordinary_user_agents(run, agent: str) -> None:
    assert run(AutomationDetector, client=Client(user_agent=agent)) is None


def test_policy_user_agents(run) -> None:
    settings = {"user_agents": ["LeadBlaster"]}
    signal = run(AutomationDetector, settings, client=Client(user_agent="leadblaster/3"))
    assert signal.data == {"headless_user_agent": "leadblaster", "evidence": "weak"}


@pytest.mark.parametrize(("seconds", "fires"), [(4.999, True), (5.0, False), (0.0, True)])
def test_too_fast_boundary(run, make_facts, seconds: float, fires: bool) -> None:
    fct = make_facts(recent_sends=(NOW - timedelta(hours=2), NOW - timedelta(seconds=seconds)))
    signal = run(AutomationDetector, fct=fct)
    assert (signal is not None) is fires
    if fires:
        assert signal.data == {"too_fast": {"seconds_since_last": seconds, "min_interval": "5s"},
                               "evidence": "weak"}
        assert signal.score == 6.0


def test_future_sends_are_not_the_last_send(run, make_facts) -> None:
    fct = make_facts(recent_sends=(NOW + timedelta(seconds=1), NOW - timedelta(minutes=10)))
    assert run(AutomationDetector, fct=fct) is None


def regular(count: int, every: float, jitter: tuple[float, ...] = ()) -> tuple:
    start = NOW - timedelta(minutes=30)
    return tuple(start - timedelta(seconds=every * i + (jitter[i] if jitter else 0))
                 for i in range(count))


def test_machine_regular_intervals(run, make_facts) -> None:
    signal = run(AutomationDetector, fct=make_facts(recent_sends=regular(6, 60)))
    assert signal.data == {"regular_intervals": {"intervals": 5, "mean_seconds": 60.0, "cv": 0.0},
                           "evidence": "weak"}
    assert signal.detail == "automation: 5 gaps of ~60s between sends (CV 0.000)"


def test_too_few_intervals_are_not_judged(run, make_facts) -> None:
    assert run(AutomationDetector, fct=make_facts(recent_sends=regular(5, 60))) is None


def test_irregular_intervals(run, make_facts) -> None:
    jitter = (0, 20, -15, 25, 0, -20)  # CV well above 0.1
    assert run(AutomationDetector, fct=make_facts(recent_sends=regular(6, 60, jitter))) is None
    small = (0, 2, -1, 1, 0, -2)  # CV ~0.04: still a machine
    signal = run(AutomationDetector, fct=make_facts(recent_sends=regular(6, 60, small)))
    assert signal.data["regular_intervals"]["intervals"] == 5
    assert signal.data["regular_intervals"]["cv"] < 0.1


def test_all_sub_signals_together_score_once(run, make_facts) -> None:
    sends = tuple(NOW - timedelta(seconds=3 * (i + 1)) for i in range(8))
    signal = run(AutomationDetector,
                 client=Client(automated=True, user_agent="python-requests/2.31"),
                 fct=make_facts(recent_sends=sends))
    assert set(signal.data) == {"declared_automated", "headless_user_agent", "too_fast",
                                "regular_intervals", "evidence"}
    assert signal.score == 15.0


SCRIPTED = "python-requests/2.31"
HEADLESS = "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/120.0.0.0 Safari/537.36"


@pytest.mark.parametrize(
    ("client", "sends", "score", "evidence"),
    [
        # strong: declared, or a scripted/headless agent at machine cadence
        (Client(automated=True, user_agent=BROWSER), HUMAN_SENDS, 15.0, "strong"),
        (Client(automated=True), (), 15.0, "strong"),
        (Client(user_agent=SCRIPTED), (NOW - timedelta(seconds=2),), 15.0, "strong"),
        (Client(user_agent=HEADLESS), regular(6, 60), 15.0, "strong"),
        # weak: one sub-signal, or cadence from a browser
        (Client(user_agent=SCRIPTED), HUMAN_SENDS, 6.0, "weak"),
        (Client(user_agent=BROWSER), (NOW - timedelta(seconds=2),), 6.0, "weak"),
        (Client(user_agent=BROWSER), regular(6, 60), 6.0, "weak"),
        (None, (NOW - timedelta(seconds=1), *regular(6, 60)), 6.0, "weak"),
    ],
)
def test_evidence_is_graded(run, make_facts, client, sends, score: float, evidence: str) -> None:
    signal = run(AutomationDetector, client=client, fct=make_facts(recent_sends=sends))
    assert signal.score == score
    assert signal.data["evidence"] == evidence


def test_strong_score_is_configurable_and_null_means_weak(run) -> None:
    declared = Client(automated=True)
    assert run(AutomationDetector, {"strong_score": 9}, client=declared).score == 9.0
    old_style = run(AutomationDetector, {"score": 6, "strong_score": None}, client=declared)
    assert old_style.score == 6.0
    assert old_style.data["evidence"] == "weak"
    assert run(AutomationDetector, {"score": 4}, client=declared).score == 15.0
