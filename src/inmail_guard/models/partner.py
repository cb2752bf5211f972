"""The e-mail route's partner: a logistic regression on sentence embeddings, added to the route.

The route (a linear model over word and character n-grams) and a logistic regression over the
text's MiniLM embedding (``encoder.py``) are wrong on different e-mails: the n-grams see how a
message is written, the embedding what it is about. Their decision values, each divided by its
spread over out-of-fold e-mail scores, are added with a weight ``w``::

    s = route_decision / route_scale + w * (embedding @ coef + intercept) / partner_scale
    p = 1 / (1 + exp(-(a * s + b)))

and a Platt sigmoid ``(a, b)`` fitted on the out-of-fold ``s`` of the training e-mail rows turns
``s`` into a calibrated spam probability. ``w`` is chosen among :data:`WEIGHTS` by
``train.train`` on its validation folds (``w = 0`` is the route alone, which then ships without
a partner); see ``MODEL_CARD.md``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.svm import LinearSVC

from inmail_guard.models.encoder import SentenceEncoder, builtin_encoder_path

#: The partner weights ``train`` chooses among on its validation folds (0: the route alone).
WEIGHTS = (0.0, 0.25, 0.5, 1.0)
#: Inverse regularisation of the embedding model (screened in round 6 of the model card).
EMBEDDING_C = 10.0


@dataclass(frozen=True, slots=True, eq=False)
class EmbeddingPartner:
    """Everything needed to score an e-mail with the route's decision value and its embedding.

    Plain numbers and one array, no fitted sklearn object: what is pickled is what is used.
    """

    coef: np.ndarray
    intercept: float
    route_scale: float
    partner_scale: float
    weight: float
    a: float
    b: float
    encoder_sha256: str

    def combined(self, route_decision: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
        partner = embeddings @ self.coef + self.intercept
        return (np.asarray(route_decision) / self.route_scale
                + self.weight * partner / self.partner_scale)

    def probabilities(self, route_decision: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
        return expit(self.a * self.combined(route_decision, embeddings) + self.b)

    def probability(self, route_decision: float, embedding: np.ndarray) -> float:
        z = self.a * float(self.combined(np.asarray([route_decision]), embedding[None, :])[0]) \
            + self.b
        if z >= 0:
            return 1.0 / (1.0 + math.exp(-z))
        e = math.exp(z)
        return e / (1.0 + e)


def fit_partners(
    route_svm: LinearSVC, features: object, labels: np.ndarray, email: np.ndarray,
    embeddings: np.ndarray, folds: int, encoder_sha256: str,
    weights: Sequence[float] = WEIGHTS,
) -> dict[float, EmbeddingPartner]:
    """One partner per non-zero weight, for a route whose linear model is ``route_svm``.

    ``features``: the route's tf-idf rows of the fit; ``email``: which of them are e-mail;
    ``embeddings``: the e-mail rows' embeddings, in order. The route's out-of-fold decision
    values come from ``folds`` stratified folds, as ``CalibratedClassifierCV(cv=folds)``
    computes them for its own sigmoid.
    """
    splitter = StratifiedKFold(n_splits=folds)
    route_oof = cross_val_predict(route_svm, features, labels, cv=splitter,
                                  method="decision_function")[email]
    y = labels[email]
    model = LogisticRegression(C=EMBEDDING_C, class_weight="balanced", max_iter=5000)
    partner_oof = cross_val_predict(model, embeddings, y, cv=splitter,
                                    method="decision_function")
    model.fit(embeddings, y)
    route_scale = float(np.std(route_oof)) or 1.0
    partner_scale = float(np.std(partner_oof)) or 1.0
    out = {}
    for w in weights:
        if w == 0:
            continue
        s = route_oof / route_scale + w * partner_oof / partner_scale
        platt = LogisticRegression(C=1e6, max_iter=5000).fit(s.reshape(-1, 1), y)
        out[w] = EmbeddingPartner(
            coef=model.coef_.ravel().astype(np.float64), intercept=float(model.intercept_[0]),
            route_scale=route_scale, partner_scale=partner_scale, weight=float(w),
            a=float(platt.coef_[0, 0]), b=float(platt.intercept_[0]),
            encoder_sha256=encoder_sha256,
        )
    return out


class Embeddings:
    """An encoder with its file's sha256, memoised per text: a training run encodes each
    e-mail once, though cross-validation fits on the same rows many times."""

    def __init__(self, encoder: SentenceEncoder, sha256: str) -> None:
        self.encoder = encoder
        self.sha256 = sha256
        self._cache: dict[str, np.ndarray] = {}

    @classmethod
    def builtin(cls) -> Embeddings:
        """The shipped encoder (``encoder.ENCODER_FILE`` in this package)."""
        encoder = SentenceEncoder.load(builtin_encoder_path())  # read and hashed once
        assert encoder.sha256 is not None
        return cls(encoder, encoder.sha256)

    def missing(self, texts: Sequence[str]) -> list[str]:
        """The distinct texts not encoded yet."""
        return [t for t in dict.fromkeys(texts) if t not in self._cache]

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        todo = self.missing(texts)
        if todo:
            for text, vector in zip(todo, self.encoder.encode(todo), strict=True):
                self._cache[text] = vector
        if not texts:
            return np.zeros((0, self.encoder.dim))
        return np.stack([self._cache[t] for t in texts])
