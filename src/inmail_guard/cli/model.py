"""``inmail-guard model train|evaluate|info|crossval``: the spam classifier's command line."""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from inmail_guard.models.artifact import load_model, resolve, save_model, sha256_file
from inmail_guard.models.data import DatasetError, read_datasets
from inmail_guard.models.manifest import (
    ModelVerificationError,
    check_model_name,
    read_manifest,
)
from inmail_guard.models.metrics import format_metrics_table
from inmail_guard.models.scorer import ACCELERATOR_AVAILABLE

_DATA = click.argument(
    "data", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path)
)


def _params(target_fpr: float, email_target_fpr: float, email_route: bool,
            email_partner: bool, seed: int, c: float, min_df: int, inmail_form: bool,
            weights: tuple[tuple[str, float], ...] = ()) -> Any:
    from inmail_guard.models.train import TrainParams

    return TrainParams(target_fpr=target_fpr, email_target_fpr=email_target_fpr,
                       email_route=email_route, email_partner=email_partner, seed=seed, c=c,
                       min_df=min_df, inmail_form=inmail_form, file_weights=weights)


def _check_weights(ctx: click.Context, param: click.Parameter,
                   value: tuple[str, ...]) -> tuple[tuple[str, float], ...]:
    out = []
    for item in value:
        name, _, weight = item.rpartition("=")
        try:
            number = float(weight)
        except ValueError:
            number = -1.0
        if not name or not number > 0:
            raise click.BadParameter(f"{item!r}: expected FILE=WEIGHT with the data file's name "
                                     "and a weight above 0, such as train.csv=5.")
        out.append((Path(name).name, number))
    return tuple(out)


def _training_options(f: Callable[..., Any]) -> Callable[..., Any]:
    from inmail_guard.models import train as t

    for option in reversed([
        click.option("--weight", "weights", multiple=True, metavar="FILE=WEIGHT",
                     callback=_check_weights,
                     help="Count the rows of data file FILE (its name) WEIGHT times in every "
                     "fit, e.g. a small corpus of InMails among large SMS and e-mail corpora."),
        click.option("--inmail-form/--per-channel", default=True, show_default=True,
                     help="Train on every row as the classifier detector sees it when sent as "
                     "an InMail (one word pipeline, one threshold that keeps every file's "
                     "target), or per channel (SMS, e-mail route and partner; the old way)."),
        click.option("--target-fpr", type=click.FloatRange(0, 1, min_open=True),
                     default=t.DEFAULT_TARGET_FPR, show_default=True,
                     help="Ham false-positive rate the thresholds are chosen for."),
        click.option("--email-target-fpr", type=click.FloatRange(0, 1, min_open=True),
                     default=t.DEFAULT_EMAIL_TARGET_FPR, show_default=True,
                     help="Ham false-positive rate the e-mail channel's threshold is chosen "
                     "for."),
        click.option("--email-route/--no-email-route", default=True, show_default=True,
                     help="--per-channel: train a separate e-mail pipeline with character "
                     "n-grams on the e-mail rows (text starting with 'Subject:')."),
        click.option("--email-partner/--no-email-partner", default=True, show_default=True,
                     help="--per-channel: give the e-mail route a partner model on sentence "
                     "embeddings (MiniLM-L6), weighted as the validation folds choose "
                     "(weight 0: none)."),
        click.option("--seed", type=int, default=t.DEFAULT_SEED, show_default=True,
                     help="Seed of the fold splits and the solver."),
        click.option("--c", "c", type=click.FloatRange(0, min_open=True), default=t.DEFAULT_C,
                     show_default=True, help="Inverse regularisation of the linear SVM."),
        click.option("--min-df", type=click.IntRange(1), default=t.DEFAULT_MIN_DF,
                     show_default=True, help="Drop features seen in fewer documents."),
    ]):
        f = option(f)
    return f


