"""``inmail-guard model evaluate --policy``: labelled rows sent as InMails, measured end to end.

See :mod:`inmail_guard.workflow.endtoend` for the InMail form and how a send is made.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from inmail_guard.cli import load_policy_or_exit
from inmail_guard.models.data import DatasetError, read_datasets
from inmail_guard.models.manifest import ModelVerificationError


def run(policy_ref: str, model_ref: str | None, data: tuple[Path, ...], cv_folds: int,
        train_also: tuple[Path, ...], params: Any, sha256: str | None, as_json: bool,
        progress: Callable[[int], Any]) -> None:
    from inmail_guard.models.train import Pooled, TrainingDataError, check_trainable, train_steps
    from inmail_guard.workflow import endtoend

    if model_ref is not None and cv_folds:
        raise click.UsageError("--crossval trains a model per fold: give no MODEL with it")
    # With --crossval or MODEL, the policy's own model is replaced: it need not load.
    policy = load_policy_or_exit(policy_ref, runnable=model_ref is None and not cv_folds)
    try:
        if model_ref is not None:
            policy = endtoend.with_model(policy, model_ref, sha256)
        pooled = Pooled.of(read_datasets(data))
        extra = Pooled.of(read_datasets(train_also)) if train_also else None
        if cv_folds:
            check_trainable(pooled if extra is None else Pooled.join(pooled, extra), params,
                            cv_folds)
            with progress(1 + cv_folds * (train_steps(pooled, params) + 1)) as step:
                step(f"read {len(pooled.labels)} rows")
                result = endtoend.crossval(policy, pooled, params, cv_folds, extra, step)
        else:
            from inmail_guard.cli.progress import progress_bar

            with progress_bar("sending", total=len(pooled.texts), unit="sends") as bar:
                metrics = endtoend.evaluate(policy, pooled.texts, pooled.labels.tolist(),
                                            pooled.source.tolist(), pooled.names, bar.advance)
            result = {"metrics": metrics}
    except (DatasetError, TrainingDataError, ModelVerificationError) as exc:
        raise click.ClickException(str(exc)) from None
    except ValueError as exc:  # with_model on a policy without a classifier
        raise click.ClickException(str(exc)) from None
    result = {"policy": policy.name, "model": model_ref or _policy_model(policy),
              "crossval": cv_folds or None, **result}
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    how = f"{cv_folds}-fold cross-validation" if cv_folds else "as given"
    click.echo(f"policy {result['policy']}, model {result['model']} ({how}); a row is "
               "flagged when its send is rejected\n")
    click.echo(format_table(result["metrics"]))
    click.echo("\nreason codes of the rejections (ham / spam):\n"
               + format_reasons(result["metrics"]))
    if cv_folds:
        click.echo(f"\nmodel threshold per fold: {result['fold_thresholds']}")


def _policy_model(policy: Any) -> str:
    return str(policy.spam.detectors.get("classifier", {}).get("model", "builtin:spam-v1"))


def format_table(rows: dict[str, dict[str, Any]]) -> str:
    lines = ["| data | rows | ham | spam | precision | recall | F1 | ham FPR | TN | FP | FN | TP "
             "| bodies cut |", "|" + "---|" * 13]
    for name, m in rows.items():
        c = m["confusion"]
        lines.append(f"| {name} | {m['rows']} | {m['ham']} | {m['spam']} | "
                     f"{m['precision']:.4f} | {m['recall']:.4f} | {m['f1']:.4f} | "
                     f"{m['ham_fpr']:.4f} | {c['tn']} | {c['fp']} | {c['fn']} | {c['tp']} | "
                     f"{m['bodies_cut']} |")
    return "\n".join(lines)


def format_reasons(rows: dict[str, dict[str, Any]]) -> str:
    codes = sorted({code for m in rows.values() for code in m["reasons"]})
    if not codes:
        return "(none)"
    names = list(rows)
    lines = ["| reason code | " + " | ".join(names) + " |", "|" + "---|" * (len(names) + 1)]
    for code in codes:
        cells = [rows[n]["reasons"].get(code, {}) for n in names]
        lines.append(f"| {code} | " + " | ".join(
            f"{c.get('ham', 0)} / {c.get('spam', 0)}" for c in cells) + " |")
    return "\n".join(lines)
