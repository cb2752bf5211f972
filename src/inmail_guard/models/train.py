"""Train, threshold and cross-validate the spam classifier from ``id,label,text`` CSV files.

The pipeline (see ``features.py`` for the features and ``scorer.py`` for the fast path):

    TfidfVectorizer(analyzer=analyze, sublinear_tf=True, min_df=2)
    -> CalibratedClassifierCV(LinearSVC(C, class_weight="balanced"), method="sigmoid",
                              cv=5, ensemble=False)

``class_weight="balanced"`` handles the class imbalance (SMS is 13% spam, Enron 29%);
``ensemble=False`` keeps ONE linear model plus ONE sigmoid, which the fast scorer compiles.

When the data has e-mail rows (text starting with ``Subject:``), a second pipeline, the e-mail
*route*, is fitted on all rows over :func:`~inmail_guard.models.features.analyze_email`: the
same word features plus character n-grams of the e-mail rows. E-mail is then scored by the
route, everything else by the word pipeline (``routes.py``), so InMails never pay for character
n-grams and keep the word pipeline's calibration. The route learns from the short messages too
(through the shared word weights): in screening that caught three more Enron spams than a route
fitted on e-mail rows alone. ``--no-email-route`` trains the word pipeline alone.

The e-mail route has a partner (``partner.py``): a logistic regression on each e-mail's
sentence embedding (``encoder.py``), added to the route's decision value with a weight chosen
among ``partner_weights`` on the same validation folds as the thresholds: the weight with the
fewest e-mail errors at the e-mail threshold, then the highest e-mail ROC-AUC, then the smaller
(0: no partner).
``--no-email-partner`` leaves it out.

The decision thresholds are chosen on validation folds: the training rows are split into
``val_folds`` stratified folds (by file and label), each fold is scored by pipelines trained on
the others, and each channel present in the data (e-mail, short message) gets the lowest
threshold whose ham false-positive rate over its out-of-fold scores is at most its target
(``email_target_fpr`` for e-mail, ``target_fpr`` otherwise). The fallback ``threshold``, used
for channels without training rows such as InMail, is chosen the same way over the word
pipeline's scores of all rows. The shipped pipelines are then fitted on all rows.

:func:`check_trainable` refuses, before any fitting, data that cannot train: too few rows of a
label for the folds (every fit calibrates on ``CALIBRATION_FOLDS`` folds, so it needs that many
rows of each label), or a ``min_df`` above the rows of the smallest fit.

Run ``inmail-guard model --help``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from inmail_guard.models import routes
from inmail_guard.models.data import Dataset
from inmail_guard.models.features import (
    EMAIL_PREFIX,
    INMAIL_PREFIXES,
    analyze,
    analyze_email,
    channel_prefix,
)
from inmail_guard.models.inmail import model_input
from inmail_guard.models.metrics import binary_metrics, choose_threshold
from inmail_guard.models.partner import (
    EMBEDDING_C,
    WEIGHTS,
    EmbeddingPartner,
    Embeddings,
    fit_partners,
)

Progress = Callable[[str], None]

DEFAULT_C = 3.0
DEFAULT_MIN_DF = 2
DEFAULT_TARGET_FPR = 0.005
DEFAULT_EMAIL_TARGET_FPR = 0.01
DEFAULT_SEED = 20261127
DEFAULT_VAL_FOLDS = 5
#: The folds of ``CalibratedClassifierCV``: each fit needs this many rows of each label.
CALIBRATION_FOLDS = 5


class TrainingDataError(ValueError):
    """Data that cannot train a model with the given parameters; says what is needed."""


@dataclass(frozen=True, slots=True)
class TrainParams:
    target_fpr: float = DEFAULT_TARGET_FPR
    seed: int = DEFAULT_SEED
    c: float = DEFAULT_C
    min_df: int = DEFAULT_MIN_DF
    val_folds: int = DEFAULT_VAL_FOLDS
    email_target_fpr: float = DEFAULT_EMAIL_TARGET_FPR
    email_route: bool = True
    email_partner: bool = True
    #: The partner weights chosen among on the validation folds (0: the route alone).
    partner_weights: tuple[float, ...] = WEIGHTS
    #: Train on every row in InMail form (``inmail.model_input``): one word pipeline for the
    #: text the ``classifier`` detector scores, one threshold (see :func:`train_inmail`).
    inmail_form: bool = False
    #: ``(file name, weight)``: the rows of that file count this many times in every fit
    #: (``--weight``), e.g. a small corpus of the traffic the model is for.
    file_weights: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        if not self.partner_weights or min(self.partner_weights) < 0:
            raise ValueError(f"partner_weights must hold at least one weight, none negative "
                             f"(0: no partner); got {self.partner_weights!r}")

    def as_dict(self) -> dict[str, Any]:
        return {"target_fpr": self.target_fpr, "email_target_fpr": self.email_target_fpr,
                "email_route": self.email_route, "email_partner": self.email_partner,
                "inmail_form": self.inmail_form, "seed": self.seed, "C": self.c,
                "file_weights": dict(self.file_weights),
                "min_df": self.min_df, "val_folds": self.val_folds,
                "estimator": "LinearSVC(class_weight=balanced) + sigmoid calibration",
                "vectorizer": "tfidf(sublinear_tf, l2), word 1-2-grams x channel; e-mail "
                              "route: + character 2-6-grams of words",
                "email_partner_model": f"LogisticRegression(C={EMBEDDING_C}, balanced) on "
                                       "MiniLM-L6 embeddings, weight chosen among "
                                       f"{list(self.partner_weights)} on the validation "
                                       "folds"}

    def fpr_for(self, prefix: str) -> float:
        """The ham false-positive rate the threshold of channel ``prefix`` is chosen for."""
        return self.email_target_fpr if prefix == EMAIL_PREFIX else self.target_fpr


@dataclass(slots=True)
class Pooled:
    """Rows of several datasets, with which file each row came from."""

    texts: list[str]
    labels: np.ndarray
    source: np.ndarray
    names: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, datasets: Sequence[Dataset]) -> Pooled:
        texts: list[str] = []
        labels: list[int] = []
        source: list[int] = []
        for i, ds in enumerate(datasets):
            texts.extend(ds.texts)
            labels.extend(ds.labels)
            source.extend([i] * len(ds.labels))
        return cls(texts, np.asarray(labels), np.asarray(source), [d.name for d in datasets])

    def strata(self) -> np.ndarray:
        return self.source * 2 + self.labels

    def channels(self) -> np.ndarray:
        """Each row's channel prefix (``e:`` e-mail, ``s:`` short message, ``n:`` InMail)."""
        return np.asarray([channel_prefix(t) for t in self.texts])

    def take(self, idx: np.ndarray) -> Pooled:
        return Pooled([self.texts[i] for i in idx], self.labels[idx], self.source[idx], self.names)

    @classmethod
    def join(cls, first: Pooled, second: Pooled) -> Pooled:
        """The rows of both; ``second``'s files are numbered after ``first``'s."""
        return cls(first.texts + second.texts, np.concatenate([first.labels, second.labels]),
                   np.concatenate([first.source, second.source + len(first.names)]),
                   first.names + second.names)


