"""Classification metrics at a decision threshold, as plain JSON-ready dicts."""

from __future__ import annotations

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
