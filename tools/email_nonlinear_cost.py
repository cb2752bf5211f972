"""What the recipes of ``tools/email_nonlinear.py`` would cost on the send path (issue #15).

Each recipe is trained on every e-mail row (InMail form), then compiled into what a lean scorer
would hold (a term -> column dictionary, the idf and the model's arrays in float32) and timed
on one 100-word InMail and one 400-word e-mail-shaped body (the texts of
``benchmarks/bench_product.py``, in InMail form), ``time.perf_counter_ns``, p50 over ``--calls``
calls after 50 warm-up calls:

    OPENBLAS_NUM_THREADS=1 python tools/email_nonlinear_cost.py \\
        /work/shared/data/email_spam_train.csv

Columns: the shipped Python feature code alone (``features.base_features``, then with
``features.char_grams``: what every recipe pays before any model); ``model`` is the rest for an
already-extracted text (terms counted, looked up, tf-idf weighted and normalised in Python and
numpy, then the model): what a C feature extractor would still leave to Python; ``forward`` is
the whole pass, from the InMail text to the score. The boosted trees are walked in Python (a
C walk would be cheaper; not measured). ``bytes`` is the pickled size of the compiled scorer
(dictionary + arrays). The shipped classifier detector costs ~22 / ~68 µs (word features
only, compiled tables in C; MODEL_CARD.md, Speed).
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import pickle
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from functools import partial

import numpy as np
from sklearn.decomposition import TruncatedSVD
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.svm import LinearSVC

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
from email_nonlinear import SEED, Data, Fold, mlp_fit, nblr_fit, nbsvm_fit, poly_fit, text_stats

from inmail_guard.models import features
from inmail_guard.models.inmail import BODY_CHARS, model_input, parse_body

F32 = np.float32


class Lean:
    """A recipe compiled for one text at a time: terms -> tf-idf columns, then the model."""

    def __init__(self, name: str, data: Data, tr: Fold, fitted: tuple) -> None:
        self.name = name
        vocab: dict[str, int] = {}
        offset = 0
        for cv, tfidf in ((data.words_cv, fitted[0]), (data.chars_cv, fitted[1])):
            position = {int(c): i for i, c in enumerate(tfidf.keep)}
            prefix = "" if cv is data.words_cv else "#"
            for term, column in cv.vocabulary_.items():
                if column in position:
                    vocab[prefix + term] = offset + position[column]
            offset += len(tfidf.keep)
        self.vocab, self.n_words = vocab, len(fitted[0].keep)
        self.idf = np.concatenate([t.idf for t in fitted]).astype(F32)
        self.arrays: dict[str, object] = {}
        getattr(self, "_fit_" + name)(tr)

    # --- training: each recipe as in email_nonlinear.py, on every row -------------------
    def _linear(self, weights: np.ndarray, bias: float) -> None:
        self.arrays.update(w=weights.astype(F32), b=float(bias))

    def _fit_svm(self, tr: Fold) -> None:
        svm = LinearSVC(C=1.0).fit(tr.x, tr.y)
        self._linear(svm.coef_.ravel(), svm.intercept_[0])

    def _fit_nblr(self, tr: Fold) -> None:  # (x * r) . w = x . (r * w)
        r, lr = nblr_fit(tr)
        self._linear(r.diagonal() * lr.coef_.ravel(), lr.intercept_[0])

    def _fit_nbsvm(self, tr: Fold) -> None:
        r, svm = nbsvm_fit(tr)
        self._linear(svm.coef_.ravel(), svm.intercept_[0])
        self.arrays["r"] = r.diagonal().astype(F32)

    def _fit_poly(self, tr: Fold) -> None:
        svc = poly_fit(tr)
        self.arrays.update(svt=tr.x[svc.support_].T.tocsr().astype(F32),
                           coef=svc.dual_coef_.ravel().astype(F32), b=float(svc.intercept_[0]))

    def _fit_mlp(self, tr: Fold) -> None:
        nets = []
        for seed in range(3):
            select, mlp = mlp_fit(tr, seed)
            position = np.full(tr.x.shape[1], -1)
            position[select.get_support(indices=True)] = np.arange(select.k)
            nets.append((position, *(a.astype(F32) for a in (*mlp.coefs_, *mlp.intercepts_))))
        self.arrays["nets"] = nets

    def _fit_hgb(self, tr: Fold) -> None:
        svm = LinearSVC(C=1.0).fit(tr.x, tr.y)
        svd = TruncatedSVD(256, random_state=SEED).fit(tr.x)
        f = np.hstack([svd.transform(tr.x), svm.decision_function(tr.x)[:, None], tr.stats])
        hgb = HistGradientBoostingClassifier(max_iter=300, learning_rate=0.05,
                                             early_stopping=False, random_state=SEED).fit(f, tr.y)
        trees = [p[0].nodes[["value", "feature_idx", "num_threshold", "left", "right",
                             "is_leaf"]].tolist() for p in hgb._predictors]
        self.arrays.update(w=svm.coef_.ravel().astype(F32), b=float(svm.intercept_[0]),
                           components=svd.components_.astype(F32), trees=trees,
                           base=float(hgb._baseline_prediction.ravel()[0]))

    # --- one text --------------------------------------------------------------------------
    def vector(self, words: list[str], chars: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Columns and l2-normalised sublinear tf-idf values (words, then characters)."""
        vocab, out = self.vocab, []
        for grams, prefix in ((words, ""), (chars, "#")):
            cols, tfs = [], []
            for term, n in Counter(grams).items():
                column = vocab.get(prefix + term)
                if column is not None:
                    cols.append(column)
                    tfs.append(1.0 + math.log(n))
            idx = np.array(cols, dtype=np.intp)
            val = np.array(tfs, dtype=F32) * self.idf[idx]
            out.append((idx, val / max(float(np.sqrt(val @ val)), 1e-12)))
        return np.concatenate([out[0][0], out[1][0]]), np.concatenate([out[0][1], out[1][1]])

    def score(self, text: str) -> float:
        return self.model(text, features.base_features(text), features.char_grams(text))

    def model(self, text: str, words: list[str], chars: list[str]) -> float:
        idx, val = self.vector(words, chars)
        a = self.arrays
        if self.name in ("svm", "nblr"):
            return float(a["w"][idx] @ val) + a["b"]
        if self.name == "nbsvm":
            v = a["r"][idx]
            return float(a["w"][idx] @ v) / max(float(np.sqrt(v @ v)), 1e-12) + a["b"]
        if self.name == "poly":
            kernel = (a["svt"][idx].T @ val + 1) ** 2
            return float(kernel @ a["coef"]) + a["b"]
        if self.name == "mlp":
            out = 0.0
            for position, w1, w2, b1, b2 in a["nets"]:
                p = position[idx]
                hidden = np.maximum(val[p >= 0] @ w1[p[p >= 0]] + b1, 0)
                out += float(hidden @ w2[:, 0] + b2[0]) / 3
            return out
        f = [*(a["components"][:, idx] @ val).tolist(), float(a["w"][idx] @ val) + a["b"],
             *text_stats(text, features.tokens(text))]
        raw = a["base"]
        for nodes in a["trees"]:
            node = nodes[0]
            while not node[5]:
                node = nodes[node[3] if f[node[1]] <= node[2] else node[4]]
            raw += node[0]
        return raw

    def size(self) -> int:
        return len(pickle.dumps((self.vocab, self.idf, self.arrays), protocol=5))