def build_pipeline(params: TrainParams, analyzer: Callable[[str], list[str]] = analyze
                   ) -> Pipeline:
    """The word pipeline, or with ``analyzer=analyze_email`` the e-mail route's."""
    vectorizer = TfidfVectorizer(analyzer=analyzer, sublinear_tf=True, min_df=params.min_df,
                                 dtype=np.float64)
    svm = LinearSVC(C=params.c, class_weight="balanced", random_state=params.seed,
                    max_iter=5000)
    calibrated = CalibratedClassifierCV(svm, method="sigmoid", cv=CALIBRATION_FOLDS,
                                        ensemble=False)
    return Pipeline([("tfidf", vectorizer), ("clf", calibrated)])


def smallest_fit(rows: int, val_folds: int, cv_folds: int = 0) -> int:
    """The fewest of ``rows`` (of one label, or all) that a fit of :func:`train` sees: a
    validation fold's training part, inside an outer fold's training part with ``cv_folds``."""
    if cv_folds:
        rows -= math.ceil(rows / cv_folds)
    return rows - math.ceil(rows / val_folds)


def rows_needed(val_folds: int, cv_folds: int = 0) -> int:
    """The fewest rows of each label that :func:`train` (in ``cv_folds`` outer folds) needs:
    one in every fold, and ``CALIBRATION_FOLDS`` in every fit."""
    rows = max(val_folds, cv_folds)
    while smallest_fit(rows, val_folds, cv_folds) < CALIBRATION_FOLDS:
        rows += 1
    return rows


