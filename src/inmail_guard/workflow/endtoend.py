"""Measure the product: labelled texts sent as InMails through a policy's engine.

Each CSV row (``id,label,text``) becomes an InMail in *InMail form*
(:func:`~inmail_guard.models.inmail.inmail_form`) and is evaluated exactly as a send: the
policy's :class:`~inmail_guard.engine.evaluator.Engine`, every rule and detector enforced as
the policy says, a clean sender on the plan with the most credits and none used, an eligible
recipient outside the sender's network, no history
(:func:`~inmail_guard.workflow.qa.neutral_pair`). A row counts as flagged when the send is
rejected, whatever the reason; the report says which reason codes decided, per label, so that
ham rejected for its formatting or length is visible next to ham rejected as spam.

With a training recipe (:func:`crossval`), each of K stratified folds is held out in turn: a
model is trained on the other folds (plus rows that are always trained on and never scored),
swapped into the policy's ``classifier`` detector, and the held-out fold is sent through that
policy. The metrics are per data file over all held-out rows.
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inmail_guard.engine.types import Decision
from inmail_guard.models.inmail import NEUTRAL_SUBJECT, inmail_form
from inmail_guard.policies.schema import Policy
from inmail_guard.workflow.engines import what_if_engine
from inmail_guard.workflow.qa import CorpusItem, neutral_pair, neutral_plan

__all__ = ["NEUTRAL_SUBJECT", "CorpusResult", "crossval", "evaluate", "inmail_form", "with_model"]

Progress = Callable[[str], None]


@dataclass(slots=True)
class CorpusResult:
    """End-to-end counts for one data file: a row is *flagged* when its send is rejected."""

    name: str
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    cut: int = 0
    #: reason code -> {"ham": n, "spam": n}: the codes of the rejections (a send may have several).
    reasons: dict[str, Counter[str]] = field(default_factory=dict)
    #: detector -> {"ham": n, "spam": n}: sends on which the detector scored.
    detectors: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, spam: bool, decision: Decision, cut: bool) -> None:
        flagged = decision.outcome == "rejected"
        label = "spam" if spam else "ham"
        if spam:
            self.tp += flagged
            self.fn += not flagged
        else:
            self.fp += flagged
            self.tn += not flagged
        self.cut += cut
        for code in dict.fromkeys(r.code for r in decision.reasons):
            self.reasons.setdefault(code, Counter())[label] += 1
        for signal in decision.spam.signals:
            if signal.score > 0:
                self.detectors.setdefault(signal.detector, Counter())[label] += 1

    def metrics(self) -> dict[str, Any]:
        flagged = self.tp + self.fp
        precision = self.tp / flagged if flagged else 0.0
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        ham = self.fp + self.tn
        return {
            "rows": self.tp + self.fp + self.fn + self.tn, "ham": ham, "spam": self.tp + self.fn,
            "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
            "ham_fpr": round(self.fp / ham, 4) if ham else 0.0,
            "confusion": {"tn": self.tn, "fp": self.fp, "fn": self.fn, "tp": self.tp},
            "bodies_cut": self.cut,
            "reasons": {c: dict(sorted(n.items())) for c, n in sorted(self.reasons.items())},
            "detectors": {d: dict(sorted(n.items())) for d, n in sorted(self.detectors.items())},
        }


#: Sends evaluated per batch (and per step of a progress bar).
BATCH = 500


def send_all(policy: Policy, texts: Sequence[str], labels: Sequence[int],
             results: Sequence[CorpusResult], source: Sequence[int],
             advance: Callable[[int], Any] | None = None) -> None:
    """Send every text in InMail form through ``policy``; tally into ``results[source[i]]``.
    ``advance(n)`` is called as each batch of ``n`` sends is decided."""
    engine = what_if_engine(policy)
    plan = neutral_plan(policy)
    limit = policy.content.body.max_chars
    pairs = []
    cuts = []
    for i, text in enumerate(texts):
        subject, body, cut = inmail_form(text, limit)
        pairs.append(neutral_pair(CorpusItem(f"row{i}", "", subject, body, 0), plan))
        cuts.append(cut)
    for start in range(0, len(pairs), BATCH):
        batch = pairs[start:start + BATCH]
        for i, decision in enumerate(engine.evaluate_many(batch), start):
            results[source[i]].add(bool(labels[i]), decision, cuts[i])
        if advance is not None:
            advance(len(batch))


def with_model(policy: Policy, model: str, sha256: str | None = None) -> Policy:
    """``policy`` with its ``classifier`` detector reading ``model`` (its other settings kept)."""
    detectors = dict(policy.spam.detectors)
    if "classifier" not in detectors:
        raise ValueError(f"policy {policy.name}: it has no classifier detector to put the "
                         "model in. Fix: enable spam.detectors.classifier in the policy.")
    detectors["classifier"] = {**detectors["classifier"], "model": model, "sha256": sha256}
    spam = policy.spam.model_copy(update={"detectors": detectors})
    return policy.model_copy(update={"spam": spam})


def evaluate(policy: Policy, texts: Sequence[str], labels: Sequence[int],
             source: Sequence[int], names: Sequence[str],
             advance: Callable[[int], Any] | None = None) -> dict[str, dict[str, Any]]:
    """Per data file (and ``all`` when several): the end-to-end metrics of sending the rows."""
    results = [CorpusResult(n) for n in names]
    send_all(policy, texts, labels, results, source, advance)
    return _report(results)


def _report(results: Sequence[CorpusResult]) -> dict[str, dict[str, Any]]:
    out = {r.name: r.metrics() for r in results}
    if len(results) > 1:
        total = CorpusResult("all")
        for r in results:
            total.tp += r.tp
            total.fp += r.fp
            total.fn += r.fn
            total.tn += r.tn
            total.cut += r.cut
            for attr in ("reasons", "detectors"):
                for key, counts in getattr(r, attr).items():
                    getattr(total, attr).setdefault(key, Counter()).update(counts)
        out["all"] = total.metrics()
    return out


def crossval(policy: Policy, data: Any, params: Any, folds: int,
             also_train: Any | None = None, progress: Progress | None = None
             ) -> dict[str, Any]:
    """K-fold cross-validation of a training recipe, measured end to end.

    ``data`` (a :class:`~inmail_guard.models.train.Pooled`) is split into ``folds``
    stratified folds (by file and label, seed ``params.seed + 1`` as ``model crossval``); each
    fold is scored by a model trained by :func:`~inmail_guard.models.train.train` with
    ``params`` on the other folds plus ``also_train`` (rows always trained on, never scored),
    put into ``policy``'s classifier detector. Returns the per-file metrics and each fold's
    model threshold."""
    import numpy as np

    from inmail_guard.models.artifact import save_model
    from inmail_guard.models.train import Pooled, _folds, train, trained_manifest

    results = [CorpusResult(n) for n in data.names]
    thresholds: list[float] = []
    with tempfile.TemporaryDirectory(prefix="inmail-guard-cv-") as tmp:
        for k, (train_idx, test_idx) in enumerate(_folds(data, folds, params.seed + 1), 1):
            def step(msg: str, k: int = k) -> None:
                if progress:
                    progress(f"fold {k}/{folds}: {msg}")

            fit_on = data.take(train_idx)
            if also_train is not None:
                fit_on = Pooled.join(fit_on, also_train)
            trained = train(fit_on, params, step)
            manifest = save_model(trained.pipeline, tmp, f"fold{k}",
                                  trained_manifest(trained, params, command="crossval fold"),
                                  trained.routes, trained.partners)
            # Pinned by the digest just written: this run built it (artifact.py loads no
            # unpinned external model).
            digest = json.loads(manifest.read_text(encoding="utf-8"))["sha256"]
            thresholds.append(trained.threshold)
            step("sending the held-out rows")
            held = data.take(test_idx)
            send_all(with_model(policy, str(Path(tmp) / f"fold{k}.joblib"), f"sha256:{digest}"),
                     held.texts, held.labels.tolist(), results,
                     np.asarray(held.source).tolist())
    return {"folds": folds, "fold_thresholds": thresholds, "metrics": _report(results)}
