"""The compiled fast path must agree with the sklearn pipeline it was compiled from."""

from __future__ import annotations

from pathlib import Path

import pytest

from inmail_guard.models import load_model
from inmail_guard.models.features import analyze, base_features, channel_prefix, inmail_text
from inmail_guard.models.scorer import CompiledScorer, UnsupportedPipelineError

TEXTS = [
    "",
    "   ",
    "ok",
    "Hi Anna, would you be open to a short call next week about a senior engineer role?",
    "EARN $5000 A WEEK FROM HOME!!! Click here now: http://get-rich.example.biz",
    "Free entry! Text WIN to 80086 to win. 150p per msg. Call 09061701461 now!",
    "Subject: quarterly numbers\nhi team , the meter 98765 volumes are attached . thanks , daren",
    "Subject: cheap meds\nbuy cheap meds online ! ! ! no prescription , visit www . meds . com",
    inmail_text("Senior data engineer role", "Hi Raj, your pipeline work is great. Chat?"),
    "free free free free free win win win cash cash £££ !!! ???",
    "zxqv unseen tokens only qwzx",
    "word " * 400,
]


@pytest.fixture(scope="module")
def shipped():
    return load_model("builtin:spam-v1")


def _check_agreement(model, texts: list[str]) -> None:
    expected = model.pipeline.predict_proba(texts)[:, 1]
    for text, want in zip(texts, expected, strict=True):
        assert model.spam_probability(text) == pytest.approx(float(want), abs=1e-9), text
    assert model.spam_probabilities(texts) == pytest.approx(expected.tolist(), abs=1e-12)


def test_fast_scorer_matches_pipeline_on_shipped_model(shipped) -> None:
    _check_agreement(shipped, TEXTS)


def test_fast_scorer_matches_pipeline_on_tiny_model(tiny_copy: Path) -> None:
    model = load_model(str(tiny_copy))
    tiny_texts = (tiny_copy.parents[0] / "tiny.json").read_text()  # arbitrary long text
    _check_agreement(model, [*TEXTS, tiny_texts])


def test_inmail_channel_uses_shared_weights_only(shipped) -> None:
    vocabulary = shipped.pipeline[0].vocabulary_
    assert not any(term.startswith("n:") for term in vocabulary)
    assert any(term.startswith("e:") for term in vocabulary)
    assert any(term.startswith("s:") for term in vocabulary)


def test_batch_of_nothing(shipped) -> None:
    assert shipped.spam_probabilities([]) == []


def test_channel_and_features() -> None:
    assert channel_prefix("Subject: hello\nbody") == "e:"
    assert channel_prefix("hello") == "s:"
    assert channel_prefix(inmail_text("Subject: hello", "body")) == "n:"
    assert base_features("Call 09061701461 now! www.x.com £5") == [
        "call", "xlongnum", "now", "!", "xurl", "xcur", "xnum",
        "call xlongnum", "xlongnum now", "now !", "! xurl", "xurl xcur", "xcur xnum", "xdoc",
    ]
    assert analyze("hi there") == [
        "hi", "there", "hi there", "xdoc", "s:hi", "s:there", "s:hi there", "s:xdoc",
    ]


def test_refuses_pipeline_of_another_shape() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    pipeline = make_pipeline(TfidfVectorizer(), LogisticRegression())
    pipeline.fit(["aa bb", "cc dd", "aa cc", "bb dd"], [0, 1, 0, 1])
    with pytest.raises(UnsupportedPipelineError, match="analyzer is not"):
        CompiledScorer.from_pipeline(pipeline)