def check_trainable(data: Pooled, params: TrainParams, cv_folds: int = 0) -> None:
    """Raise :class:`TrainingDataError` unless :func:`train` (and :func:`crossval` with
    ``cv_folds``) can fit on ``data``: enough rows of each label, and ``min_df`` no more than
    the rows of the smallest fit."""
    ham, spam = np.bincount(data.labels, minlength=2).tolist()
    need = rows_needed(params.val_folds, cv_folds)
    files = ", ".join(data.names)
    folds = f"{params.val_folds} validation folds"
    if cv_folds:
        folds += f" inside each of {cv_folds} cross-validation folds"
    if min(ham, spam) < need:
        fix = "add labelled rows" + (", or use fewer cross-validation folds" if cv_folds else "")
        raise TrainingDataError(
            f"{files}: training needs at least {need} ham and {need} spam rows ({folds}, each "
            f"fit calibrating on {CALIBRATION_FOLDS} folds), found {ham} ham and {spam} spam. "
            f"Fix: {fix}."
        )
    smallest = smallest_fit(len(data.labels), params.val_folds, cv_folds)
    if params.min_df > smallest:
        raise TrainingDataError(
            f"--min-df {params.min_df}: a feature must appear in at least {params.min_df} rows, "
            f"but the smallest fit ({folds}) trains on {smallest} of the {len(data.labels)} "
            f"rows of {files}. Fix: lower --min-df to at most {smallest} (default "
            f"{DEFAULT_MIN_DF})."
        )


def _fit(pipeline: Pipeline, texts: Sequence[str], labels: np.ndarray,
         params: TrainParams, weights: np.ndarray | None = None) -> Pipeline:
    try:
        if weights is not None:
            return pipeline.fit(texts, labels, clf__sample_weight=weights)
        return pipeline.fit(texts, labels)
    except ValueError as exc:
        raise _no_terms(exc, params) from None


def _no_terms(exc: ValueError, params: TrainParams) -> Exception:
    """The vectorizer's "no terms remain" as a :class:`TrainingDataError`; others as they are."""
    if "no terms remain" not in str(exc):
        return exc
    return TrainingDataError(
        f"no feature appears in at least {params.min_df} rows of a fit (--min-df "
        f"{params.min_df}). Fix: lower --min-df, or add rows."
    )


def _folds(data: Pooled, n: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    splitter = StratifiedKFold(n_splits=n, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(data.labels)), data.strata()))


def out_of_fold(data: Pooled, params: TrainParams, progress: Progress | None = None
                ) -> np.ndarray:
    """Spam probability of every row from a word pipeline that did not train on it."""
    scores = np.zeros(len(data.labels))
    weights = row_weights(data, params)
    for k, (train, test) in enumerate(_folds(data, params.val_folds, params.seed), 1):
        if progress:
            progress(f"validation fold {k}/{params.val_folds}")
        pipeline = _fit(build_pipeline(params), data.take(train).texts, data.labels[train],
                        params, None if weights is None else weights[train])
        scores[test] = pipeline.predict_proba(data.take(test).texts)[:, 1]
    return scores


