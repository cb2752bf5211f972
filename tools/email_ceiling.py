"""How far a linear text model trained on e-mail alone gets on Enron1 (issue #15's e-mail target).

An upper bound for the e-mail figure, not a model we ship: each recipe is trained on the e-mail
rows only (no SMS, no InMail: the shipped model must serve those too) and its threshold is put,
after the fact, at exactly 1% of the ham's out-of-fold scores (an oracle: a threshold chosen on
validation folds does worse). Five folds, LinearSVC (C=1), seed 1.

    OPENBLAS_NUM_THREADS=1 python tools/email_ceiling.py /work/shared/data/email_spam_train.csv

Recipes: the raw text (cut to the policy's 3,000 characters) with word 1-2-grams and with
character 2-5-grams added (sklearn's own analyzers); the text in its InMail form
(``models/inmail.py``) with the shipped model's word features (``features.base_features``: the
shared normaliser, numbers and URLs collapsed) and with its character 2-6-grams added.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Callable

import numpy as np
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

from inmail_guard.models import features
from inmail_guard.models.inmail import model_input


def at_fpr(scores: np.ndarray, spam: np.ndarray, fpr: float = 0.01) -> tuple[float, float, float]:
    """F1, ham FPR and recall with the threshold at ``fpr`` of the ham scores."""
    ham = np.sort(scores[~spam])
    threshold = ham[len(ham) - int(fpr * len(ham)) - 1]
    flagged = scores > threshold
    tp, fp = int((flagged & spam).sum()), int((flagged & ~spam).sum())
    fn = int((~flagged & spam).sum())
    return 2 * tp / (2 * tp + fp + fn), fp / int((~spam).sum()), tp / int(spam.sum())


def out_of_fold(texts: list[str], spam: np.ndarray,
                vectorizers: Callable[[], list[TfidfVectorizer]]) -> np.ndarray:
    scores = np.zeros(len(texts))
    for train, test in StratifiedKFold(5, shuffle=True, random_state=1).split(texts, spam):
        made = vectorizers()
        fit = hstack([v.fit_transform([texts[i] for i in train]) for v in made]).tocsr()
        held = hstack([v.transform([texts[i] for i in test]) for v in made]).tocsr()
        scores[test] = LinearSVC(C=1.0).fit(fit, spam[train]).decision_function(held)
    return scores


def main(path: str) -> None:
    csv.field_size_limit(10**8)
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    spam = np.array([r["label"] == "spam" for r in rows])
    raw = [r["text"][:3000] for r in rows]
    inmail = [model_input(r["text"]) for r in rows]

    def tfidf(**kw: object) -> TfidfVectorizer:
        return TfidfVectorizer(sublinear_tf=True, min_df=2, **kw)  # type: ignore[arg-type]

    words = dict(ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b")
    recipes = [
        ("raw text, word 1-2-grams", raw, lambda: [tfidf(**words)]),
        ("raw text, word 1-2-grams + char 2-5-grams", raw,
         lambda: [tfidf(**words), tfidf(analyzer="char_wb", ngram_range=(2, 5))]),
        ("InMail form, the shipped word features", inmail,
         lambda: [tfidf(analyzer=features.base_features)]),
        ("InMail form, the shipped word features + char 2-6-grams", inmail,
         lambda: [tfidf(analyzer=features.base_features), tfidf(analyzer=features.char_grams)]),
    ]
    print("| recipe (e-mail rows only, oracle threshold) | F1 | ham FPR | recall |")
    print("|---|---:|---:|---:|")
    for name, texts, vectorizers in recipes:
        f1, fpr, recall = at_fpr(out_of_fold(texts, spam, vectorizers), spam)
        print(f"| {name} | {f1:.4f} | {fpr:.2%} | {recall:.4f} |", flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tools/email_ceiling.py EMAIL_CSV (columns id,label,text)")
    main(sys.argv[1])