@contextmanager
def _progress(total: int) -> Iterator[Callable[[str], None]]:
    """A progress bar on stderr (steps done, time left; nothing when not a terminal); yields
    ``step(description)``."""
    from inmail_guard.cli.progress import progress_bar

    with progress_bar("reading data", total=total, unit="steps", transient=False) as bar:

        def step(description: str) -> None:
            bar.advance(1, description=description)

        yield step
        bar.describe("done")


#: Texts scored per call while ``model evaluate`` shows its progress.
_SCORE_CHUNK = 2000


def _scores(loaded: Any, texts: Sequence[str]) -> list[float]:
    """``loaded.spam_probabilities(texts)``, in chunks, with a progress bar on a terminal."""
    from inmail_guard.cli.progress import progress_bar

    scores: list[float] = []
    with progress_bar("scoring", total=len(texts), unit="texts") as bar:
        for start in range(0, len(texts), _SCORE_CHUNK):
            chunk = texts[start:start + _SCORE_CHUNK]
            scores += loaded.spam_probabilities(chunk)
            bar.advance(len(chunk))
    return scores


def _require_matplotlib() -> None:
    """--plot needs matplotlib (an optional dependency): say so before any scoring."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise click.UsageError(
            "--plot needs matplotlib, which is not installed: pip install"
            " 'inmail-guard[plot]' (or pip install matplotlib), or leave out --plot.")


def _fail(exc: Exception) -> click.ClickException:
    return click.ClickException(str(exc))


def _check_name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        return check_model_name(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _check_cv_folds(ctx: click.Context, param: click.Parameter, value: int) -> int:
    if value == 1:
        raise click.BadParameter("1: use 0 to skip cross-validation, or at least 2 folds.")
    return value


def _check_out_dir(ctx: click.Context, param: click.Parameter, value: Path) -> Path:
    """--out is created when missing, so its nearest existing ancestor must be a directory."""
    existing = next(p for p in (value, *value.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise click.BadParameter(
            f"{value} cannot be created: {existing} is a file. Fix: choose another directory."
        )
    return value


def _check_output_file(ctx: click.Context, param: click.Parameter,
                       value: Path | None) -> Path | None:
    """Output files go into an existing directory: checked before the work, never created."""
    if value is not None and not value.absolute().parent.is_dir():
        raise click.BadParameter(
            f"{value}: directory {value.parent} does not exist. Fix: create it first, or "
            "write into an existing directory."
        )
    return value


@click.group(name="model")
def model() -> None:
    """Train, evaluate and inspect the spam text classifier."""


@model.command()
@click.argument("data", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--from-db", "from_db", default=None, metavar="URL",
              help="Also learn from the store's verdicts (a SQLite path or database URL): "
              "InMails reported as abuse are spam, InMails that got a reply and no report ham.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              callback=_check_out_dir,
              help="Directory to write NAME.joblib and NAME.json into (created if missing).")
@click.option("--name", default="spam-v1", show_default=True, callback=_check_name,
              help="Model name (file stem): letters, digits, '.', '_', '-'; not starting "
              "with '.'.")
@_training_options
@click.option("--crossval", "cv_folds", type=click.IntRange(0), default=0, show_default=True,
              callback=_check_cv_folds,
              help="Also run K-fold cross-validation (K >= 2) and record it in the manifest "
              "(0: skip).")
def train(data: tuple[Path, ...], out_dir: Path, name: str, target_fpr: float,
          email_target_fpr: float, email_route: bool, email_partner: bool, seed: int, c: float,
          min_df: int, cv_folds: int, inmail_form: bool, from_db: str | None,
          weights: tuple[tuple[str, float], ...]) -> None:
    """Train a model from id,label,text CSV files (label ham|spam) and/or, with --from-db,
    the InMails recipients reported (spam) or replied to (ham)."""
    from inmail_guard.models.train import (
        Pooled,
        TrainingDataError,
        check_trainable,
        crossval,
        train_steps,
        trained_manifest,
    )
    from inmail_guard.models.train import train as fit

    params = _params(target_fpr, email_target_fpr, email_route, email_partner, seed, c, min_df,
                     inmail_form, weights)
    if not data and from_db is None:
        raise click.UsageError("give at least one DATA.csv, or --from-db URL")
    try:
        datasets = read_datasets(data)
        if from_db is not None:
            datasets.append(_store_verdicts(from_db))
        pooled = Pooled.of(datasets)
        check_trainable(pooled, params, cv_folds)
    except (DatasetError, TrainingDataError) as exc:
        raise _fail(exc) from None
    per_fit = train_steps(pooled, params)
    steps = 1 + per_fit + cv_folds * per_fit
    metrics: dict[str, Any] = {}
    try:
        with _progress(steps) as step:
            step(f"read {len(pooled.labels)} rows from {len(datasets)} file(s)")
            if cv_folds:
                metrics["crossval"] = crossval(pooled, params, cv_folds, step)
            trained = fit(pooled, params, step)
    except TrainingDataError as exc:
        raise _fail(exc) from None
    command = ["inmail-guard", "model", "train", *map(str, data)]
    if from_db is not None:
        command += ["--from-db", _shown_url(from_db)]
    command += ["--out", str(out_dir),
               "--name", name, "--target-fpr", str(target_fpr),
               "--email-target-fpr", str(email_target_fpr), "--seed", str(seed),
               "--c", str(c), "--min-df", str(min_df)]
    if not inmail_form:
        command.append("--per-channel")
    for weighted, weight in weights:
        command += ["--weight", f"{weighted}={weight:g}"]
    if not email_route:
        command.append("--no-email-route")
    if not email_partner:
        command.append("--no-email-partner")
    if cv_folds:
        command += ["--crossval", str(cv_folds)]
    facts = trained_manifest(trained, params, shlex.join(command),
                             [d.describe() for d in datasets], metrics)
    try:
        manifest_path = save_model(trained.pipeline, out_dir, name, facts, trained.routes,
                                   trained.partners)
    except OSError as exc:
        raise click.ClickException(
            f"{out_dir}: cannot write model {name}: {exc.strerror or exc}. Nothing was "
            f"replaced: a previous {name}.joblib and {name}.json there are unchanged. Fix: "
            "free disk space or raise the file size limit, check the directory's permissions, "
            "and train again."
        ) from None
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    click.echo(f"wrote {out_dir / manifest['artifact']} ({manifest['size_bytes']:,} bytes, "
               f"sha256:{manifest['sha256']})")
    per_channel = ", ".join(f"{k} {v}" for k, v in trained.thresholds.items())
    click.echo(f"wrote {manifest_path}; threshold {trained.threshold} (per channel: "
               f"{per_channel or 'none'}; routes: {', '.join(trained.routes) or 'none'})")
    if trained.partner_choice:
        choice = trained.partner_choice
        click.echo(f"e-mail partner weight {choice['weight']} (validation errors per weight: "
                   f"{choice['validation_errors']})")
    if "crossval" in metrics:
        click.echo("\ncross-validated:\n" + format_metrics_table(metrics["crossval"]["metrics"]))
    click.echo("\nvalidation folds:\n" + format_metrics_table(trained.validation))


def _shown_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    from inmail_guard.store import to_url

    return make_url(to_url(url)).render_as_string(hide_password=True)


def _store_verdicts(url: str) -> Any:
    """The store's verdicts (``store/verdicts.py``) as a dataset named ``db:<url>``."""
    from sqlalchemy.engine import make_url

    from inmail_guard.models.data import from_rows
    from inmail_guard.store import Store, StoreError, to_url
    from inmail_guard.store.verdicts import verdicts

    shown = _shown_url(url)
    target = make_url(to_url(url))
    if target.get_backend_name() == "sqlite" and not Path(target.database or "").is_file():
        raise DatasetError(f"--from-db {shown}: no such SQLite file {target.database!r}. Fix: "
                           "give the file the service runs on (inmail-guard serve --db).")
    try:
        store = Store(to_url(url))
    except (StoreError, OSError, ValueError) as exc:
        raise DatasetError(f"--from-db {shown}: cannot open the store: {exc}. Fix: give the "
                           "SQLite file or database URL the service runs on "
                           "(inmail-guard serve --db).") from None
    try:
        found = verdicts(store)
    except StoreError as exc:
        raise DatasetError(f"--from-db {shown}: cannot read the InMails: {exc}") from None
    finally:
        store.close()
    rows = [(v.inmail_id, f"Subject: {' '.join(v.subject.split())}\n{v.body}", v.spam)
            for v in found]
    dataset = from_rows(f"db:{shown}", rows)
    click.echo(f"--from-db {shown}: {dataset.spam} reported InMails (spam), {dataset.ham} "
               "replied to (ham)", err=True)
    return dataset