@dataclass(slots=True)
class EmailRoute:
    """A fitted e-mail route and its partners, one per candidate weight (``partner.py``)."""

    pipeline: Pipeline
    partners: dict[float, EmbeddingPartner] = field(default_factory=dict)

    def predict_proba(self, texts: Sequence[str], weight: float,
                      embeddings: Embeddings | None) -> np.ndarray:
        """Spam probability of each (e-mail) text, by the route with its partner at
        ``weight`` (0: the route alone, with its own sigmoid)."""
        if weight == 0 or embeddings is None:
            return self.pipeline.predict_proba(texts)[:, 1]
        return routes.partnered(self.pipeline, self.partners[weight], texts, embeddings)


def fit_email_route(data: Pooled, params: TrainParams, embeddings: Embeddings | None,
                    weights: Sequence[float] = WEIGHTS) -> EmailRoute:
    """The e-mail route fitted on all of ``data``'s rows and, with ``embeddings``, its
    partners for ``weights`` fitted on the e-mail rows."""
    pipeline = build_pipeline(params, analyze_email)
    try:
        features = pipeline[0].fit_transform(data.texts)
    except ValueError as exc:
        raise _no_terms(exc, params) from None
    pipeline[-1].fit(features, data.labels)
    route = EmailRoute(pipeline)
    if embeddings is not None and any(weights):
        email = data.channels() == EMAIL_PREFIX
        texts = [t for t, e in zip(data.texts, email, strict=True) if e]
        route.partners = fit_partners(
            pipeline[-1].estimator, features, data.labels, email, embeddings(texts),
            CALIBRATION_FOLDS, embeddings.sha256, weights)
    return route


def choose_weight(errors: dict[float, int], auc: dict[float, float]) -> float:
    """The partner weight with the fewest validation errors at the target; among those, the
    highest validation ROC-AUC (errors at one threshold are coarse: a tie says little, the
    ranking of all e-mails says more); then the smaller weight (0: no partner)."""
    return min(errors, key=lambda w: (errors[w], -round(auc[w], 6), w))


def _roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    return float(roc_auc_score(labels, scores)) if len(set(labels.tolist())) == 2 else 0.5


def errors_at_target(scores: np.ndarray, labels: np.ndarray, target_fpr: float
                     ) -> tuple[int, float]:
    """False positives plus false negatives at the threshold chosen for ``target_fpr``."""
    threshold = choose_threshold(scores[labels == 0], target_fpr)
    spam = scores >= threshold
    return int((spam & (labels == 0)).sum() + (~spam & (labels == 1)).sum()), threshold


@dataclass(slots=True)
class Trained:
    pipeline: Pipeline
    threshold: float
    validation: dict[str, dict[str, Any]]
    routes: dict[str, Pipeline] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)
    partners: dict[str, EmbeddingPartner] = field(default_factory=dict)
    #: How the e-mail partner's weight was chosen: validation errors per candidate weight.
    partner_choice: dict[str, Any] = field(default_factory=dict)
    embeddings: Embeddings | None = None
    #: InMail-form training: each file's target, ham rows and threshold (``train_inmail``).
    file_thresholds: dict[str, dict[str, Any]] = field(default_factory=dict)

    def row_thresholds(self, channels: np.ndarray) -> np.ndarray:
        return np.asarray([self.thresholds.get(c, self.threshold) for c in channels.tolist()])

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return routes.predict_proba(self.pipeline, self.routes, texts, self.partners,
                                    self.embeddings)


def wants_email_route(data: Pooled, params: TrainParams) -> bool:
    """Whether :func:`train` fits an e-mail route: asked for, and the data has e-mail rows of
    both labels, at least ``2 * val_folds`` of each (enough to choose a threshold on)."""
    if not params.email_route or params.inmail_form:
        return False
    labels = data.labels[data.channels() == EMAIL_PREFIX]
    return bool(np.bincount(labels, minlength=2).min() >= 2 * params.val_folds)


