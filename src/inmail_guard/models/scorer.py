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
a message costs one lookup per base feature whatever the channel. The e-mail route's pipeline
(:func:`~inmail_guard.models.features.analyze_email`) compiles the same way: its ``e:#``
character n-grams land in the ``e:`` table as ``#``-tagged base features. ``tests/models``
checks that this agrees with ``pipeline.predict_proba`` to 1e-9.

Where the optional C accelerator (``inmail_guard/_speedups.c``, built at install when a C
compiler is there) is importable, each table is copied into a ``_speedups.Table`` and the
counting and lookups run in C: the same arithmetic in the same order, so the result is the same
float bit for bit, in under half the time (the table's flat arrays touch far less memory than a
dict of tuples of floats). Without it the pure-Python loop below runs.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

try:  # the optional C accelerator; absent where the install had no C compiler
    from inmail_guard._speedups import Table as _NativeTable
except ImportError:  # pragma: no cover - depends on the install
    _NativeTable = None  # type: ignore[assignment,misc]

from inmail_guard.models.features import (
    CHANNEL_PREFIXES,
    CHAR_TAG,
    analyze,
    analyze_email,
    channel_prefix,
    email_feature_keys,
    feature_keys,
)

Key = str | tuple[str, str]
#: Analyzer a pipeline may use -> the keys its compiled tables are looked up by: its base
#: features, with bigrams as (w1, w2) tuples (cheaper to make than "w1 w2"; see _key).
KEYS_OF: dict[Callable[[str], list[str]], Callable[[str], list[Key]]] = {
    analyze: feature_keys,
    analyze_email: email_feature_keys,
}
#: Whether the C accelerator was built and imported (``inmail-guard model info`` shows it).
ACCELERATOR_AVAILABLE = _NativeTable is not None


def _key(base: str) -> Key:
    """A base feature's table key: ``"w1 w2"`` -> ``("w1", "w2")``; words and ``#`` character
    n-grams (which may hold spaces) as they are."""
    if base.startswith(CHAR_TAG) or " " not in base:
        return base
    first, second = base.split(" ", 1)
    return (first, second)


class UnsupportedPipelineError(ValueError):
    """The pipeline is not of the shape this scorer can compile."""