@model.command()
@click.argument("args", nargs=-1, required=True, metavar="[MODEL] DATA.csv...")
@click.option("--policy", "policy_ref", default=None,
              help="Measure the product: send every row as an InMail through this policy (a "
              "file or builtin:default) and count its decisions. MODEL, if given, replaces the "
              "policy's classifier model.")
@click.option("--crossval", "cv_folds", type=click.IntRange(0), default=0, show_default=True,
              callback=_check_cv_folds,
              help="With --policy: train a model with the training options on K-1 folds of "
              "DATA (plus --train-also), put it in the policy, send the held-out fold; K >= 2.")
@click.option("--train-also", "train_also", multiple=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="With --crossval: a CSV trained on in every fold, never scored.")
@_training_options
@click.option("--sha256", default=None, help="Refuse the model unless its sha256 is this.")
@click.option("--threshold", type=click.FloatRange(0, 1), default=None,
              help="One decision threshold for every row (default: the model's threshold for "
              "each row's channel).")
@click.option("--plot", type=click.Path(dir_okay=False, path_type=Path), default=None,
              callback=_check_output_file,
              help="Write precision-recall and ROC curves to this PNG (its directory must "
              "exist).")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
def evaluate(args: tuple[str, ...], policy_ref: str | None, cv_folds: int,
             train_also: tuple[Path, ...], target_fpr: float, email_target_fpr: float,
             email_route: bool, email_partner: bool, seed: int, c: float, min_df: int,
             inmail_form: bool, weights: tuple[tuple[str, float], ...], sha256: str | None,
             threshold: float | None, plot: Path | None,
             as_json: bool) -> None:
    """Score MODEL on labelled CSV files: precision, recall, F1, ham FPR, MCC, ROC-AUC.

    With --policy, measure what a user gets instead: each row is sent as an InMail through the
    policy (see docs/model.md, "End to end") and a rejection, for any reason, counts as
    flagged; the report gives the reason codes that decided. MODEL is then optional (a
    builtin: name or a .joblib path), and --crossval trains one per fold instead."""
    if policy_ref is not None:
        from inmail_guard.cli.model_product import run

        model_ref = args[0] if args[0].startswith("builtin:") or args[0].endswith(
            ".joblib") else None
        data = tuple(Path(a) for a in (args[1:] if model_ref else args))
        if not data:
            raise click.UsageError("give at least one DATA.csv")
        params = _params(target_fpr, email_target_fpr, email_route, email_partner, seed, c,
                         min_df, inmail_form, weights)
        run(policy_ref, model_ref, data, cv_folds, train_also, params, sha256, as_json,
            _progress)
        return
    if cv_folds or train_also:
        raise click.UsageError("--crossval and --train-also need --policy")
    if len(args) < 2:
        raise click.UsageError("give MODEL and at least one DATA.csv")
    model_ref, data = args[0], tuple(Path(a) for a in args[1:])
    import numpy as np

    from inmail_guard.models.train import Pooled, per_source_metrics

    if plot is not None:
        _require_matplotlib()
    try:
        loaded = load_model(model_ref, sha256)
        datasets = read_datasets(data)
    except (ModelVerificationError, DatasetError) as exc:
        raise _fail(exc) from None
    trained_on = {d.get("sha256") for d in loaded.manifest.get("training_data", [])}
    for ds in datasets:
        if ds.sha256 in trained_on:
            click.echo(f"warning: {ds.path} is part of {loaded.name}'s training data; its metrics"
                       " are optimistic. Use held-out data, or `inmail-guard model crossval`.",
                       err=True)
    pooled = Pooled.of(datasets)
    if loaded.manifest.get("params", {}).get("inmail_form"):
        # A model trained in InMail form scores each row as the InMail it would be sent as.
        from inmail_guard.models.train import as_inmail

        pooled = as_inmail(pooled)
    scores = np.asarray(_scores(loaded, pooled.texts))
    if threshold is None:
        cut: Any = np.asarray([loaded.threshold_for(t) for t in pooled.texts])
        shown: Any = {"default": loaded.threshold, **loaded.thresholds}
    else:
        cut = shown = threshold
    results = per_source_metrics(pooled, scores, cut)
    if as_json:
        click.echo(json.dumps({"model": loaded.name, "sha256": loaded.sha256,
                               "threshold": shown, "metrics": results}, indent=2))
    else:
        click.echo(f"model {loaded.name} sha256:{loaded.sha256} threshold {shown}\n")
        click.echo(format_metrics_table(results))
    if plot is not None:
        aucs = _plot_curves(plot, pooled.labels, scores, pooled.source, pooled.names, cut)
        click.echo(f"wrote {plot} (ROC-AUC: "
                   f"{', '.join(f'{n} {a:.4f}' for n, a in aucs.items()) or 'n/a'})", err=True)