def wants_partner(data: Pooled, params: TrainParams) -> bool:
    """Whether :func:`train` fits the e-mail route's embedding partner: asked for, an e-mail
    route is fitted, and every validation fit has ``CALIBRATION_FOLDS`` e-mail rows of each
    label (the partner's own out-of-fold scores need them)."""
    if not (params.email_partner and wants_email_route(data, params)):
        return False
    counts = np.bincount(data.labels[data.channels() == EMAIL_PREFIX], minlength=2)
    return smallest_fit(int(counts.min()), params.val_folds) >= CALIBRATION_FOLDS


def train_steps(data: Pooled, params: TrainParams) -> int:
    """How many progress steps :func:`train` reports."""
    steps = params.val_folds + 1
    if params.inmail_form:
        return steps
    if wants_email_route(data, params):
        steps += params.val_folds + 1 + (1 if wants_partner(data, params) else 0)
    return steps


def as_inmail(data: Pooled) -> Pooled:
    """``data`` with every text in InMail form, as the ``classifier`` detector shows it."""
    return Pooled([model_input(t) for t in data.texts], data.labels, data.source, data.names)


def file_targets(data: Pooled, params: TrainParams) -> dict[int, float]:
    """The ham false-positive rate each file's rows are held to: ``email_target_fpr`` for a
    file whose rows are mostly e-mail-shaped (a ``Subject:`` line), else ``target_fpr``."""
    channels = data.channels()
    targets = {}
    for i in sorted(set(data.source.tolist())):
        email = float(np.mean(channels[data.source == i] == EMAIL_PREFIX))
        targets[i] = params.fpr_for(EMAIL_PREFIX if email > 0.5 else "")
    return targets


def train_inmail(data: Pooled, params: TrainParams, progress: Progress | None = None
                 ) -> Trained:
    """One word pipeline trained on every row in InMail form (:func:`as_inmail`).

    Each InMail channel (short ``n:``, long ``m:``) gets a threshold chosen on the validation
    folds so that every file keeps its own target (:func:`file_targets`): each file whose ham
    rows in that channel can measure its target (at least ``1 / target`` of them) gets the
    lowest threshold with its ham FPR there at most the target, and the channel's threshold is
    the highest of these (with no such file: all its ham at ``target_fpr``). Files with fewer
    ham rows are reported but do not choose (one false positive among 85 ham is not a rate).
    The fallback ``threshold`` is the highest channel's."""
    targets = file_targets(data, params)
    data = as_inmail(data)
    scores = out_of_fold(data, params, progress)
    channels = data.channels()
    per_file: dict[str, dict[str, Any]] = {}
    thresholds: dict[str, float] = {}
    for prefix in INMAIL_PREFIXES:
        here = channels == prefix
        if not here.any():
            continue
        choosing = []
        for i, target in targets.items():
            ham = scores[here & (data.source == i) & (data.labels == 0)]
            if not len(ham):
                continue
            measurable = len(ham) >= math.ceil(1 / target)
            chosen = choose_threshold(ham, target)
            per_file.setdefault(data.names[i], {})[prefix] = {
                "target_fpr": target, "ham": len(ham), "threshold": chosen,
                "chooses": measurable}
            if measurable:
                choosing.append(chosen)
        thresholds[prefix] = max(choosing) if choosing else choose_threshold(
            scores[here & (data.labels == 0)], params.target_fpr)
    threshold = max(thresholds.values())
    trained = Trained(build_pipeline(params), threshold, validation={}, thresholds=thresholds,
                      file_thresholds=per_file)
    trained.validation = per_source_metrics(data, scores, trained.row_thresholds(channels))
    if progress:
        progress("final fit on all rows")
    _fit(trained.pipeline, data.texts, data.labels, params, row_weights(data, params))
    return trained


