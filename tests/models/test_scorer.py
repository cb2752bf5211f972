"""The compiled fast path must agree with the sklearn pipeline it was compiled from."""

from __future__ import annotations

from pathlib import Path

import pytest

from inmail_guard.models import load_model
from inmail_guard.models.features import (
    analyze,
    analyze_email,
    base_features,
    channel_prefix,
    char_grams,
    email_feature_keys,
    feature_keys,
    inmail_text,
)
from inmail_guard.models.scorer import CompiledScorer, UnsupportedPipelineError
from model_pins import pin

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
    inmail_text("Long", "a long InMail with many words " * 30),
    inmail_text("Obfuscated", "V\u0435rify y\u043eur acc\u200bount, fr33 g i f t c4rd"),
    "free free free free free win win win cash cash £££ !!! ???",
    "zxqv unseen tokens only qwzx",
    "word " * 400,
]


@pytest.fixture(scope="module")
def shipped():
    return load_model("builtin:spam-v1")


def _expected(model, text: str) -> float:
    """What scikit-learn says: the word pipeline's probability, or for e-mail the route's, or
    (when the route has a partner) the partner's combination of the route's sklearn decision
    value and the text's embedding."""
    if channel_prefix(text) not in model.routes:
        return float(model.pipeline.predict_proba([text])[0, 1])
    route, partner = model.routes["e:"], model.partners.get("e:")
    if partner is None:
        return float(route.predict_proba([text])[0, 1])
    svm = route[-1].calibrated_classifiers_[0].estimator
    decision = svm.decision_function(route[0].transform([text]))
    return float(partner.probabilities(decision, model.encode([text]))[0])


def _check_agreement(model, texts: list[str], routes: set[str]) -> None:
    """Each text is scored by its channel's pipeline: the e-mail route (and its partner) for
    e-mail, the word pipeline for the rest; the compiled scorer and the batch path agree."""
    assert set(model.routes) == routes
    expected = [_expected(model, t) for t in texts]
    for text, want in zip(texts, expected, strict=True):
        assert model.spam_probability(text) == pytest.approx(want, abs=1e-9), text
    assert model.spam_probabilities(texts) == pytest.approx(expected, abs=1e-12)


def test_fast_scorer_matches_pipeline_on_shipped_model(shipped) -> None:
    _check_agreement(shipped, TEXTS, set())  # InMail form: the word pipeline for everything


def test_fast_scorer_matches_pipeline_on_tiny_model(tiny_copy: Path) -> None:
    model = load_model(str(tiny_copy), pin(tiny_copy))
    tiny_texts = (tiny_copy.parents[0] / "tiny.json").read_text()  # arbitrary long text
    _check_agreement(model, [*TEXTS, tiny_texts], {"e:"})


def test_inmail_channels_have_weights_of_their_own(shipped) -> None:
    vocabulary = shipped.pipeline[0].vocabulary_
    assert any(term.startswith("n:") for term in vocabulary)
    assert any(term.startswith("m:") for term in vocabulary)
    # Trained in InMail form: no row was an SMS or an e-mail channel, no character n-grams.
    assert not any(term.startswith(("e:", "s:")) for term in vocabulary)


def test_routes_choose_the_pipeline_and_threshold_by_channel(tiny_copy: Path) -> None:
    model = load_model(str(tiny_copy), pin(tiny_copy))
    mail = "Subject: cheap meds\nbuy cheap meds online ! ! ! no prescription needed"
    inmail = inmail_text("A role on my team", "Hi Raj, your pipeline work is great. Chat?")
    assert model.spam_probability(mail) == pytest.approx(_expected(model, mail), abs=1e-9)
    assert model.spam_probability(mail) != pytest.approx(
        float(model.pipeline.predict_proba([mail])[0, 1]), abs=1e-6)
    assert model.spam_probability(inmail) == pytest.approx(
        float(model.pipeline.predict_proba([inmail])[0, 1]), abs=1e-9)
    assert model.threshold_for(mail) == model.thresholds["e:"]
    assert model.threshold_for("free entry! text WIN") == model.thresholds["s:"]
    assert model.threshold_for(inmail) == model.threshold


def test_the_shipped_thresholds_are_per_inmail_channel(shipped) -> None:
    short = inmail_text("A role on my team", "Hi Raj, your pipeline work is great. Chat?")
    long = inmail_text("A role on my team", "Hi Raj, your pipeline work is great. " * 30)
    assert shipped.threshold_for(short) == shipped.thresholds["n:"]
    assert shipped.threshold_for(long) == shipped.thresholds["m:"]