@model.command()
@click.argument("model_ref", metavar="MODEL")
def info(model_ref: str) -> None:
    """Print MODEL's manifest (MODEL: a .joblib path or builtin:spam-v1); checks the sha256.
    Also prints the file's path and whether this install's scorer has its C accelerator."""
    try:
        artifact = resolve(model_ref)
        manifest = read_manifest(artifact)
    except ModelVerificationError as exc:
        raise _fail(exc) from None
    manifest["path"] = str(artifact)
    try:
        found: str | None = sha256_file(artifact)
        problem = None
    except OSError as exc:
        found = None
        problem = (f"{artifact}: cannot read the model file: {exc.strerror or exc}. Fix: check "
                   "the path, or use builtin:spam-v1.")
    manifest["sha256_verified"] = found == manifest["sha256"]
    # This install's per-message scorer: the C accelerator, or the slower pure-Python loop
    # where no C compiler was there at install (same scores either way).
    manifest["accelerated"] = ACCELERATOR_AVAILABLE
    click.echo(json.dumps(manifest, indent=2))
    if problem is not None:
        raise click.ClickException(problem)
    if not manifest["sha256_verified"]:
        raise click.ClickException(
            f"{artifact}: sha256 mismatch: manifest expects {manifest['sha256']}, the file has "
            f"{found}. Fix: restore the file or retrain with: {manifest['command']}"
        )