class CompiledScorer:
    """Scores one text exactly as the compiled pipeline's ``predict_proba(...)[:, 1]`` would.

    Each channel's table is compiled when it is first needed, unless it was asked for up
    front (``from_pipeline(channels=...)``): a process that only ever scores InMails holds the
    ``n:`` table alone, not the e-mail and short-message ones it never uses.
    """

    __slots__ = ("_a", "_accelerated", "_b", "_base", "_intercept", "_lock", "_source",
                 "_sublinear", "_tables", "n_features")

    def __init__(
        self,
        tables: dict[str, dict[Key, tuple[float, float]]],
        intercept: float,
        a: float,
        b: float,
        sublinear: bool,
        n_features: int,
        base: Callable[[str], list[Key]] = feature_keys,
        source: Any = None,
        accelerated: bool | None = None,
    ) -> None:
        if accelerated is None:
            accelerated = ACCELERATOR_AVAILABLE
        elif accelerated and not ACCELERATOR_AVAILABLE:
            raise RuntimeError("the C accelerator inmail_guard._speedups is not built: "
                               "reinstall with a C compiler (pip install -e .) or pass "
                               "accelerated=False")
        self._accelerated = accelerated
        self._tables = {p: self._native(t) for p, t in tables.items()}
        self._base = base
        self._intercept = intercept
        self._a = a
        self._b = b
        self._sublinear = sublinear
        self.n_features = n_features
        self._source = source  # the fitted pipeline, to compile the other channels' tables
        self._lock = threading.Lock()

    @classmethod
    def from_pipeline(
        cls, pipeline: Any, channels: Iterable[str] = CHANNEL_PREFIXES,
        accelerated: bool | None = None,
    ) -> CompiledScorer:
        """Compile a fitted ``Pipeline([("tfidf", ...), ("clf", CalibratedClassifierCV)])``;
        the tables of ``channels`` now, any other channel's on its first text. ``accelerated``:
        score with the C accelerator (``None``: when it is built; ``False``: the pure-Python
        loop, e.g. to compare the two)."""
        vectorizer, calibrated = pipeline[0], pipeline[-1]
        check_supported(vectorizer, calibrated)
        fitted = calibrated.calibrated_classifiers_[0]
        calibrator = fitted.calibrators[0]
        return cls(
            _compile_tables(pipeline, tuple(channels)),
            float(fitted.estimator.intercept_[0]),
            float(calibrator.a_),
            float(calibrator.b_),
            bool(vectorizer.sublinear_tf),
            len(vectorizer.vocabulary_),
            KEYS_OF[vectorizer.analyzer],
            source=pipeline,
            accelerated=accelerated,
        )

    @property
    def accelerated(self) -> bool:
        """Whether this scorer's lookups run in the C accelerator."""
        return self._accelerated

    def _native(self, table: dict[Key, tuple[float, float]]) -> Any:
        """The table as this scorer looks it up: a C ``Table`` when accelerated (the dict, its
        tuples and floats are then freed), else the dict itself."""
        return _NativeTable(table) if self._accelerated else table

    @property
    def compiled_channels(self) -> tuple[str, ...]:
        """The channels whose tables are compiled so far."""
        return tuple(self._tables)

    def _compile(self, prefix: str) -> Any:
        if prefix not in CHANNEL_PREFIXES or self._source is None:
            raise KeyError(f"no compiled table for channel {prefix!r}")
        with self._lock:
            table = self._tables.get(prefix)
            if table is None:
                table = self._native(_compile_tables(self._source, (prefix,))[prefix])
                # A new dict, never one resized while another thread reads it.
                self._tables = {**self._tables, prefix: table}
        return table

    def decision(self, text: str, prefix: str | None = None) -> float:
        """The linear model's decision value for ``text`` (before calibration). ``prefix``:
        the text's channel, when the caller already knows it."""
        channel = prefix or channel_prefix(text)
        table = self._tables.get(channel)
        if table is None:
            table = self._compile(channel)
        if self._accelerated:
            return table.decision(self._base(text), self._intercept, self._sublinear)
        # The C accelerator's Table.decision does exactly this, in this order.
        counts = Counter(self._base(text))
        num = 0.0
        sq = 0.0
        repeated = []
        # map() does the dict lookups in C; most features occur once (tf = 1).
        for entry, count in zip(map(table.get, counts), counts.values(), strict=True):
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

    def probability(self, text: str, prefix: str | None = None) -> float:
        """Calibrated probability that ``text`` is spam (``prefix`` as for :meth:`decision`)."""
        z = -(self._a * self.decision(text, prefix) + self._b)
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)


def _compile_tables(
    pipeline: Any, channels: tuple[str, ...]
) -> dict[str, dict[Key, tuple[float, float]]]:
    """``channel -> {base feature key: (sum of idf**2, sum of coef * idf)}`` over the shared
    copy of each feature and the copy tagged with that channel (see the module docstring)."""
    vectorizer, fitted = pipeline[0], pipeline[-1].calibrated_classifiers_[0]
    coef = fitted.estimator.coef_.ravel().tolist()
    idf = vectorizer.idf_.tolist()
    tables: dict[str, dict[Key, tuple[float, float]]] = {p: {} for p in channels}
    every = tuple(tables.values())
    for term, j in vectorizer.vocabulary_.items():
        prefix = term[:2]
        if prefix in CHANNEL_PREFIXES:  # a channel's own copy: only that channel's table
            own = tables.get(prefix)
            if own is None:
                continue
            targets, key = (own,), _key(term[2:])
        else:
            targets, key = every, _key(term)
        sq, wx = idf[j] * idf[j], coef[j] * idf[j]
        for table in targets:
            old_sq, old_wx = table.get(key, (0.0, 0.0))
            table[key] = (old_sq + sq, old_wx + wx)
    return tables


def check_supported(vectorizer: Any, calibrated: Any) -> None:
    problems = []
    if getattr(vectorizer, "analyzer", None) not in KEYS_OF:
        problems.append("the vectorizer's analyzer is not inmail_guard.models.features.analyze "
                        "or analyze_email")
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