def p50(call: Callable[[], object], calls: int) -> float:
    for _ in range(50):
        call()
    ns = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        call()
        ns.append(time.perf_counter_ns() - start)
    return statistics.median(ns) / 1000


def main() -> None:
    from bench_product import email_shaped, inmail  # benchmarks/

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("email_csv")
    parser.add_argument("--recipes", default="svm,nblr,nbsvm,poly,mlp,hgb")
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--subsample", type=int, default=0, help="rows, for a first look")
    args = parser.parse_args()
    csv.field_size_limit(10**8)
    with open(args.email_csv, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if args.subsample:
        rows = rows[:args.subsample]
    spam = np.array([r["label"] == "spam" for r in rows])
    data = Data([model_input(r["text"]) for r in rows])
    tr, fitted = data.fold(np.arange(len(spam)), spam)
    texts = {}
    for label, message in (("100-word InMail", inmail(100, 1)),
                           ("400-word e-mail-shaped", email_shaped(400, 1))):
        body = parse_body(message.body, max_source_chars=BODY_CHARS).text
        texts[label] = features.inmail_text(message.subject, body)
    print(f"| recipe | text | word features µs | + char n-grams µs | model µs | forward µs "
          f"| compiled bytes |  (p50 of {args.calls} calls)")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name in args.recipes.split(","):
        lean = Lean(name, data, tr, fitted)
        for label, text in texts.items():
            words = p50(partial(features.base_features, text), args.calls)
            both = p50(lambda t=text: (features.base_features(t), features.char_grams(t)),
                       args.calls)
            grams = features.base_features(text), features.char_grams(text)
            model = p50(partial(lean.model, text, *grams), args.calls)
            forward = p50(partial(lean.score, text), args.calls)
            print(f"| {name} | {label} | {words:.1f} | {both:.1f} | {model:.1f} | {forward:.1f} "
                  f"| {lean.size():,} |", flush=True)
    print(f"\n{len(fitted[0].keep):,} word and {len(fitted[1].keep):,} character columns")


if __name__ == "__main__":
    main()