@model.command(name="crossval")
@_DATA
@_training_options
@click.option("--folds", type=click.IntRange(2), default=5, show_default=True,
              help="Number of folds K (at least 2): each is scored by a model trained on"
                   " the others.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              default=None, callback=_check_output_file,
              help="Also write the results as JSON to this file (its directory must exist).")
def crossval_command(data: tuple[Path, ...], target_fpr: float, email_target_fpr: float,
                     email_route: bool, email_partner: bool, seed: int, c: float, min_df: int,
                     inmail_form: bool, weights: tuple[tuple[str, float], ...], folds: int,
                     json_out: Path | None) -> None:
    """Stratified K-fold cross-validation of training + threshold choice, per file."""
    from inmail_guard.models.train import (
        Pooled,
        TrainingDataError,
        check_trainable,
        crossval,
        train_steps,
    )

    params = _params(target_fpr, email_target_fpr, email_route, email_partner, seed, c, min_df,
                     inmail_form, weights)
    try:
        pooled = Pooled.of(read_datasets(data))
        check_trainable(pooled, params, folds)
        with _progress(1 + folds * train_steps(pooled, params)) as step:
            step(f"read {len(pooled.labels)} rows")
            result = crossval(pooled, params, folds, step)
    except (DatasetError, TrainingDataError) as exc:
        raise _fail(exc) from None
    result["params"] = params.as_dict()
    click.echo(format_metrics_table(result["metrics"]))
    click.echo(f"\nthresholds per fold: {result['fold_thresholds']}")
    if "fold_partner_weights" in result:
        click.echo(f"e-mail partner weight per fold: {result['fold_partner_weights']}")
    if json_out is not None:
        json_out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


