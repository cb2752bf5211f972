"""The workflow commands through the real ``inmail-guard`` entry point."""

from __future__ import annotations

from pathlib import Path

from inmail_guard.cli import main

ROOT = Path(__file__).parents[2]
SUITE = ROOT / "src" / "inmail_guard" / "policies" / "tests" / "default.yaml"


def test_policy_verbs_are_registered(runner) -> None:
    result = runner.invoke(main, ["policy", "--help"])
    assert result.exit_code == 0
    for verb in ("test", "explain", "diff", "qa"):
        assert f"  {verb} " in result.output


def test_policy_test_through_main(runner) -> None:
    result = runner.invoke(main, ["policy", "test", str(SUITE), "-q"])
    assert result.exit_code == 0, result.output
    assert "0 failed" in result.output


def test_explain_and_diff_through_main(runner) -> None:
    md = runner.invoke(main, ["policy", "explain", "builtin:default", "--format", "markdown"])
    assert md.exit_code == 0
    assert "## Plans and credits" in md.output
    same = runner.invoke(main, ["policy", "diff", "builtin:default", "builtin:default"])
    assert same.exit_code == 0


def test_invalid_policy_is_exit_2_naming_the_file(tmp_path: Path, runner) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nplans: {basic: {monthly_credits: 0}}\nspam: {reject_at: wrong}\n")
    for args in (["policy", "explain", str(bad)], ["policy", "diff", "builtin:default", str(bad)],
                 ["policy", "test", str(SUITE), "--policy", str(bad)],
                 ["replay", str(ROOT / "examples" / "traffic.jsonl"), "--policy", str(bad)]):
        result = runner.invoke(main, args)
        assert result.exit_code == 2, (args, result.output)
        assert f"{bad}:3" in result.output
        assert result.output.count(str(bad)) == 1


def test_replay_through_main(runner) -> None:
    result = runner.invoke(main, ["replay", str(ROOT / "examples" / "traffic.jsonl"),
                                  "--policy", "builtin:default"])
    assert result.exit_code == 0, result.output
    assert "flipped: 0" in result.output


def test_explain_and_diff_check_detector_settings_without_loading_models(
        tmp_path: Path, runner) -> None:
    """A setting the detector's Config refuses is an error, as in ``policy validate``; a
    model that is missing is not their business (they build no engine)."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nextends: builtin:default\n"
                   "spam:\n  detectors:\n    classifier: {sha256: 'sha256:abc'}\n")
    for args in (["policy", "explain", str(bad)],
                 ["policy", "diff", "builtin:default", str(bad)]):
        result = runner.invoke(main, args)
        assert result.exit_code == 2, (args, result.output)
        assert f"{bad}:5:" in result.output and "sha256" in result.output, result.output
    missing = tmp_path / "missing-model.yaml"
    missing.write_text("name: x\nextends: builtin:default\n"
                       "spam:\n  detectors:\n    classifier: {model: nowhere/model.joblib}\n")
    assert runner.invoke(main, ["policy", "explain", str(missing)]).exit_code == 0
    assert runner.invoke(main, ["policy", "validate", str(missing)]).exit_code != 0
