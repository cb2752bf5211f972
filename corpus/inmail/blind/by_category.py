"""Scams caught and legitimate messages rejected per category of the blind set, each row sent
as an InMail through the default policy with the shipped model (the model card's "Blind set").

    python corpus/inmail/blind/by_category.py            # holdout5, the newest
    python corpus/inmail/blind/by_category.py NAME       # another set of this folder

Only sets whose messages are still here: holdout2-4 were folded into ``../train.csv`` in
round 11 (their ``*_categories.csv`` stay as the record of what they were).
"""

from __future__ import annotations

import csv
import sys
from collections import Counter
from pathlib import Path

from inmail_guard import default_policy
from inmail_guard.workflow import endtoend

HERE = Path(__file__).parent


def main() -> None:
    name = sys.argv[1] if len(sys.argv) > 1 else "holdout5"
    sets = sorted(p.name.removesuffix("_categories.csv") for p in HERE.glob("*_categories.csv")
                  if (HERE / p.name.replace("_categories.csv", ".csv")).exists())
    if name not in sets:
        sys.exit(f"by_category.py: no blind set {name!r} here; one of: {', '.join(sets)}")
    with open(HERE / f"{name}.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    with open(HERE / f"{name}_categories.csv", newline="", encoding="utf-8") as f:
        category = {r["id"]: r["category"] for r in csv.DictReader(f)}
    policy = default_policy()
    engine = endtoend.what_if_engine(policy)
    plan = endtoend.neutral_plan(policy)
    limit = policy.content.body.max_chars
    pairs = []
    for i, row in enumerate(rows):
        subject, body, _ = endtoend.inmail_form(row["text"], limit)
        pairs.append(endtoend.neutral_pair(
            endtoend.CorpusItem(f"row{i}", "", subject, body, 0), plan))
    total: Counter[tuple[str, str]] = Counter()
    rejected: Counter[tuple[str, str]] = Counter()
    for row, decision in zip(rows, engine.evaluate_many(pairs), strict=True):
        key = (row["label"], category[row["id"]])
        total[key] += 1
        rejected[key] += decision.outcome == "rejected"
    print("| label | category | rejected |\n|---|---|---:|")
    for key in sorted(total):
        print(f"| {key[0]} | {key[1]} | {rejected[key]} / {total[key]} |")


if __name__ == "__main__":
    main()
