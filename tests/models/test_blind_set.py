"""The blind InMail set stays apart from the training data (corpus/inmail/blind/README.md)."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[2] / "corpus" / "inmail"


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_the_blind_set_has_its_stated_counts_and_categories():
    rows = _rows(CORPUS / "blind" / "holdout2.csv")
    categories = {r["id"]: r["category"]
                  for r in _rows(CORPUS / "blind" / "holdout2_categories.csv")}
    assert Counter(r["label"] for r in rows) == {"ham": 120, "spam": 120}
    assert set(categories) == {r["id"] for r in rows}
    assert all(r["text"].startswith("Subject: ") for r in rows)
    assert len(set(categories.values())) == 24


def test_no_blind_message_is_in_the_training_or_test_split():
    def words(text: str) -> str:
        return " ".join(text.lower().split())

    blind = {words(r["text"]) for r in _rows(CORPUS / "blind" / "holdout2.csv")}
    for name in ("train.csv", "test.csv"):
        seen = {words(r["text"]) for r in _rows(CORPUS / name)}
        assert not blind & seen, f"blind messages found in {name}"
