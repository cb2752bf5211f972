"""The per-message fast path: a fitted pipeline compiled into one dict lookup per feature.

The sklearn pipeline is ``TfidfVectorizer(analyzer=analyze, sublinear_tf=True, norm="l2")`` ->
``CalibratedClassifierCV(<linear model>, method="sigmoid", ensemble=False)``. For one message
that costs a sparse-matrix round trip (~1 ms). The same arithmetic in plain Python is cheap:

* the document's features are counted (``Counter`` is implemented in C);
* each vocabulary feature ``f`` with count ``c`` has value ``x = tf(c) * idf_f`` with
  ``tf(c) = 1 + ln c`` (sublinear) and the row is divided by ``sqrt(sum x**2)``;
* the decision is ``sum(x * coef_f) / norm + intercept`` and the probability is the fitted
  sigmoid ``1 / (1 + exp(a * decision + b))``.

Because :func:`~inmail_guard.models.features.analyze` emits every base feature twice (shared
and channel-tagged) with the same count, each channel (e-mail, short, InMail: the last has no
tagged weights yet, so only shared ones) gets one table
``base feature -> (sum of idf**2, sum of coef * idf)`` over the shared and tagged copies, so
a message costs one lookup per base feature whatever the channel. ``tests/models`` checks that
this agrees with ``pipeline.predict_proba`` to 1e-9.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

from inmail_guard.models.features import (
    CHANNEL_PREFIXES,
    analyze,
    base_features,
    channel_prefix,
)


class UnsupportedPipelineError(ValueError):
    """The pipeline is not of the shape this scorer can compile."""


class CompiledScorer:
    """Scores one text exactly as the compiled pipeline's ``predict_proba(...)[:, 1]`` would."""

    __slots__ = ("_a", "_b", "_intercept", "_sublinear", "_tables", "n_features")

    def __init__(
        self,
        tables: dict[str, dict[str, tuple[float, float]]],
        intercept: float,
        a: float,
        b: float,
        sublinear: bool,
        n_features: int,
    ) -> None:
        self._tables = tables
        self._intercept = intercept
        self._a = a
        self._b = b
        self._sublinear = sublinear
        self.n_features = n_features

    @classmethod
    def from_pipeline(cls, pipeline: Any) -> CompiledScorer:
        """Compile a fitted ``Pipeline([("tfidf", ...), ("clf", CalibratedClassifierCV)])``."""
        vectorizer, calibrated = pipeline[0], pipeline[-1]
        _check_supported(vectorizer, calibrated)
        fitted = calibrated.calibrated_classifiers_[0]
        coef = fitted.estimator.coef_.ravel().tolist()
        intercept = float(fitted.estimator.intercept_[0])
        calibrator = fitted.calibrators[0]
        idf = vectorizer.idf_.tolist()
        tables: dict[str, dict[str, tuple[float, float]]] = {p: {} for p in CHANNEL_PREFIXES}
        for term, j in vectorizer.vocabulary_.items():
            sq, wx = idf[j] * idf[j], coef[j] * idf[j]
            prefix = term[:2]
            if prefix in tables:
                targets, base = (tables[prefix],), term[2:]
            else:
                targets, base = tuple(tables.values()), term
            for table in targets:
                old_sq, old_wx = table.get(base, (0.0, 0.0))
                table[base] = (old_sq + sq, old_wx + wx)
        return cls(
            tables,
            intercept,
            float(calibrator.a_),
            float(calibrator.b_),
            bool(vectorizer.sublinear_tf),
            len(vectorizer.vocabulary_),
        )

    def decision(self, text: str) -> float:
        """The linear model's decision value for ``text`` (before calibration)."""
        counts = Counter(base_features(text))
        num = 0.0
        sq = 0.0
        repeated = []
        # map() does the dict lookups in C; most features occur once (tf = 1).
        for entry, count in zip(map(self._tables[channel_prefix(text)].get, counts),
                                counts.values(), strict=True):
            if entry is not None:
                if count == 1:
                    sq += entry[0]
                    num += entry[1]
                else:
                    repeated.append((entry, count))
        if repeated:
            log = math.log
            sublinear = self._sublinear
            for (idf_sq, weight), count in repeated:
                tf = 1.0 + log(count) if sublinear else float(count)
                sq += tf * tf * idf_sq
                num += tf * weight
        if sq == 0.0:
            return self._intercept
        return num / math.sqrt(sq) + self._intercept

    def probability(self, text: str) -> float:
        """Calibrated probability that ``text`` is spam."""
        z = -(self._a * self.decision(text) + self._b)
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)


def _check_supported(vectorizer: Any, calibrated: Any) -> None:
    problems = []
    if getattr(vectorizer, "analyzer", None) is not analyze:
        problems.append("the vectorizer's analyzer is not inmail_guard.models.features.analyze")
    if getattr(vectorizer, "norm", None) != "l2" or not getattr(vectorizer, "use_idf", False):
        problems.append("the vectorizer must use idf and l2 norm")
    if getattr(vectorizer, "binary", False):
        problems.append("binary=True is not supported")
    if getattr(calibrated, "method", None) != "sigmoid" or getattr(calibrated, "ensemble", 1):
        problems.append("the classifier must be CalibratedClassifierCV(method='sigmoid', "
                        "ensemble=False)")
    elif list(calibrated.classes_) != [0, 1]:
        problems.append(f"classes must be [0, 1], found {list(calibrated.classes_)}")
    if problems:
        raise UnsupportedPipelineError("cannot compile the pipeline: " + "; ".join(problems))