def row_weights(data: Pooled, params: TrainParams) -> np.ndarray | None:
    """Each row's sample weight: its file's in ``params.file_weights``, else 1 (None: all 1)."""
    if not params.file_weights:
        return None
    by_name = dict(params.file_weights)
    per_source = np.asarray([by_name.get(name, 1.0) for name in data.names])
    return per_source[data.source]


def train(data: Pooled, params: TrainParams, progress: Progress | None = None,
          embeddings: Embeddings | None = None) -> Trained:
    """Choose the thresholds (and the e-mail partner's weight) on validation folds, then fit
    the final pipelines on all rows. ``embeddings``: the encoder for the e-mail partner
    (default: the shipped one); pass one to share its cache across calls. With
    ``params.inmail_form``: :func:`train_inmail`."""
    if params.inmail_form:
        return train_inmail(data, params, progress)
    scores = out_of_fold(data, params, progress)
    routed = scores.copy()
    channels = data.channels()
    email_route = wants_email_route(data, params)
    weight = 0.0
    choice: dict[str, Any] = {}
    if email_route:
        if wants_partner(data, params):
            embeddings = embeddings or Embeddings.builtin()
            email_texts = [t for t, c in zip(data.texts, channels, strict=True)
                           if c == EMAIL_PREFIX]
            if progress:
                progress(f"e-mail partner: embedding {len(embeddings.missing(email_texts))} "
                         "e-mails")
            embeddings(email_texts)
        else:
            embeddings = None
        weights = params.partner_weights if embeddings is not None else (0.0,)
        email = channels == EMAIL_PREFIX
        by_weight = {w: np.zeros(len(data.labels)) for w in weights}
        for k, (train_idx, test_idx) in enumerate(
                _folds(data, params.val_folds, params.seed), 1):
            if progress:
                progress(f"e-mail route: validation fold {k}/{params.val_folds}")
            route = fit_email_route(data.take(train_idx), params, embeddings, weights)
            test = test_idx[email[test_idx]]
            texts = [data.texts[i] for i in test]
            for w in weights:
                by_weight[w][test] = route.predict_proba(texts, w, embeddings)
        labels = data.labels[email]
        errors = {w: errors_at_target(by_weight[w][email], labels,
                                      params.email_target_fpr)[0] for w in weights}
        auc = {w: _roc_auc(labels, by_weight[w][email]) for w in weights}
        weight = choose_weight(errors, auc)
        routed[email] = by_weight[weight][email]
        if embeddings is not None:
            choice = {"weight": weight, "candidates": list(weights),
                      "validation_errors": {str(w): errors[w] for w in weights},
                      "validation_roc_auc": {str(w): round(auc[w], 6) for w in weights},
                      "encoder_sha256": embeddings.sha256}
    threshold = choose_threshold(scores[data.labels == 0], params.target_fpr)
    thresholds = {
        prefix: choose_threshold(routed[(channels == prefix) & (data.labels == 0)],
                                 params.fpr_for(prefix))
        for prefix in sorted(set(channels.tolist()))
    }
    trained = Trained(build_pipeline(params), threshold, validation={}, thresholds=thresholds,
                      partner_choice=choice, embeddings=embeddings)
    trained.validation = per_source_metrics(data, routed, trained.row_thresholds(channels))
    if progress:
        progress("final fit on all rows")
    _fit(trained.pipeline, data.texts, data.labels, params)
    if email_route:
        if progress:
            progress("e-mail route: final fit")
        route = fit_email_route(data, params, embeddings if weight else None, (weight,))
        trained.routes[EMAIL_PREFIX] = route.pipeline
        if weight:
            trained.partners[EMAIL_PREFIX] = route.partners[weight]
    return trained


