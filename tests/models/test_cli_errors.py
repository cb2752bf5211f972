"""The model CLI refuses bad input up front, with one clear line and nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from inmail_guard.cli.model import model
from inmail_guard.models import artifact as artifact_module

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "models" / "tiny.csv"


def run(*args: str):
    return CliRunner().invoke(model, list(args), catch_exceptions=False)


def write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    lines = ["id,label,text"] + [f"{i},{label},{text}" for i, (label, text) in enumerate(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_info_of_a_directory(tiny_copy: Path) -> None:
    tiny_copy.unlink()
    tiny_copy.mkdir()
    result = run("info", str(tiny_copy))
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {tiny_copy}: cannot read the model file: Is a directory. Fix: check the path, "
        "or use builtin:spam-v1.\n"
    )
    assert json.loads(result.stdout)["sha256_verified"] is False


def test_info_of_a_missing_artifact(tiny_copy: Path) -> None:
    tiny_copy.unlink()
    result = run("info", str(tiny_copy))
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {tiny_copy}: cannot read the model file: No such file or directory. Fix: "
        "check the path, or use builtin:spam-v1.\n"
    )


def test_prefixed_sha_in_the_manifest_is_verified_and_shown_once(tiny_copy: Path) -> None:
    mpath = tiny_copy.with_suffix(".json")
    manifest = json.loads(mpath.read_text())
    sha = manifest["sha256"]
    mpath.write_text(json.dumps({**manifest, "sha256": f"sha256:{sha}"}), encoding="utf-8")
    info = run("info", str(tiny_copy))
    assert info.exit_code == 0, info.output
    shown = json.loads(info.stdout)
    assert (shown["sha256"], shown["sha256_verified"]) == (sha, True)
    evaluated = run("evaluate", str(tiny_copy), str(TINY), "--sha256", sha)
    assert evaluated.exit_code == 0, evaluated.output
    assert evaluated.stdout.startswith(f"model tiny sha256:{sha} threshold ")


def test_evaluate_refuses_a_bad_manifest_field(tiny_copy: Path) -> None:
    mpath = tiny_copy.with_suffix(".json")
    manifest = json.loads(mpath.read_text())
    mpath.write_text(json.dumps({**manifest, "threshold": "abc"}), encoding="utf-8")
    result = run("evaluate", str(tiny_copy), str(TINY))
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {mpath}: field 'threshold': input should be a valid number, found 'abc'. "
        "Fix: restore tiny.json as written by `inmail-guard model train`, or retrain.\n"
    )


@pytest.mark.parametrize("name", ["../../escape", "", ".hidden", "a/b"])
def test_train_refuses_a_bad_name(tmp_path: Path, name: str) -> None:
    result = run("train", str(TINY), "--out", str(tmp_path / "out"), "--name", name)
    assert result.exit_code == 2
    assert (
        f"Error: Invalid value for '--name': model name {name!r} is not allowed: it becomes "
        "the file names NAME.joblib and NAME.json, so use letters, digits, '.', '_' and '-' "
        "only, not starting with '.', at most 100 characters. Fix: choose a name such as "
        "'spam-v2'.\n"
    ) in result.stderr
    assert sorted(p.name for p in tmp_path.rglob("*")) == []


def test_train_refuses_one_crossval_fold(tmp_path: Path) -> None:
    result = run("train", str(TINY), "--out", str(tmp_path / "out"), "--crossval", "1")
    assert result.exit_code == 2
    assert ("Error: Invalid value for '--crossval': 1: use 0 to skip cross-validation, or at "
            "least 2 folds.\n") in result.stderr
    assert not (tmp_path / "out").exists()


def test_train_refuses_an_out_dir_under_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run("train", str(TINY), "--out", str(blocker / "sub"))
    assert result.exit_code == 2
    assert (f"Error: Invalid value for '--out': {blocker / 'sub'} cannot be created: {blocker} "
            "is a file. Fix: choose another directory.\n") in result.stderr


def degenerate(tmp_path: Path, kind: str) -> Path:
    if kind == "all ham":
        return write_csv(tmp_path / "ham.csv", [("ham", f"hello number {i}") for i in range(40)])
    return write_csv(tmp_path / "four.csv", [("ham", "hi a"), ("spam", "win b"),
                                              ("ham", "hi c"), ("spam", "win d")])


@pytest.mark.parametrize(("kind", "found"), [("all ham", "40 ham and 0 spam"),
                                             ("four rows", "2 ham and 2 spam")])
def test_train_refuses_too_few_rows_of_a_label(tmp_path: Path, kind: str, found: str) -> None:
    data = degenerate(tmp_path, kind)
    result = run("train", str(data), "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {data.name}: training needs at least 7 ham and 7 spam rows (5 validation "
        f"folds, each fit calibrating on 5 folds), found {found}. Fix: add labelled rows.\n"
    )
    assert not (tmp_path / "out").exists()


def test_train_refuses_more_crossval_folds_than_rows(tmp_path: Path) -> None:
    result = run("train", str(TINY), "--out", str(tmp_path / "out"), "--crossval", "100")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: tiny.csv: training needs at least 100 ham and 100 spam rows (5 validation "
        "folds inside each of 100 cross-validation folds, each fit calibrating on 5 folds), "
        "found 30 ham and 30 spam. Fix: add labelled rows, or use fewer cross-validation "
        "folds.\n"
    )
    assert not (tmp_path / "out").exists()


def test_train_refuses_a_min_df_above_the_smallest_fit(tmp_path: Path) -> None:
    result = run("train", str(TINY), "--out", str(tmp_path / "out"), "--min-df", "1000")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: --min-df 1000: a feature must appear in at least 1000 rows, but the smallest "
        "fit (5 validation folds) trains on 48 of the 60 rows of tiny.csv. Fix: lower "
        "--min-df to at most 48 (default 2).\n"
    )


def test_crossval_refuses_too_few_rows(tmp_path: Path) -> None:
    data = degenerate(tmp_path, "four rows")
    result = run("crossval", str(data), "--folds", "2")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {data.name}: training needs at least 14 ham and 14 spam rows (5 validation "
        "folds inside each of 2 cross-validation folds, each fit calibrating on 5 folds), "
        "found 2 ham and 2 spam. Fix: add labelled rows, or use fewer cross-validation "
        "folds.\n"
    )


def test_crossval_json_into_a_missing_directory(tmp_path: Path, monkeypatch) -> None:
    from inmail_guard.models import train

    monkeypatch.setattr(train, "crossval", lambda *a, **k: pytest.fail("did the work"))
    target = tmp_path / "nodir" / "x.json"
    result = run("crossval", str(TINY), "--json", str(target))
    assert result.exit_code == 2
    assert (f"Error: Invalid value for '--json': {target}: directory {target.parent} does not "
            "exist. Fix: create it first, or write into an existing directory.\n"
            ) in result.stderr
    assert not target.parent.exists()


def test_evaluate_plot_into_a_missing_directory(tiny_copy: Path, tmp_path: Path,
                                                monkeypatch) -> None:
    monkeypatch.setattr(artifact_module, "load_model_uncached",
                        lambda *a, **k: pytest.fail("did the work"))
    target = tmp_path / "nodir" / "x.png"
    result = run("evaluate", str(tiny_copy), str(TINY), "--plot", str(target))
    assert result.exit_code == 2
    assert (f"Error: Invalid value for '--plot': {target}: directory {target.parent} does not "
            "exist. Fix: create it first, or write into an existing directory.\n"
            ) in result.stderr


def test_train_reports_a_failed_save_and_keeps_the_old_model(
    tiny_copy: Path, monkeypatch
) -> None:
    import os

    before = {p.name: p.read_bytes() for p in tiny_copy.parent.iterdir()}

    def no_space(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    out = tiny_copy.parent
    result = run("train", str(TINY), "--out", str(out), "--name", "tiny", "--seed", "7")
    assert result.exit_code == 1
    assert result.stderr.endswith(
        f"Error: {out}: cannot write model tiny: No space left on device. Nothing was "
        "replaced: a previous tiny.joblib and tiny.json there are unchanged. Fix: free disk "
        "space or raise the file size limit, check the directory's permissions, and train "
        "again.\n"
    )
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
