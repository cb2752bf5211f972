"""The bulk detector and the MinHash fingerprint the store records."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from inmail_guard.engine.types import BodyFingerprint
from inmail_guard.plugins.bulk import PERMUTATIONS, BulkDetector, fingerprint, record, similarity

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)  # conftest's facts() use this now

TEMPLATE = (
    "Hi {name}, I came across your profile while looking for senior backend engineers and was "
    "impressed by your work on payment systems at {company}. We are a fifty person fintech in "
    "Amsterdam building real time settlement for small businesses, and we are hiring a staff "
    "engineer to lead our ledger team. The stack is Go, PostgreSQL and Kafka on Kubernetes, "
    "the team is remote first across European time zones, and the salary band is published "
    "in the job description. Would you be open to a twenty minute call next week to hear "
    "more? If the timing is wrong, I would still be glad to stay in touch. Best, Priya"
)
NAMES = ["Dana", "Alex", "Sam", "Jo", "Lee", "Kim", "Noor", "Ana", "Tom", "Eva", "Max", "Ida"]


def body(name: str = "Dana", company: str = "Acme") -> str:
    return TEMPLATE.format(name=name, company=company)


def sent(recipient: str, text: str, ago: timedelta = timedelta(hours=1)) -> BodyFingerprint:
    return BodyFingerprint(recipient, NOW - ago, fingerprint(text))


def test_fingerprint_shape() -> None:
    fp = fingerprint(body())
    assert len(fp) == PERMUTATIONS == 64
    assert all(isinstance(v, int) and 0 <= v < 2**32 for v in fp)
    assert fingerprint("") == ()
    assert fingerprint("  -- ** ") == ()
    assert len(fingerprint("Hi")) == len(fingerprint("Hi there")) == 64


def test_fingerprint_is_stable_across_processes_and_releases() -> None:
    # Stored fingerprints outlive processes: pin the values (hash seeds must not matter).
    expected = fingerprint("the quick brown fox jumps over the lazy dog")
    code = ("from inmail_guard.plugins.bulk import fingerprint;"
            " print(fingerprint('the quick brown fox jumps over the lazy dog'))")
    for seed in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, env={**os.environ, "PYTHONHASHSEED": seed})
        assert out.stdout.strip() == str(expected)
    assert expected[:4] == (1540419160, 544554241, 19149376, 52608468)


def test_similarity_estimates() -> None:
    base = fingerprint(body())
    assert similarity(base, base) == 1.0
    assert similarity(base, fingerprint(body(name="Alex", company="Initech"))) >= 0.8
    other = fingerprint("Hello, our quarterly sales report is attached; revenue grew in every "
                        "region and the board meets on Thursday to discuss the new budget.")
    assert similarity(base, other) < 0.2
    assert similarity(base, ()) == 0.0
    assert similarity((), ()) == 0.0


def test_formatting_case_and_obfuscation_do_not_change_the_fingerprint() -> None:
    text = "Great news: click here to claim your bonus today"
    for variant in ("GREAT news - **click** here to claim your bonus today!",
                    "Gr\u0435at n\u0435ws: cl1ck here to claim your b0nus today"):
        assert fingerprint(variant) == fingerprint(text)


def test_record_is_what_the_store_keeps(make_message) -> None:
    msg = make_message(recipient_id="r9", body=body())
    assert record(msg, NOW) == BodyFingerprint("r9", NOW, fingerprint(body()))


def test_fires_at_max_similar_recipients(run, make_facts) -> None:
    recent = tuple(sent(f"r{i}", body(NAMES[i])) for i in range(2, 12))  # 10 other recipients
    signal = run(BulkDetector, body=body("Dana"), recipient_id="r1",
                 fct=make_facts(recent_bodies=recent))
    assert signal is not None
    assert signal.score == 6.0
    assert signal.data == {"similar_recipients": 10, "max_similar": 10, "similarity": 0.8,
                           "window": "1d", "compared": 10}
    assert signal.detail == ("a similar body went to 10 other recipients in the last 1d"
                             " (limit 10, similarity >= 0.8)")


def test_one_under_max_similar_abstains(run, make_facts) -> None:
    recent = tuple(sent(f"r{i}", body(NAMES[i])) for i in range(2, 11))  # 9
    assert run(BulkDetector, body=body(), fct=make_facts(recent_bodies=recent)) is None


def test_distinct_recipients_window_and_this_recipient(run, make_facts) -> None:
    settings = {"max_similar": 3}
    text = body()
    recent = (
        sent("r2", text), sent("r2", text), sent("r2", text),  # one recipient, three times
        sent("r1", text),  # this message's recipient: a follow-up, not bulk
        sent("r3", text, ago=timedelta(hours=24)),  # just outside the window
        sent("r4", text, ago=timedelta(hours=23, minutes=59)),
    )
    assert run(BulkDetector, settings, body=text, recipient_id="r1",
               fct=make_facts(recent_bodies=recent)) is None
    signal = run(BulkDetector, {"max_similar": 2}, body=text, recipient_id="r1",
                 fct=make_facts(recent_bodies=recent))
    assert signal.data["similar_recipients"] == 2
    wider = run(BulkDetector, {**settings, "window": "48h"}, body=text, recipient_id="r1",
                fct=make_facts(recent_bodies=recent))
    assert wider.data["similar_recipients"] == 3


def test_different_bodies_do_not_count(run, make_facts) -> None:
    others = [
        "Quick note to say thanks for the talk at PyCon; the slides on tracing were great.",
        "We are hiring a designer in Lisbon; the brief and portfolio guidelines are attached.",
        "Following up on our call: the contract draft is ready for your legal team to review.",
    ]
    recent = tuple(sent(f"r{i}", others[i % 3] + f" Ticket {i}.") for i in range(2, 20))
    assert run(BulkDetector, {"max_similar": 1}, body=body(),
               fct=make_facts(recent_bodies=recent)) is None


def test_near_duplicates_count_exact_threshold(run, make_facts) -> None:
    recent = tuple(sent(f"r{i}", body(NAMES[i], company=f"Company {i}")) for i in range(2, 12))
    assert run(BulkDetector, body=body(), fct=make_facts(recent_bodies=recent)) is not None
    strict = run(BulkDetector, {"similarity": 1.0}, body=body(),
                 fct=make_facts(recent_bodies=recent))
    assert strict is None


def test_incomparable_and_empty_fingerprints_are_ignored(run, make_facts) -> None:
    recent = tuple(BodyFingerprint(f"r{i}", NOW, (1, 2, 3)) for i in range(2, 14))
    assert run(BulkDetector, body=body(), fct=make_facts(recent_bodies=recent)) is None


@pytest.mark.parametrize("value", [0, 1.5])
def test_similarity_setting_is_validated(value: float) -> None:
    with pytest.raises(ValueError, match="similarity"):
        BulkDetector.Config.model_validate({"similarity": value})


def test_is_expensive() -> None:
    assert BulkDetector.expensive is True
