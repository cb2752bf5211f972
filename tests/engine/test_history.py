"""What detectors need kept and read back across sends reaches the service through the engine
(``Detector.history`` -> ``Engine.history`` / ``Engine.send_annotations``), never by the
service reading detector settings or importing a detector module."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from inmail_guard import Detector, Engine, Facts, Message, Signal, hookimpl
from inmail_guard.engine.evaluator import PolicyCompileError
from inmail_guard.engine.history import (
    DEFAULT_ABUSE_THRESHOLD,
    DEFAULT_ABUSE_WINDOW,
    NO_ANNOTATIONS,
    History,
    SendAnnotations,
)
from inmail_guard.plugins.bulk import FINGERPRINT_VERSION, fingerprint
from inmail_guard.plugins.manager import Plugins, build_plugin_manager
from inmail_guard.policies.loader import load_policy_text
from inmail_guard.policies.schema import Policy

SERVICE = Path(__file__).parents[2] / "src" / "inmail_guard" / "service"
BODY = "Hello Dana, a platform role in Berlin that fits your Kafka work."


def policy(detectors: dict[str, Any]) -> Policy:
    return load_policy_text(json.dumps({
        "name": "history", "plans": {"pro": {"monthly_credits": 10}},
        "spam": {"reject_at": 10, "restrict_at": 15, "detectors": detectors}}))


def test_the_shipped_detectors_declare_their_windows_and_the_bulk_fingerprint():
    engine = Engine(policy({"abuse_reports": {"window": "7d", "threshold": 5},
                            "bulk": {"window": "12h"}}))
    history = engine.history
    assert (history.abuse_reports_window, history.abuse_reports_threshold) == (
        timedelta(days=7), 5)
    assert history.bodies_window == timedelta(hours=12)
    assert history.fingerprint_version == FINGERPRINT_VERSION
    assert engine.send_annotations(Message("s", "r", "Hi", BODY)) == SendAnnotations(
        fingerprint(BODY), FINGERPRINT_VERSION)


def test_without_the_detectors_nothing_is_kept_and_abuse_reports_use_the_defaults():
    engine = Engine(policy({"bulk": {"enabled": False}}))
    history = engine.history
    assert history.bodies_window is None and history.fingerprint is None
    assert (history.abuse_reports_window, history.abuse_reports_threshold) == (
        DEFAULT_ABUSE_WINDOW, DEFAULT_ABUSE_THRESHOLD)
    assert engine.send_annotations(Message("s", "r", "Hi", BODY)) is NO_ANNOTATIONS


class Echo(Detector):
    """A third-party detector that keeps its own body fingerprint (the body's length)."""

    name = "echo"

    def history(self) -> History:
        return History(bodies_window=timedelta(hours=3), fingerprint=lambda b: (len(b),),
                       fingerprint_version=7, abuse_reports_window=timedelta(days=60),
                       abuse_reports_threshold=2)

    def check(self, message: Message, facts: Facts, content: Any) -> Signal | None:
        return None


def plugins_with(*classes: type[Detector]) -> Plugins:
    class Registry:
        @hookimpl
        def inmail_guard_detectors(self) -> list[type[Detector]]:
            return list(classes)

    return Plugins(build_plugin_manager(extra=[Registry()]))


def test_any_detector_can_declare_what_a_send_keeps_and_the_longest_window_wins():
    engine = Engine(policy({"echo": {}, "abuse_reports": {"window": "30d"}}),
                    plugins_with(Echo))
    history = engine.history
    assert history.abuse_reports_window == timedelta(days=60)  # the longest window
    assert history.abuse_reports_threshold == 2  # the lowest threshold
    assert history.bodies_window == timedelta(hours=3)
    assert engine.send_annotations(Message("s", "r", "Hi", "four")) == SendAnnotations((4,), 7)


def test_two_detectors_keeping_different_fingerprints_are_a_compile_error():
    with pytest.raises(PolicyCompileError) as caught:
        Engine(policy({"echo": {}, "bulk": {}}), plugins_with(Echo))
    assert caught.value.problems == [
        ("spam.detectors", "detectors 'echo' and 'bulk' both declare a body fingerprint; the"
                           " store keeps one per send")]


def test_the_service_reaches_detectors_only_through_the_engine():
    for path in sorted(SERVICE.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert "plugins.bulk" not in text and "plugins import bulk" not in text, path.name
        assert "spam.detectors" not in text, path.name
