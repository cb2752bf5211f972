"""The plugin contract as the engine sees it: discovery, isolation, on_error, shadow, skipping."""

from __future__ import annotations

import json
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from inmail_guard import Detector, DetectorConfig, Engine, Facts, Member, Message, Signal, hookimpl
from inmail_guard.engine.evaluator import PolicyCompileError
from inmail_guard.plugins.manager import PluginError, Plugins, build_plugin_manager
from inmail_guard.policies.loader import load_policy_text
from inmail_guard.policies.schema import Policy

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def policy(detectors: dict[str, Any], rules_mode: dict[str, str] | None = None,
           **spam: Any) -> Policy:
    return load_policy_text(json.dumps({
        "name": "contract",
        "plans": {"pro": {"monthly_credits": 10}},
        "spam": {"reject_at": 10, "restrict_at": 15, "detectors": detectors, **spam},
        "rules_mode": rules_mode or {},
    }))


def send(body: str = "Hello there, a role for you.") -> tuple[Message, Facts]:
    return (Message("s", "r", "Hi", body),
            Facts(sender=Member("s", "pro"), recipient=Member("r"), now=NOW))


class Fixed(Detector):
    """Scores ``score`` when its word appears in the body."""

    name = "fixed"

    class Config(DetectorConfig):
        word: str = "deal"

    def check(self, message: Message, facts: Facts, content: Any) -> Signal | None:
        if self.config.word in message.body:  # type: ignore[attr-defined]
            return self.signal(self.config.score, f"saw {self.config.word}")  # type: ignore[attr-defined]
        return None


class Boom(Detector):
    name = "boom"

    def check(self, message: Message, facts: Facts, content: Any) -> Signal | None:
        raise RuntimeError("model server down")


class Pricey(Detector):
    name = "pricey"
    expensive = True
    calls = 0

    def check(self, message: Message, facts: Facts, content: Any) -> Signal | None:
        type(self).calls += 1
        return self.signal(self.config.score, "pricey")


class Registry:
    @hookimpl
    def inmail_guard_detectors(self) -> list[type[Detector]]:
        return [Fixed, Boom, Pricey]


@pytest.fixture
def plugins() -> Plugins:
    return Plugins(build_plugin_manager(extra=[Registry()]))


def test_detector_signal_scores_and_rejects(plugins: Plugins) -> None:
    engine = Engine(policy({"fixed": {"score": 12}}), plugins)
    decision = engine.evaluate(*send("a great deal"))
    assert decision.codes == ("spam_detected",)
    assert decision.spam.score == 12
    assert [s.to_dict() for s in decision.spam.signals] == [
        {"detector": "fixed", "score": 12.0, "detail": "saw deal", "data": {}}]
    assert decision.restrict_sender_until is None  # 12 < restrict_at 15


def test_max_score_caps_a_signal(plugins: Plugins) -> None:
    engine = Engine(policy({"fixed": {"score": 40, "max_score": 9}}), plugins)
    decision = engine.evaluate(*send("deal"))
    assert (decision.outcome, decision.spam.score) == ("accepted", 9)


def test_fail_open_detector_is_recorded_and_ignored(plugins: Plugins) -> None:
    engine = Engine(policy({"boom": {"score": 5}}), plugins)
    decision = engine.evaluate(*send())
    assert decision.outcome == "accepted"
    [signal] = decision.spam.signals
    assert signal.error == "RuntimeError: model server down"
    assert signal.score == 0


def test_fail_closed_detector_rejects_with_detector_failed(plugins: Plugins) -> None:
    engine = Engine(policy({"boom": {"score": 5, "on_error": "fail_closed"}}), plugins)
    decision = engine.evaluate(*send())
    assert decision.codes == ("detector_failed",)
    assert decision.reasons[0].rule == "spam.detectors.boom"
    assert "model server down" not in decision.reasons[0].sender_message


def test_one_failing_detector_does_not_stop_the_others(plugins: Plugins) -> None:
    engine = Engine(policy({"boom": {}, "fixed": {"score": 11}}), plugins)
    decision = engine.evaluate(*send("deal"))
    assert decision.codes == ("spam_detected",)
    assert {s.detector for s in decision.spam.signals} == {"boom", "fixed"}


