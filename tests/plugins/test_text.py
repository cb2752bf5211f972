"""Normalisation shared by the detectors: properties over arbitrary text."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inmail_guard import Engine, default_policy
from inmail_guard.engine.content import parse_body
from inmail_guard.engine.types import Facts, Member, Message
from inmail_guard.plugins.bulk import PERMUTATIONS, fingerprint
from inmail_guard.plugins.keywords import KeywordsDetector
from inmail_guard.plugins.text import domain_words, normalise
from obfuscations import OBFUSCATIONS, ORDINARY, Obfuscation

KEYWORDS = KeywordsDetector.from_settings({})
TEXT = st.text(st.characters(codec="utf-8"), max_size=300) | st.text(
    st.sampled_from("fre3 cl1k h-e.r\u200b\u0435\uff46!$@ ACT NOW"), max_size=60)


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_normalise_and_fingerprint_never_fail(text: str) -> None:
    norm = normalise(text)
    assert all(word and " " not in word for word in norm.words)
    assert norm.lower == norm.folded.lower()
    fp = fingerprint(text)
    assert fp == () or (len(fp) == PERMUTATIONS and all(0 <= v < 2**32 for v in fp))
    assert fingerprint(text) == fp
    domain_words(norm.lower)


@settings(max_examples=200, deadline=None)
@given(TEXT, TEXT)
def test_keywords_never_fail_and_stay_capped(subject: str, body: str) -> None:
    facts = Facts(sender=Member("s"), recipient=Member("r"), now=datetime(2026, 1, 1, tzinfo=UTC))
    signal = KEYWORDS.check(Message("s", "r", subject=subject, body=body), facts,
                            parse_body(body, max_source_chars=12000))
    assert signal is None or 0 < signal.score <= 10.0


def test_lone_surrogates_and_astral_characters() -> None:
    text = "click\ud800 here \U0001f600 fr\U0001d41ee"
    assert normalise(text).words[:2] == ["ciick\ud800", "here"]
    assert len(fingerprint(text)) == PERMUTATIONS


def test_unicode_punctuation_separates_words() -> None:
    assert normalise("don\u2019t \u201cact now\u201d \u2014 ok").words == [
        "don", "t", "act", "now", "ok"]


# --- every obfuscation the red team used, through the shipped policy -----------------------

ENGINE = Engine(default_policy())


def _evaluate(body: str):
    facts = Facts(sender=Member("s", plan="premium_business"), recipient=Member("r"),
                  connection_degree=2, now=datetime(2026, 11, 27, 10, 0, tzinfo=UTC))
    return ENGINE.evaluate(Message("s", "r", subject="Hello", body=body), facts)


@pytest.mark.parametrize("case", OBFUSCATIONS, ids=lambda c: c.name)
def test_default_policy_finds_obfuscated_phrase(case: Obfuscation) -> None:
    decision = _evaluate(f"Hi Dana, {case.written} for details about the role.")
    keywords = {s.detector: s for s in decision.spam.signals}.get("keywords")
    assert keywords is not None, decision.to_dict()
    assert keywords.data["phrases"] == [case.phrase]
    assert keywords.data["obfuscations"] == {case.phrase: [case.kind]}
    assert keywords.data["hits"] == 1
    assert keywords.score == 2.5


@pytest.mark.parametrize(("body", "_kept"), ORDINARY, ids=["russian", "greek", "german", "emoji"])
def test_default_policy_finds_no_spam_in_ordinary_non_latin_text(body: str, _kept) -> None:
    decision = _evaluate(body)
    assert "keywords" not in {s.detector for s in decision.spam.signals}, decision.to_dict()
    assert decision.outcome == "accepted", decision.to_dict()


def test_plugins_text_is_textnorm() -> None:
    """The detectors' names stay importable from plugins.text: the same objects."""
    from inmail_guard import textnorm
    from inmail_guard.plugins import text

    for name in text.__all__:
        assert getattr(text, name) is getattr(textnorm, name)