def operating_point(labels: Any, scores: Any, cut: Any) -> tuple[float, float, float]:
    """(recall, precision, false-positive rate) of flagging ``scores >= cut`` (1 = spam)."""
    import numpy as np

    flagged = np.asarray(scores) >= cut
    spam = np.asarray(labels) == 1
    tp = int(np.sum(flagged & spam))
    return (tp / max(1, int(np.sum(spam))), tp / max(1, int(np.sum(flagged))),
            int(np.sum(flagged & ~spam)) / max(1, int(np.sum(~spam))))


def _plot_curves(path: Path, labels: Any, scores: Any, source: Any, names: Sequence[str],
                 cut: Any) -> dict[str, float]:
    """Precision-recall and ROC curves per source (and all together), each marking the
    operating point (the decision threshold ``cut``: one value or one per row) and giving its
    area in the legend; returns the ROC-AUC per curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from sklearn.metrics import (
        average_precision_score,
        precision_recall_curve,
        roc_auc_score,
        roc_curve,
    )

    cuts = np.broadcast_to(np.asarray(cut, dtype=float), np.shape(scores))
    fig, (ax_pr, ax_roc) = plt.subplots(1, 2, figsize=(11, 4.5))
    groups = [(n, source == i) for i, n in enumerate(names)]
    if len(names) > 1:
        groups.append(("all", source == source))
    aucs: dict[str, float] = {}
    for name, mask in groups:
        y, s = labels[mask], scores[mask]
        if len(set(y.tolist())) < 2:
            continue
        precision, recall, _ = precision_recall_curve(y, s)
        fpr, tpr, _ = roc_curve(y, s)
        aucs[name] = auc = float(roc_auc_score(y, s))
        ap = float(average_precision_score(y, s))
        pr_line = ax_pr.plot(recall, precision, label=f"{name} (AP {ap:.3f})")[0]
        roc_line = ax_roc.plot(fpr, tpr, label=f"{name} (AUC {auc:.4f})")[0]
        op_recall, op_precision, op_fpr = operating_point(y, s, cuts[mask])
        ax_pr.plot([op_recall], [op_precision], "o", color=pr_line.get_color())
        ax_roc.plot([max(op_fpr, 1e-4)], [op_recall], "o", color=roc_line.get_color())
    single = np.unique(cuts).size == 1
    where = f"threshold {float(cuts.flat[0]):g}" if single else "per-channel thresholds"
    ax_pr.set(xlabel="recall", ylabel="precision",
              title=f"Precision-recall (dot: operating point, {where})")
    ax_roc.set(xlabel="false-positive rate (ham)", ylabel="true-positive rate (spam)",
               title=f"ROC (dot: operating point, {where})", xscale="log", xlim=(1e-4, 1))
    for ax in (ax_pr, ax_roc):
        ax.grid(alpha=0.3)
        ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return aucs
