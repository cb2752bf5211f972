"""The ``classifier`` detector (plugins/classifier.py) on top of the shipped model."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from inmail_guard.engine.content import parse_body
from inmail_guard.engine.types import Facts, Member, Message
from inmail_guard.models import ModelVerificationError
from inmail_guard.plugins import classifier
from inmail_guard.plugins.classifier import ClassifierDetector

FACTS = Facts(sender=Member("s1", plan="premium_business"), recipient=Member("r1"),
              now=datetime(2026, 11, 27, 10, 0, tzinfo=UTC), connection_degree=2)
HAM = Message("s1", "r1", "Platform engineer role at Acme Berlin",
              "Hi Dana, I noticed your work on distributed systems at Acme. We are building a "
              "platform team in Berlin and your Kafka experience looks like a great fit. Would "
              "you be open to a short call next week? Best regards, Sam")
SPAM = Message("s1", "r1", "EARN $5000 A WEEK FROM HOME",
               "Make money fast!!! Work from home and earn $$$ every day with our proven "
               "system. No experience needed. Click here now, limited spots! 100% guaranteed "
               "income! Visit www.easy-cash-now.biz")


def check(detector: ClassifierDetector, msg: Message):
    return detector.check(msg, FACTS, parse_body(msg.body, max_source_chars=12000))


def test_registered_through_the_hook() -> None:
    assert classifier.inmail_guard_detectors() == [ClassifierDetector]
    assert ClassifierDetector.name == "classifier"
    assert ClassifierDetector.expensive is True


def test_scores_spam_and_abstains_on_ham() -> None:
    detector = ClassifierDetector.from_settings({})
    assert detector.threshold == detector.model.threshold  # calibrated, not hand-set
    assert check(detector, HAM) is None
    signal = check(detector, SPAM)
    assert signal is not None
    assert signal.detector == "classifier"
    assert signal.score == 10.0
    assert signal.data["model"] == "spam-v1"
    assert signal.data["model_version"] == detector.model.version
    assert signal.data["probability"] >= detector.threshold


def test_null_threshold_means_the_models_own_for_the_texts_channel() -> None:
    from inmail_guard.models.features import inmail_text

    detector = ClassifierDetector.from_settings({"threshold": None})
    assert detector.threshold == detector.model.threshold
    assert check(detector, HAM) is None
    signal = check(detector, SPAM)
    assert signal is not None
    text = inmail_text(SPAM.subject, SPAM.body)
    assert signal.data["threshold"] == detector.model.threshold_for(text)


def test_threshold_and_score_from_policy() -> None:
    detector = ClassifierDetector.from_settings({"threshold": 0.0, "score": 4})
    signal = check(detector, HAM)
    assert signal is not None and signal.score == 4.0


def test_batch_matches_single() -> None:
    detector = ClassifierDetector.from_settings({})
    items = [(m, FACTS, parse_body(m.body, max_source_chars=12000)) for m in (HAM, SPAM)]
    single = [detector.check(*item) for item in items]
    batch = detector.check_many(items)
    assert [s is None for s in batch] == [s is None for s in single]
    assert batch[1].data["probability"] == pytest.approx(single[1].data["probability"], abs=1e-6)


def test_pinned_model_must_match() -> None:
    with pytest.raises(ModelVerificationError, match="the caller pins sha256:"):
        ClassifierDetector.from_settings({"sha256": "ab" * 32})


def test_pin_format_is_validated() -> None:
    with pytest.raises(ValidationError):
        ClassifierDetector.from_settings({"sha256": "not-a-digest"})


def test_own_model_path(tiny_copy: Path) -> None:
    sha = json.loads(tiny_copy.with_suffix(".json").read_text())["sha256"]
    settings = {"model": str(tiny_copy), "sha256": f"sha256:{sha}"}
    detector = ClassifierDetector.from_settings(settings)
    assert detector.model.name == "tiny"


def test_a_relative_model_path_is_read_from_the_policy_files_folder(
        tiny_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from inmail_guard import Engine
    from inmail_guard.policies.loader import load_policy

    folder = tmp_path / "policies"
    (folder / "models").mkdir(parents=True)
    for suffix in (".joblib", ".json"):
        tiny_copy.with_suffix(suffix).rename(folder / "models" / f"tiny{suffix}")
    policy_file = folder / "p.yaml"
    sha = json.loads((folder / "models" / "tiny.json").read_text())["sha256"]
    policy_file.write_text("name: p\nextends: builtin:default\nspam:\n  detectors:\n"
                           f"    classifier: {{model: models/tiny.joblib, sha256: '{sha}'}}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # as blocklist files: not the working directory
    engine = Engine(load_policy(str(policy_file)))
    (slot,) = [s for s in engine.detectors if s.detector.name == "classifier"]
    assert slot.detector.model.path == folder / "models" / "tiny.joblib"
    assert classifier.model_ref("models/tiny.joblib", None) == "models/tiny.joblib"
    assert classifier.model_ref("builtin:spam-v1", engine.policy) == "builtin:spam-v1"


class StubModel:
    """A model whose spam probability the test sets."""

    name = "stub"
    version = "sha256:" + "0" * 64
    threshold = 0.8

    def __init__(self, probability: float) -> None:
        self.probability = probability

    def spam_probability(self, text: str) -> float:
        return self.probability

    def threshold_for(self, text: str) -> float:
        return self.threshold


def stub_detector(monkeypatch: pytest.MonkeyPatch, probability: float,
                  **settings: object) -> ClassifierDetector:
    import inmail_guard.models

    monkeypatch.setattr(inmail_guard.models, "load_model", lambda ref, sha: StubModel(probability))
    return ClassifierDetector.from_settings(settings)


@pytest.mark.parametrize("probability, score, detail", [
    (0.39, None, None),
    (0.4, None, None),
    (0.6, 5.0, "spam probability 0.600 between 0.4 and 0.8: 5 of 10 (stub)"),
    (0.7, 7.5, "spam probability 0.700 between 0.4 and 0.8: 7.5 of 10 (stub)"),
    (0.8, 10.0, "spam probability 0.800 >= 0.8 (stub)"),
    (0.95, 10.0, "spam probability 0.950 >= 0.8 (stub)"),
])
def test_graded_from_scores_a_share_growing_up_to_the_threshold(
        monkeypatch: pytest.MonkeyPatch, probability: float, score: float | None,
        detail: str | None) -> None:
    detector = stub_detector(monkeypatch, probability, graded_from=0.4)
    signal = check(detector, HAM)
    if score is None:
        assert signal is None
        return
    assert signal is not None
    assert (signal.score, signal.detail) == (score, detail)
    assert signal.data["graded_from"] == 0.4
    assert signal.data["threshold"] == 0.8


def test_without_graded_from_it_is_all_or_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert check(stub_detector(monkeypatch, 0.79), HAM) is None
    signal = check(stub_detector(monkeypatch, 0.8), HAM)
    assert signal is not None and signal.score == 10.0
    assert "graded_from" not in signal.data


def test_graded_from_at_or_above_the_threshold_grades_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert check(stub_detector(monkeypatch, 0.7, graded_from=0.9), HAM) is None
    assert check(stub_detector(monkeypatch, 0.85, graded_from=0.9), HAM).score == 10.0


def test_a_borderline_probability_and_keyword_hits_add_up_to_a_rejection(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import inmail_guard.models
    from inmail_guard import Engine
    from inmail_guard.policies.loader import load_policy_text

    monkeypatch.setattr(inmail_guard.models, "load_model", lambda ref, sha: StubModel(0.6))
    # Two keyword hits (a run of "!!!" and a link shortener): 5 points of the 10 needed.
    msg = Message("s1", "r1", "Quick question", "Are you free this week??? Great!!! "
                  "Details: https://bit.ly/abc123")

    def decide(graded: str):
        policy = load_policy_text(
            "name: p\nextends: builtin:default\nspam:\n  detectors:\n"
            f"    classifier: {{threshold: 0.8{graded}}}\n")
        return Engine(policy).evaluate(msg, FACTS)

    alone = decide(", graded_from: null")
    assert alone.outcome == "accepted"
    assert [s.detector for s in alone.spam.signals if s.score] == ["keywords"]
    both = decide(", graded_from: 0.4")
    assert both.outcome == "rejected"
    assert [r.code for r in both.reasons] == ["spam_detected"]
    assert sorted((s.detector, s.score) for s in both.spam.signals if s.score) == [
        ("classifier", 5.0), ("keywords", 5.0)]
