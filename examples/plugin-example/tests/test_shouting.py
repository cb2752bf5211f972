"""Tests of the example plugin, in the style the plugin guide recommends: register the plugin
module in a fixture (not through the installed entry point) and always drop it afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import inmail_guard as ig
import pytest
from inmail_guard.plugins.manager import Plugins, build_plugin_manager

import inmail_guard_shouting

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
POLICY = """\
name: shouting-test
extends: builtin:default
spam:
  detectors:
    shouting: {score: 10, min_ratio: 0.7, min_letters: 20}
"""


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ig.Engine]:
    # If the package is also installed, its entry point must not register it a second time.
    monkeypatch.setenv("INMAIL_GUARD_DISABLE_PLUGINS", "shouting")
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    plugins = Plugins(build_plugin_manager(extra=[inmail_guard_shouting]))
    yield ig.Engine(ig.load_policy(path), plugins)
    plugins.pm.unregister(inmail_guard_shouting)


def send(subject: str, body: str) -> tuple[ig.Message, ig.Facts]:
    return (ig.Message("alice", "bob", subject, body),
            ig.Facts(ig.Member("alice", "premium_business"), ig.Member("bob"), NOW,
                     connection_degree=2))


def test_shouting_is_rejected_as_spam(engine: ig.Engine) -> None:
    decision = engine.evaluate(*send("AMAZING OFFER", "CLICK NOW TO CLAIM YOUR PRIZE TODAY"))
    assert decision.outcome == "rejected"
    assert decision.codes == ("spam_detected",)
    (signal,) = [s for s in decision.spam.signals if s.detector == "shouting"]
    assert signal.score == 10
    assert signal.data["ratio"] == 1.0


def test_ordinary_message_passes(engine: ig.Engine) -> None:
    decision = engine.evaluate(*send("Data role at Acme", "Hi Bob, open to a call next week?"))
    assert decision.outcome == "accepted"
    assert not [s for s in decision.spam.signals if s.detector == "shouting"]


def test_short_texts_abstain(engine: ig.Engine) -> None:
    decision = engine.evaluate(*send("HI", "OK?"))
    assert not [s for s in decision.spam.signals if s.detector == "shouting"]


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="min_ratio"):
        inmail_guard_shouting.ShoutingDetector.from_settings({"min_ratio": 2})