def test_shadow_detector_reports_but_never_rejects(plugins: Plugins) -> None:
    engine = Engine(policy({"fixed": {"score": 20}}, {"fixed": "shadow"}), plugins)
    decision = engine.evaluate(*send("deal"))
    assert decision.outcome == "accepted"
    assert decision.spam.score == 0
    assert [s.to_dict() for s in decision.shadow] == [{
        "code": "spam_detected", "rule": "spam.detectors.fixed",
        "detail": "fixed 20 would bring the score to 20 >= reject_at 10"}]
    assert decision.spam.signals[0].shadow


def test_shadow_fail_closed_detector_reports_detector_failed(plugins: Plugins) -> None:
    engine = Engine(policy({"boom": {"on_error": "fail_closed"}}, {"boom": "shadow"}), plugins)
    decision = engine.evaluate(*send())
    assert decision.outcome == "accepted"
    assert [s.code for s in decision.shadow] == ["detector_failed"]


def test_shadow_static_rule_reports_but_never_rejects(plugins: Plugins) -> None:
    engine = Engine(policy({}, {"self_message": "shadow"}), plugins)
    _, facts = send()
    decision = engine.evaluate(Message("s", "s", "Hi", "Hello"), facts)
    assert decision.outcome == "accepted"
    assert [(s.code, s.rule) for s in decision.shadow] == [("self_message", "self_message")]


def test_detectors_skipped_after_static_rejection(plugins: Plugins) -> None:
    Pricey.calls = 0
    engine = Engine(policy({"fixed": {"score": 1}, "pricey": {"score": 1}}), plugins)
    _, facts = send("deal")
    decision = engine.evaluate(Message("s", "s", "Hi", "deal"), facts)
    assert decision.codes == ("self_message",)
    assert decision.spam.signals == ()
    assert decision.spam.skipped == ("fixed", "pricey")
    assert decision.spam.skipped_reason == "a static rule rejected the send"
    assert Pricey.calls == 0


def test_expensive_detector_skipped_once_restriction_is_certain(plugins: Plugins) -> None:
    Pricey.calls = 0
    engine = Engine(policy({"fixed": {"score": 16}, "pricey": {"score": 5}}), plugins)
    decision = engine.evaluate(*send("deal"))
    assert Pricey.calls == 0
    assert decision.spam.skipped == ("pricey",)
    assert decision.restrict_sender_until == datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
    # Same outcome, reasons and restriction as when it runs:
    full = Engine(policy({"fixed": {"score": 16}, "pricey": {"score": 5, "on_error":
                                                                 "fail_closed"}}), plugins)
    ran = full.evaluate(*send("deal"))
    assert Pricey.calls == 1
    assert (ran.outcome, ran.codes, ran.restrict_sender_until) == (
        decision.outcome, decision.codes, decision.restrict_sender_until)


def test_evaluate_many_equals_evaluate(plugins: Plugins) -> None:
    engine = Engine(policy({"fixed": {"score": 16}, "pricey": {"score": 5}, "boom": {}}),
                    plugins)
    bodies = ["deal", "hello", "", "a deal again", "nothing"]
    pairs = [send(b) for b in bodies]
    many = engine.evaluate_many(pairs)
    one = [engine.evaluate(m, f) for m, f in pairs]
    strip = lambda d: {k: v for k, v in d.to_dict().items()  # noqa: E731
                       if k not in ("decision_id", "duration_ms")}
    assert [strip(d) for d in many] == [strip(d) for d in one]


def test_unknown_detector_names_the_installed_ones(plugins: Plugins) -> None:
    with pytest.raises(PolicyCompileError) as err:
        Engine(policy({"volumee": {}}), plugins)
    assert err.value.problems == [
        ("spam.detectors.volumee",
         "unknown detector 'volumee'; installed detectors: "
         + ", ".join(sorted(plugins.detector_classes())))]


