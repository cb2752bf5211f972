"""The blind InMail sets stay apart from the training data and from each other
(corpus/inmail/blind/README.md, holdout3.md, holdout4.md)."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[2] / "corpus" / "inmail"
BLIND = ["holdout2", "holdout3", "holdout4"]


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("name", BLIND)
def test_the_blind_set_has_its_stated_counts_and_categories(name: str):
    rows = _rows(CORPUS / "blind" / f"{name}.csv")
    categories = {r["id"]: r["category"]
                  for r in _rows(CORPUS / "blind" / f"{name}_categories.csv")}
    assert Counter(r["label"] for r in rows) == {"ham": 120, "spam": 120}
    assert set(categories) == {r["id"] for r in rows}
    assert all(r["text"].startswith("Subject: ") for r in rows)
    assert len(set(categories.values())) == 24


def _words(text: str) -> str:
    return " ".join(text.lower().split())


@pytest.mark.parametrize("name", BLIND)
def test_no_blind_message_is_in_the_training_or_test_split(name: str):
    blind = {_words(r["text"]) for r in _rows(CORPUS / "blind" / f"{name}.csv")}
    for other in ("train.csv", "batch6.csv", "test.csv"):
        seen = {_words(r["text"]) for r in _rows(CORPUS / other)}
        assert not blind & seen, f"{name} messages found in {other}"


def test_the_blind_sets_share_no_message():
    seen: set[str] = set()
    for name in BLIND:
        texts = {_words(r["text"]) for r in _rows(CORPUS / "blind" / f"{name}.csv")}
        assert len(texts) == 240, f"{name} repeats a message"
        assert not texts & seen, f"{name} shares a message with an earlier blind set"
        seen |= texts
