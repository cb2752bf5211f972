"""``model evaluate --plot``: refused before any scoring when matplotlib is missing; the curves
mark the operating point and give their area."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from inmail_guard.cli.model import model, operating_point

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "models" / "tiny.csv"


def test_plot_without_matplotlib_is_refused_before_scoring(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed

    def never(*args, **kwargs):
        raise AssertionError("scored although the plot could not be drawn")

    monkeypatch.setattr("inmail_guard.cli.model.load_model", never)
    result = CliRunner().invoke(model, ["evaluate", "builtin:spam-v1", str(TINY),
                                        "--plot", str(tmp_path / "c.png")])
    assert result.exit_code == 2
    assert result.output.endswith(
        "Error: --plot needs matplotlib, which is not installed: pip install"
        " 'inmail-guard[plot]' (or pip install matplotlib), or leave out --plot.\n")


def test_the_plot_gives_each_curves_auc(tmp_path: Path) -> None:
    plot = tmp_path / "c.png"
    result = CliRunner().invoke(model, ["evaluate", "builtin:spam-v1", str(TINY), "--json",
                                        "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    import json

    auc = json.loads(result.stdout)["metrics"]["tiny.csv"]["roc_auc"]
    assert f"wrote {plot} (ROC-AUC: tiny.csv {auc:.4f})\n" in result.stderr
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_operating_point_is_what_the_threshold_flags() -> None:
    labels = np.array([1, 1, 1, 0, 0, 0, 0])
    scores = np.array([0.95, 0.8, 0.3, 0.9, 0.2, 0.1, 0.05])
    # at 0.5: 2 of 3 spam caught, 2 of 3 flagged are spam, 1 of 4 ham flagged
    assert operating_point(labels, scores, 0.5) == (2 / 3, 2 / 3, 1 / 4)
    assert operating_point(labels, scores, np.full(7, 0.99)) == (0.0, 0.0, 0.0)
