"""Classification metrics at a decision threshold, as plain JSON-ready dicts."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import matthews_corrcoef, roc_auc_score


def choose_threshold(ham_probabilities: Sequence[float], target_fpr: float) -> float:
    """The lowest probability threshold (rounded up to 1e-4) with ham FPR <= ``target_fpr``.

    Spam is ``probability >= threshold``. Rounding up keeps the threshold readable and can only
    lower the false-positive rate.
    """
    ham = np.sort(np.asarray(ham_probabilities, dtype=float))[::-1]
    allowed = math.floor(target_fpr * len(ham))
    if len(ham) == 0 or allowed >= len(ham):
        return 0.5
    edge = float(ham[allowed])  # the highest ham score that must fall below the threshold
    threshold = math.ceil(edge * 10_000) / 10_000
    if threshold <= edge:
        threshold += 1e-4
    return min(round(threshold, 4), 1.0)


def binary_metrics(
    labels: Sequence[int], probabilities: Sequence[float], threshold: float
) -> dict[str, Any]:
    """precision, recall, F1, ham FPR, MCC, ROC-AUC and the confusion matrix."""
    y = np.asarray(labels, dtype=int)
    p = np.asarray(probabilities, dtype=float)
    predicted = (p >= threshold).astype(int)
    tp = int(((predicted == 1) & (y == 1)).sum())
    fp = int(((predicted == 1) & (y == 0)).sum())
    fn = int(((predicted == 0) & (y == 1)).sum())
    tn = int(((predicted == 0) & (y == 0)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    both = len(set(y.tolist())) == 2
    return {
        "threshold": threshold,
        "rows": len(y),
        "ham": tn + fp,
        "spam": tp + fn,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "ham_fpr": round(fp / (fp + tn), 4) if fp + tn else 0.0,
        "mcc": round(float(matthews_corrcoef(y, predicted)), 4) if both else 0.0,
        "roc_auc": round(float(roc_auc_score(y, p)), 4) if both else None,
        "confusion": {"tn": tn, "fp": fp, "fn": fn, "tp": tp},
    }


def format_metrics_table(rows: dict[str, dict[str, Any]]) -> str:
    """A markdown table, one row per data set."""
    head = ("| data | rows | ham | spam | precision | recall | F1 | ham FPR | MCC | ROC-AUC "
            "| TN | FP | FN | TP |")
    lines = [head, "|" + "---|" * 14]
    for name, m in rows.items():
        c = m["confusion"]
        auc = "n/a" if m["roc_auc"] is None else f"{m['roc_auc']:.4f}"
        lines.append(
            f"| {name} | {m['rows']} | {m['ham']} | {m['spam']} | {m['precision']:.4f} | "
            f"{m['recall']:.4f} | {m['f1']:.4f} | {m['ham_fpr']:.4f} | {m['mcc']:.4f} | {auc} | "
            f"{c['tn']} | {c['fp']} | {c['fn']} | {c['tp']} |"
        )
    return "\n".join(lines)


def above(edge: float) -> float:
    """The threshold just above the score ``edge`` (rounded up to 1e-4, as
    :func:`choose_threshold`): a row scoring ``edge`` falls below it."""
    threshold = math.ceil(edge * 10_000) / 10_000
    if threshold <= edge:
        threshold += 1e-4
    return min(round(threshold, 4), 1.0)


def choose_joint_thresholds(
    scores: np.ndarray, labels: np.ndarray, files: np.ndarray, channels: np.ndarray,
    targets: dict[int, float],
) -> tuple[dict[str, float], dict[str, Any]]:
    """One threshold per channel, chosen together: the combination with the highest mean
    recall over the files, such that every file with enough ham to measure its target (at least
    ``1 / target`` ham rows) keeps its ham FPR, over all its rows, at most its target. Ties go
    to the higher thresholds (fewer false positives).

    Choosing each channel on its own holds every file to its target in *each* channel, which
    wastes a file's false-positive budget where it has few ham rows (a channel with 130 ham
    allows one, however many the file has elsewhere); this spends each file's budget where it
    buys the most recall. Only thresholds just above a ham score can be optimal (between two
    ham scores recall only falls), and only those that keep every file within budget in that
    channel alone, so the search is small. With no file able to measure its target, each
    channel's threshold is just above its highest ham score. Returns the thresholds and what
    was chosen from.
    """
    prefixes = sorted(set(channels.tolist()))
    names = sorted(targets)
    ham_of = {f: int(((files == f) & (labels == 0)).sum()) for f in names}
    spam_of = {f: int(((files == f) & (labels == 1)).sum()) for f in names}
    budget = {f: math.floor(targets[f] * ham_of[f]) for f in names
              if ham_of[f] and ham_of[f] >= math.ceil(1 / targets[f])}
    # Per channel: candidate thresholds, and for each the false and true positives per file.
    tables = []
    for prefix in prefixes:
        here = channels == prefix
        ham = here & (labels == 0)
        order = np.argsort(-scores[ham], kind="stable")
        ham_scores, ham_files = scores[ham][order], files[ham][order]
        # Down the channel's ham scores until the measurable files' ones exceed every budget
        # together: no threshold lower than that can keep them all.
        counted = np.cumsum(np.isin(ham_files, list(budget)))
        reach = int(np.searchsorted(counted, sum(budget.values()) + 1)) + 1
        candidates = sorted({above(float(s)) for s in ham_scores[:reach]}, reverse=True)
        if not len(ham_scores):
            candidates = [0.5]
        fps = np.array([[int((here & (files == f) & (labels == 0) & (scores >= t)).sum())
                         for f in names] for t in candidates])
        tps = np.array([[int((here & (files == f) & (labels == 1) & (scores >= t)).sum())
                         for f in names] for t in candidates])
        limit = np.array([budget.get(f, len(labels)) for f in names])
        ok = (fps <= limit).all(axis=1)
        ok[0] = True  # the highest candidate always stays (nothing lower may be feasible)
        tables.append(([c for c, keep in zip(candidates, ok, strict=True) if keep],
                       fps[ok], tps[ok]))
    limit = np.array([budget.get(f, len(labels)) for f in names])
    spam = np.array([max(spam_of[f], 1) for f in names], dtype=float)
    has_spam = np.array([spam_of[f] > 0 for f in names])
    best: tuple[float, float, tuple[int, ...]] | None = None
    for combo in itertools.product(*(range(len(t[0])) for t in tables)):
        fp = sum(t[1][k] for t, k in zip(tables, combo, strict=True))
        if (fp > limit).any():
            continue
        tp = sum(t[2][k] for t, k in zip(tables, combo, strict=True))
        recall = float((tp / spam)[has_spam].mean()) if has_spam.any() else 0.0
        key = (recall, sum(t[0][k] for t, k in zip(tables, combo, strict=True)))
        if best is None or key > best[:2]:
            best = (*key, combo)
    assert best is not None  # the all-highest combination: in budget in every channel
    chosen = {p: t[0][k] for p, t, k in zip(prefixes, tables, best[2], strict=True)}
    return chosen, {"rule": "joint: highest mean recall over files, each file's ham FPR "
                            "at most its target over all its rows",
                    "mean_recall": round(best[0], 4),
                    "fp_budget": {str(f): b for f, b in budget.items()}}
