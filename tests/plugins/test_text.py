"""Normalisation shared by the detectors: properties over arbitrary text."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from inmail_guard.engine.content import parse_body
from inmail_guard.engine.types import Facts, Member, Message
from inmail_guard.plugins.bulk import PERMUTATIONS, fingerprint
from inmail_guard.plugins.keywords import KeywordsDetector
from inmail_guard.plugins.text import domain_words, normalise

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
