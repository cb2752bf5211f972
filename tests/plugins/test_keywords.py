"""The keywords detector: phrases through obfuscation, shouting, '!!!', link shorteners."""

from __future__ import annotations

import random

import pytest
from pydantic import ValidationError

from inmail_guard.plugins.keywords import (
    SHORTENERS,
    KeywordsDetector,
    _PhraseIndex,
    default_phrases,
)
from inmail_guard.plugins.text import normalise


def test_default_list_is_shipped_and_sized() -> None:
    phrases = default_phrases()
    assert 30 <= len(phrases) <= 80
    for expected in ("work from home", "guaranteed income", "wire transfer", "act now",
                     "100% free", "crypto investment", "click here", "limited time offer"):
        assert expected in phrases


def test_ordinary_message_abstains(run) -> None:
    assert run(KeywordsDetector) is None


@pytest.mark.parametrize(
    ("body", "phrase", "kinds"),
    [
        ("Please Click Here to apply.", "click here", None),
        ("Please click here.", "click here", None),
        ("You can ACT NOW.", "act now", None),
        ("Get it 100% free today.", "100% free", None),
        ("Please a c t n o w, thanks.", "act now", ["spaced_letters"]),
        ("Start to w o r k  f r o m  h o m e today.", "work from home", ["spaced_letters"]),
        ("Just c-l-i-c-k h-e-r-e.", "click here", ["punctuated_letters"]),
        ("Pay by w.i.r.e t.r.a.n.s.f.e.r please.", "wire transfer", ["punctuated_letters"]),
        ("You can w0rk fr0m h0m3.", "work from home", ["leetspeak"]),
        ("Get it 1OO% fr33.", "100% free", ["leetspeak"]),
        ("Just c1ick h3re.", "click here", ["leetspeak"]),
        ("Just cl\u200bick he\u200dre.", "click here", ["zero_width"]),
        ("Just \u0441lick h\u0435re.", "click here", ["unicode"]),  # Cyrillic с, е
        ("\u0391ct n\u03bfw please.", "act now", ["unicode"]),  # Greek Α, ο
        ("\uff43\uff4c\uff49\uff43\uff4b \uff48\uff45\uff52\uff45", "click here", ["unicode"]),
        ("Cl\u00efck h\u00e9re.", "click here", ["unicode"]),  # accents
        ("Just cl\u200b1ck h\u0435re.", "click here", ["unicode", "zero_width", "leetspeak"]),
        ("Just #clickhere", "click here", None),
    ],
)
def test_phrases_through_obfuscation(run, body: str, phrase: str, kinds: list[str] | None) -> None:
    signal = run(KeywordsDetector, body=body)
    assert signal is not None
    assert signal.data["phrases"] == [phrase]
    assert signal.data.get("obfuscations", {}).get(phrase) == kinds
    assert signal.score == 2.5
    assert signal.data["hits"] == 1


@pytest.mark.parametrize(
    "body",
    [
        "Hi Dana, feel free to chat with me about the freelance role whenever suits you.",
        "I clicked through your portfolio and was impressed by the work you did at home base.",
        "We offer a 100% remote role and pay freelancers by bank transfer each month.",
        "Our clickable prototype is here: we act on feedback now and then.",
        "Working from homes in Berlin, our team builds free software. Act quickly if keen.",
        "I work at Acme Tech Co. in the U.S. and lead a team of 5. Details at acme.com/jobs.",
        "The salary is 100k plus bonus; I'm free to talk about it on Monday.",
        "Our AWS, GCP and SQL stack is described at https://example.com/stack, see you soon!",
        "It costs a bit. Lyon and Paris offices are open; check tinyurlz.com or bit.lyon.",
    ],
)
def test_no_false_hits_on_ordinary_prose(run, body: str) -> None:
    assert run(KeywordsDetector, body=body) is None


def test_subject_is_checked_too(run) -> None:
    signal = run(KeywordsDetector, subject="Guaranteed income for you")
    assert signal is not None
    assert signal.data["phrases"] == ["guaranteed income"]