def test_detector_settings_checked_against_config(plugins: Plugins) -> None:
    with pytest.raises(PolicyCompileError) as err:
        Engine(policy({"fixed": {"score": -1, "wrod": "x"}}), plugins)
    assert err.value.problems == [
        ("spam.detectors.fixed.score", "Input should be greater than or equal to 0"),
        ("spam.detectors.fixed.wrod", "Extra inputs are not permitted"),
    ]


def test_duplicate_detector_names_are_an_error() -> None:
    class Twin(Fixed):
        pass

    class Other:
        @hookimpl
        def inmail_guard_detectors(self) -> list[type[Detector]]:
            return [Twin]

    plugins = Plugins(build_plugin_manager(extra=[Registry(), Other()]))
    with pytest.raises(PluginError, match="detector 'fixed' is registered by both"):
        plugins.detector_classes()


def test_module_level_check_impl_is_rejected() -> None:
    class Rogue:
        @hookimpl
        def inmail_guard_check(self, message: Message) -> Signal | None:
            return None

    plugins = Plugins(build_plugin_manager(extra=[Registry(), Rogue()]))
    with pytest.raises(PluginError, match="implements inmail_guard_check directly"):
        Engine(policy({"fixed": {}}), plugins)


def test_advice_only_on_accepted_decisions_and_failing_advisor_isolated() -> None:
    from inmail_guard import Advice

    class Advisor:
        @hookimpl
        def inmail_guard_advise(self, message: Message) -> list[Advice]:
            return [Advice("short_is_sweet", "Keep it short.")]

    class Broken:
        @hookimpl
        def inmail_guard_advise(self) -> list[Advice]:
            raise RuntimeError("nope")

    plugins = Plugins(build_plugin_manager(extra=[Registry(), Advisor(), Broken()]))
    engine = Engine(policy({}), plugins)
    accepted = engine.evaluate(*send())
    assert [a.code for a in accepted.advice if a.code == "short_is_sweet"] == ["short_is_sweet"]
    _, facts = send()
    rejected = engine.evaluate(Message("s", "s", "Hi", "x"), facts)
    assert rejected.advice == ()


# --- discovery through a real entry point ----------------------------------------------------


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A third-party package installed the way pip would: a module plus a .dist-info with an
    entry point in group inmail_guard, on sys.path."""
    (tmp_path / "acme_detectors.py").write_text(textwrap.dedent('''
        from inmail_guard import Detector, DetectorConfig, Signal, hookimpl

        class Crypto(Detector):
            name = "crypto_pitch"

            class Config(DetectorConfig):
                score: float = 11

            def check(self, message, facts, content):
                if "bitcoin" in content.text.lower():
                    return self.signal(self.config.score, "crypto pitch")
                return None

        @hookimpl
        def inmail_guard_detectors():
            return [Crypto]
    '''))
    dist = tmp_path / "acme_detectors-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-detectors\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[inmail_guard]\nacme = acme_detectors\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("INMAIL_GUARD_PLUGINS", raising=False)
    monkeypatch.delenv("INMAIL_GUARD_DISABLE_PLUGINS", raising=False)
    yield "acme"
    sys.modules.pop("acme_detectors", None)


def test_entry_point_plugin_is_discovered_and_runs(installed_plugin: str) -> None:
    engine = Engine(policy({"crypto_pitch": {}}))
    decision = engine.evaluate(*send("Invest in Bitcoin today"))
    assert decision.codes == ("spam_detected",)
    assert decision.spam.signals[0].detector == "crypto_pitch"


def test_deny_list_keeps_a_plugin_out(installed_plugin: str,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INMAIL_GUARD_DISABLE_PLUGINS", "acme")
    with pytest.raises(PolicyCompileError, match="unknown detector 'crypto_pitch'"):
        Engine(policy({"crypto_pitch": {}}))


def test_allow_list_loads_only_named_plugins(installed_plugin: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INMAIL_GUARD_PLUGINS", "")
    assert "crypto_pitch" not in Plugins().detector_classes()
    monkeypatch.setenv("INMAIL_GUARD_PLUGINS", "acme")
    assert "crypto_pitch" in Plugins().detector_classes()