def trained_manifest(trained: Trained, params: TrainParams, command: str,
                     training_data: Sequence[dict[str, Any]] = (),
                     metrics: dict[str, Any] | None = None) -> dict[str, Any]:
    """The training facts :func:`~inmail_guard.models.artifact.save_model` writes into the
    manifest (it adds the format, file name, sha256, size and versions)."""
    from datetime import UTC, datetime

    from inmail_guard.models.encoder import ENCODER_FILE

    metrics = dict(metrics or {})
    metrics["validation"] = trained.validation
    if trained.file_thresholds:
        metrics["threshold_per_file"] = trained.file_thresholds
    if trained.partner_choice:
        metrics["email_partner"] = trained.partner_choice
    return {
        "threshold": trained.threshold,
        "thresholds": trained.thresholds,
        "routes": sorted(trained.routes),
        "partners": {prefix: {"encoder": ENCODER_FILE, "encoder_sha256": p.encoder_sha256,
                              "weight": p.weight,
                              "candidates": trained.partner_choice["candidates"],
                              "validation_errors": trained.partner_choice["validation_errors"]}
                     for prefix, p in trained.partners.items()},
        "target_fpr": params.target_fpr,
        "email_target_fpr": params.email_target_fpr,
        "created_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "training_data": list(training_data),
        "params": params.as_dict(),
        "metrics": metrics,
        "command": command,
    }


def per_source_metrics(
    data: Pooled, scores: np.ndarray, threshold: float | np.ndarray
) -> dict[str, dict[str, Any]]:
    """Metrics for each file and for all rows together. ``threshold`` may be per row."""
    out: dict[str, dict[str, Any]] = {}
    thresholds = np.broadcast_to(np.asarray(threshold, dtype=float), scores.shape)
    groups = [(name, data.source == i) for i, name in enumerate(data.names)]
    if len(data.names) > 1:
        groups.append(("all", np.ones(len(scores), dtype=bool)))
    for name, mask in groups:
        # Per-row thresholds: compare as "score - threshold >= 0" at threshold 0.
        shifted = scores[mask] - thresholds[mask]
        m = binary_metrics(data.labels[mask].tolist(), shifted.tolist(), 0.0)
        m["roc_auc"] = binary_metrics(data.labels[mask].tolist(), scores[mask].tolist(),
                                      0.5)["roc_auc"]
        m["threshold"] = round(float(np.mean(thresholds[mask])), 4)
        out[name] = m
    return out


def crossval(
    data: Pooled, params: TrainParams, folds: int = 5, progress: Progress | None = None,
    embeddings: Embeddings | None = None,
) -> dict[str, Any]:
    """Stratified k-fold CV of the whole procedure (inner threshold and partner weight choice
    included).

    Each outer fold trains on the other folds of ALL files (so the model sees both corpora, as
    the shipped one does), chooses its thresholds and e-mail partner weight on inner validation
    folds, and scores the held-out rows; metrics are reported per file over all held-out rows.
    The encoder is frozen (it never learns from these rows), so one cache of embeddings serves
    every fold.
    """
    scores = np.zeros(len(data.labels))
    thresholds = np.zeros(len(data.labels))
    fold_thresholds: list[dict[str, float]] = []
    fold_weights: list[float] = []
    if embeddings is None and wants_partner(data, params):
        embeddings = Embeddings.builtin()
    for k, (train_idx, test_idx) in enumerate(_folds(data, folds, params.seed + 1), 1):
        def step(msg: str, k: int = k) -> None:
            if progress:
                progress(f"fold {k}/{folds}: {msg}")

        held_out = data.take(test_idx)
        if params.inmail_form:
            held_out = as_inmail(held_out)
        trained = train(data.take(train_idx), params, step, embeddings)
        scores[test_idx] = trained.predict_proba(held_out.texts)
        thresholds[test_idx] = trained.row_thresholds(held_out.channels())
        fold_thresholds.append({"default": trained.threshold, **trained.thresholds})
        if trained.partner_choice:
            fold_weights.append(trained.partner_choice["weight"])
    result: dict[str, Any] = {
        "folds": folds,
        "fold_thresholds": fold_thresholds,
        "metrics": per_source_metrics(data, scores, thresholds),
    }
    if fold_weights:
        result["fold_partner_weights"] = fold_weights
    return result