def test_batch_of_nothing(shipped) -> None:
    assert shipped.spam_probabilities([]) == []


def test_channel_and_features() -> None:
    assert channel_prefix("Subject: hello\nbody") == "e:"
    assert channel_prefix("hello") == "s:"
    assert channel_prefix(inmail_text("Subject: hello", "body")) == "n:"
    assert channel_prefix(inmail_text("Subject: hello", "body " * 101)) == "m:"
    assert base_features("Call 09061701461 now! www.x.com £5") == [
        "call", "xlongnum", "now", "!", "xurl", "xcur", "xnum",
        "call xlongnum", "xlongnum now", "now !", "! xurl", "xurl xcur", "xcur xnum", "xdoc",
    ]
    assert analyze("hi there") == [
        "hi", "there", "hi there", "xdoc", "s:hi", "s:there", "s:hi there", "s:xdoc",
    ]
    assert char_grams("Ab") == [" a", "ab", "b ", " ab", "ab ", " ab "]
    assert char_grams("x  Y") == [" x", "x ", " x ", " y", "y ", " y "]
    assert analyze_email("hi there") == analyze("hi there")  # not e-mail: no char n-grams
    mail = analyze_email("Subject: ok")
    assert mail[:len(analyze("Subject: ok"))] == analyze("Subject: ok")
    assert mail[len(analyze("Subject: ok")):] == ["e:#" + g for g in char_grams("Subject: ok")]
    assert email_feature_keys("Subject: ok") == feature_keys("Subject: ok") + [
        "#" + g for g in char_grams("Subject: ok")]


def test_refuses_pipeline_of_another_shape() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    pipeline = make_pipeline(TfidfVectorizer(), LogisticRegression())
    pipeline.fit(["aa bb", "cc dd", "aa cc", "bb dd"], [0, 1, 0, 1])
    with pytest.raises(UnsupportedPipelineError, match="analyzer is not inmail_guard"):
        CompiledScorer.from_pipeline(pipeline)


def test_email_route_is_compiled_on_its_first_text(tiny_copy: Path) -> None:
    from inmail_guard.models.artifact import load_model_uncached

    model = load_model_uncached(str(tiny_copy), pin(tiny_copy))
    assert model.scorer.compiled_channels == ("n:", "m:")  # the InMail tables, at load
    model.spam_probability(inmail_text("A role on my team", "Hi Raj, chat next week?"))
    assert model.scorer.compiled_channels == ("n:", "m:")
    model.spam_probability("free entry! text WIN to 80086")
    assert model.scorer.compiled_channels == ("n:", "m:", "s:")
    assert model._scorers == {}  # InMail and SMS never build the e-mail route's tables
    model.spam_probability("Subject: cheap meds\nbuy cheap meds online")
    assert set(model._scorers) == {"e:"}
    assert model._scorers["e:"].compiled_channels == ("e:",)  # the route's own channel only
    assert model.scorer.compiled_channels == ("n:", "m:", "s:")


def test_tables_compiled_later_agree_with_tables_compiled_at_once(shipped) -> None:
    eager = CompiledScorer.from_pipeline(shipped.pipeline)
    lazy = CompiledScorer.from_pipeline(shipped.pipeline, channels=())
    assert lazy.compiled_channels == ()
    for text in TEXTS:
        assert lazy.decision(text) == eager.decision(text)  # same sums, same order: exact
    assert sorted(lazy.compiled_channels) == ["e:", "m:", "n:", "s:"]


def test_a_channel_is_compiled_once_when_threads_race_for_it(shipped, monkeypatch) -> None:
    import time
    from concurrent.futures import ThreadPoolExecutor

    from inmail_guard.models import scorer

    calls = []
    compile_tables = scorer._compile_tables

    def slow_compile(pipeline, channels):
        calls.append(channels)
        time.sleep(0.05)  # every thread reaches the missing table while this one compiles
        return compile_tables(pipeline, channels)

    lazy = CompiledScorer.from_pipeline(shipped.pipeline, channels=())
    monkeypatch.setattr(scorer, "_compile_tables", slow_compile)
    with ThreadPoolExecutor(4) as pool:
        scores = list(pool.map(lazy.decision, ["free entry! text WIN to 80086"] * 8))
    assert calls == [("s:",)]
    assert len(set(scores)) == 1
    assert lazy.compiled_channels == ("s:",)


def test_unknown_channel_is_a_key_error(shipped) -> None:
    lazy = CompiledScorer.from_pipeline(shipped.pipeline, channels=())
    with pytest.raises(KeyError, match="no compiled table for channel 'x:'"):
        lazy.decision("hello", "x:")