def test_each_phrase_counts_once_and_score_is_capped(run) -> None:
    body = "Act now! act now. Click here, wire transfer, crypto investment, work from home."
    signal = run(KeywordsDetector, body=body)
    assert signal is not None
    assert signal.data["phrases"] == [
        "act now", "click here", "wire transfer", "crypto investment", "work from home"]
    assert signal.data["hits"] == 5
    assert signal.score == 10.0  # 5 * 2.5 = 12.5, capped at max_score
    assert signal.detail.startswith("5 spam hits: phrases 'act now', 'click here'")


def test_score_per_hit_and_cap_come_from_the_policy(run) -> None:
    settings = {"score_per_hit": 4, "max_score": 6}
    assert run(KeywordsDetector, settings, body="click here").score == 4.0
    assert run(KeywordsDetector, settings, body="click here, act now").score == 6.0


def test_policy_phrases_and_default_list_switch(run) -> None:
    settings = {"phrases": ["Passive Income", "DM me"], "use_default_list": False}
    signal = run(KeywordsDetector, settings, body="Earn p4ssive income: act now and DM me")
    assert signal is not None
    assert signal.data["phrases"] == ["Passive Income", "DM me"]
    assert signal.data["obfuscations"] == {"Passive Income": ["leetspeak"]}
    with_default = run(KeywordsDetector, {"phrases": ["dm me"]}, body="act now and DM me")
    assert with_default.data["phrases"] == ["act now", "dm me"]


def test_longest_phrase_wins_where_two_start(run) -> None:
    settings = {"phrases": ["free money", "free money now"], "use_default_list": False}
    signal = run(KeywordsDetector, settings, body="free money now")
    assert signal.data["phrases"] == ["free money now"]
    assert run(KeywordsDetector, settings, body="free money").data["phrases"] == ["free money"]
    # Elsewhere the shorter one still counts: each is reported once, in order of first place.
    both = run(KeywordsDetector, settings, body="Free money now, and free money later")
    assert both.data["phrases"] == ["free money now", "free money"]


def test_phrase_written_as_words_and_joined_counts_once(run) -> None:
    signal = run(KeywordsDetector, {"phrases": ["click here"], "use_default_list": False},
                 body="#clickhere or click here")
    assert signal.data["phrases"] == ["click here"]
    assert signal.data["hits"] == 1


def _reference_find(phrases: list[tuple[str, ...]], toks: list[str]) -> list[str]:
    """The matching rule spelled out: at each place, the longest phrase whose words (or all of
    them joined into one word) are there; each phrase once, by first place."""
    found: dict[str, None] = {}
    for i in range(len(toks)):
        at_i = [p for p in phrases if tuple(toks[i:i + len(p)]) == p]
        joined = [p for p in phrases if len(p) > 1 and toks[i] == "".join(p)]
        if at_i:
            found.setdefault(" ".join(max(at_i, key=len)), None)
        for p in joined:
            found.setdefault(" ".join(p), None)
    return list(found)


def test_phrase_index_agrees_with_the_rule_spelled_out() -> None:
    vocab = ["free", "money", "now", "you", "won", "a", "prize", "freemoney", "act"]
    phrase_words = [("free",), ("free", "money"), ("free", "money", "now"), ("you", "won"),
                    ("you", "won", "a", "prize"), ("act", "now"), ("money", "now")]
    index = _PhraseIndex(tuple(" ".join(p) for p in phrase_words), frozenset())
    rng = random.Random(20261127)
    for _ in range(500):
        toks = [rng.choice(vocab) for _ in range(rng.randint(0, 12))]
        assert index.find(toks) == _reference_find(phrase_words, toks), toks


@pytest.mark.parametrize("phrase", ["!!!", "", "  -- "])
def test_phrase_without_words_is_a_config_error(phrase: str) -> None:
    with pytest.raises(ValidationError, match="expected a phrase with letters or digits"):
        KeywordsDetector.Config.model_validate({"phrases": [phrase]})


def test_unknown_setting_is_an_error() -> None:
    with pytest.raises(ValidationError):
        KeywordsDetector.Config.model_validate({"phrase": ["x"]})


