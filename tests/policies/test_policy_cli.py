"""`inmail-guard policy validate|schema`, through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from inmail_guard.cli import main
from inmail_guard.policies.loader import default_policy, load_policy, policy_schema_text

pytestmark = pytest.mark.usefixtures("in_fixtures")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["policy", *args])
    return result.exit_code, result.output


def test_validate_ok() -> None:
    code, out = run("validate", "valid/minimal.yaml", "builtin:default")
    version = load_policy("valid/minimal.yaml").version
    assert code == 0
    assert out == (
        f"ok valid/minimal.yaml (name minimal, version {version})\n"
        f"ok builtin:default (name inmail-default, version {default_policy().version})\n")


def test_validate_invalid_lists_every_issue_and_exits_1() -> None:
    code, out = run("validate", "valid/minimal.yaml", "invalid/three_mistakes.yaml")
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("ok valid/minimal.yaml (name minimal, version sha256:")
    assert lines[1].startswith("invalid/three_mistakes.yaml:4:28: plans.basic.monthly_credits:")
    assert lines[2].startswith("invalid/three_mistakes.yaml:7:19: lifecycle.retract_within:")
    assert lines[3].startswith("invalid/three_mistakes.yaml:11:3: spam.restriktion:")
    assert lines[4:] == ["invalid invalid/three_mistakes.yaml (3 issues)"]


def test_validate_checks_detector_settings() -> None:
    code, out = run("validate", "invalid/unknown_detector.yaml")
    assert code == 1
    assert "spam.detectors.shouting: unknown detector 'shouting'; installed detectors:" in out


def test_validate_json() -> None:
    code, out = run("validate", "--format", "json", "valid/minimal.yaml",
                    "invalid/wrong_type.yaml")
    assert code == 1
    doc = json.loads(out)
    assert doc["valid"] is False
    ok, bad = doc["files"]
    assert ok == {"file": "valid/minimal.yaml", "valid": True, "name": "minimal",
                  "version": load_policy("valid/minimal.yaml").version, "issues": []}
    assert bad["valid"] is False and bad["name"] is None
    assert bad["issues"] == [{
        "file": "invalid/wrong_type.yaml", "line": 3, "column": 28,
        "path": "plans.basic.monthly_credits", "expected": "an integer",
        "found": "'ten' (string)",
        "message": "expected an integer, found 'ten' (string)"}]


@pytest.mark.parametrize("args", [
    ["validate"],  # no FILE
    ["validate", "no/such/file.yaml"],
    ["validate", "valid"],  # a directory
    ["validate", "--format", "xml", "valid/minimal.yaml"],
])
def test_usage_errors_exit_2(args: list[str]) -> None:
    code, _ = run(*args)
    assert code == 2


def test_schema_to_stdout_and_file(tmp_path: Path) -> None:
    code, out = run("schema")
    assert code == 0
    assert out == policy_schema_text()
    assert json.loads(out)["title"] == "inmail-guard policy"
    target = tmp_path / "policy.schema.json"
    code, _ = run("schema", "--out", str(target))
    assert code == 0
    assert target.read_text(encoding="utf-8") == policy_schema_text()


def test_policy_group_lists_its_verbs() -> None:
    code, out = run("--help")
    assert code == 0
    assert "validate" in out and "schema" in out
