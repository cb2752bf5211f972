from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from inmail_guard.cli.model import model
from inmail_guard.models.scorer import ACCELERATOR_AVAILABLE
from model_pins import pin

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "models" / "tiny.csv"


def run(*args: str):
    return CliRunner().invoke(model, list(args), catch_exceptions=False)


def test_info_builtin() -> None:
    result = run("info", "builtin:spam-v1")
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.output)
    assert manifest["name"] == "spam-v1"
    assert manifest["sha256_verified"] is True
    assert manifest["accelerated"] is ACCELERATOR_AVAILABLE


def test_info_reports_tampering(tiny_copy: Path) -> None:
    tiny_copy.write_bytes(tiny_copy.read_bytes() + b"\0")
    result = run("info", str(tiny_copy))
    assert result.exit_code == 1
    assert f"Error: {tiny_copy}: sha256 mismatch: manifest expects" in result.output


def test_evaluate_prints_metrics_and_plots(tiny_copy: Path, tmp_path: Path) -> None:
    plot = tmp_path / "curves.png"
    result = run("evaluate", str(tiny_copy), str(TINY), "--plot", str(plot),
                 "--sha256", pin(tiny_copy))
    assert result.exit_code == 0, result.output
    assert "| tiny.csv | 60 | 30 | 30 |" in result.output
    assert "ham FPR" in result.output and "MCC" in result.output and "ROC-AUC" in result.output
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluate_warns_about_training_data(tiny_copy: Path) -> None:
    result = run("evaluate", str(tiny_copy), str(TINY), "--sha256", pin(tiny_copy))
    assert result.exit_code == 0
    assert result.stderr.startswith(f"warning: {TINY} is part of tiny's training data;")


def test_evaluate_json(tiny_copy: Path) -> None:
    result = run("evaluate", str(tiny_copy), str(TINY), "--json", "--sha256", pin(tiny_copy))
    metrics = json.loads(result.stdout)["metrics"]["tiny.csv"]
    assert set(metrics) >= {"precision", "recall", "f1", "ham_fpr", "mcc", "roc_auc", "confusion"}
    assert metrics["confusion"]["tn"] + metrics["confusion"]["fp"] == 30


def test_evaluate_refuses_unverified_model(tiny_copy: Path) -> None:
    result = run("evaluate", str(tiny_copy), str(TINY), "--sha256", "0" * 64)
    assert result.exit_code == 1
    assert "sha256 mismatch: the caller pins sha256:" + "0" * 64 in result.output


def test_train_rejects_malformed_csv(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("id,label,text\n1,maybe,hello\n", encoding="utf-8")
    result = run("train", str(bad), "--out", str(tmp_path / "out"))
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {bad}:2: column 'label' (row '1'): expected 'ham' or 'spam', found 'maybe'. "
        "Fix: label the row ham or spam.\n"
    )
    assert not (tmp_path / "out").exists()


def test_train_without_the_email_route(tmp_path: Path) -> None:
    from inmail_guard.models import load_model

    mail = TINY.with_name("tiny_email.csv")
    result = run("train", str(TINY), str(mail), "--out", str(tmp_path), "--name", "words",
                 "--per-channel", "--no-email-route", "--email-target-fpr", "0.05")
    assert result.exit_code == 0, result.output
    assert "routes: none)" in result.output
    manifest = json.loads((tmp_path / "words.json").read_text())
    assert manifest["routes"] == []
    assert manifest["email_target_fpr"] == 0.05
    assert manifest["params"]["email_route"] is False
    assert "--no-email-route" in manifest["command"]
    assert set(manifest["thresholds"]) == {"e:", "s:"}  # still one threshold per channel
    words = tmp_path / "words.joblib"
    assert load_model(str(words), pin(words)).routes == {}


def test_train_rejects_an_email_target_fpr_out_of_range(tmp_path: Path) -> None:
    result = CliRunner().invoke(model, ["train", str(TINY), "--out", str(tmp_path / "out"),
                                        "--email-target-fpr", "0"])
    assert result.exit_code == 2
    assert "Invalid value for '--email-target-fpr': 0.0 is not in the range 0<x<=1." in (
        result.output)
    assert not (tmp_path / "out").exists()