def test_all_caps_shouting(run) -> None:
    signal = run(KeywordsDetector, subject="Job", body="PLEASE READ THIS AMAZING OPENING TODAY")
    assert signal is not None
    assert signal.data == {"all_caps": 0.94, "hits": 1}  # 33 capitals of 35 letters ("Job")
    assert signal.score == 2.5
    assert signal.detail == "1 spam hit: 94% capitals"


def test_acronyms_and_short_caps_are_not_shouting(run) -> None:
    assert run(KeywordsDetector, subject="AWS role", body="Hi Dana, AWS, GCP, SQL, K8S?") is None
    body = "We use AWS, GCP, SQL and Kubernetes at ACME GmbH in Berlin."
    assert run(KeywordsDetector, body=body) is None


def test_caps_can_be_turned_off(run) -> None:
    body = "PLEASE READ THIS AMAZING OPENING TODAY"
    assert run(KeywordsDetector, {"caps_ratio": None}, subject="Job", body=body) is None


def test_exclamation_runs(run) -> None:
    signal = run(KeywordsDetector, body="Great news!!! Call me!!!! Thanks!! Bye!")
    assert signal is not None
    assert signal.data == {"exclamation_runs": 2, "hits": 1}
    assert signal.score == 2.5
    assert run(KeywordsDetector, body="Great news!! Call me!") is None
    assert run(KeywordsDetector, {"exclamation_run": None}, body="Wow!!!") is None
    full_width = run(KeywordsDetector, body="Wow\uff01\uff01\uff01")
    assert full_width.data["exclamation_runs"] == 1


def test_shortener_in_link_target(run) -> None:
    signal = run(KeywordsDetector, body="Hi Dana, [the job](https://bit.ly/3abc) is here.")
    assert signal is not None
    assert signal.data == {"shorteners": ["bit.ly"], "hits": 1}
    assert signal.detail == "1 spam hit: link shortener bit.ly"


@pytest.mark.parametrize(
    ("body", "found"),
    [
        ("See tinyurl.com/xyz for details.", ["tinyurl.com"]),
        ("See https://www.cutt.ly/x and t.co/abc.", ["cutt.ly", "t.co"]),
        ("See ow.ly/abc or is.gd/q, or goo.gl.", ["goo.gl", "is.gd", "ow.ly"]),
        ("Look: BIT.LY/UPPER", ["bit.ly"]),
        ("See <https://rebrand.ly/x> and buff.ly/y", ["buff.ly", "rebrand.ly"]),
    ],
)
def test_shortener_written_in_text(run, body: str, found: list[str]) -> None:
    signal = run(KeywordsDetector, body=body)
    assert signal is not None
    assert signal.data["shorteners"] == found
    assert signal.data["hits"] == len(found)


def test_extra_shorteners_from_policy(run) -> None:
    signal = run(KeywordsDetector, {"shorteners": ["sho.rt"]}, body="see sho.rt/x")
    assert signal.data["shorteners"] == ["sho.rt"]
    with pytest.raises(ValidationError, match="expected a lower-case domain"):
        KeywordsDetector.Config.model_validate({"shorteners": ["Not A Domain"]})


def test_builtin_shortener_set_covers_the_usual_ones() -> None:
    assert {"bit.ly", "tinyurl.com", "t.co", "goo.gl", "ow.ly", "is.gd", "buff.ly",
            "rebrand.ly", "cutt.ly"} <= SHORTENERS


def test_everything_together(run) -> None:
    body = "CLICK HERE TO GET YOUR 100% FR33 CRYPTO INVESTMENT!!! BIT.LY/X"
    signal = run(KeywordsDetector, subject="URGENT", body=body)
    assert signal.data == {
        "phrases": ["click here", "100% free", "crypto investment"],
        "obfuscations": {"100% free": ["leetspeak"]},
        "all_caps": 1.0,
        "exclamation_runs": 1,
        "shorteners": ["bit.ly"],
        "hits": 6,
    }
    assert signal.score == 10.0


def test_normalise_reports_kinds() -> None:
    assert normalise("plain words").kinds == frozenset()
    assert normalise("f r e e").words == ["free"]
    assert normalise("c-l-i-c-k h-e-r-e").words == ["ciick", "here"]
    assert normalise("fr\u200bee").kinds == {"zero_width"}
