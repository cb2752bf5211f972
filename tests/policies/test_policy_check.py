"""check_policy: load + compile against the installed plugins."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from inmail_guard.policies.check import check_policy


def test_valid_policy_compiles(in_fixtures: Path) -> None:
    policy, issues = check_policy("valid/overlay.yaml")
    assert issues == []
    assert policy is not None and policy.name == "overlay"


def test_builtin_default_checks() -> None:
    policy, issues = check_policy("builtin:default")
    assert issues == [] and policy is not None


def test_detector_problems_are_reported_together(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("name: p\nplans: {basic: {monthly_credits: 0}}\nspam:\n  detectors:\n"
                    "    test_string: {on_error: explode}\n    nosuch: {}\n")
    policy, issues = check_policy(path)
    assert policy is None
    assert [(i.line, i.column, i.path) for i in issues] == [
        (5, 29, "spam.detectors.test_string.on_error"),
        (6, 5, "spam.detectors.nosuch"),
    ]
    assert issues[0].message == (
        "expected one of fail_open or fail_closed, found 'explode'")


def test_structural_detector_and_rules_mode_problems_are_reported_in_one_run(
        tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("name: p\nplans: {basic: {monthly_credits: ten}}\nspam:\n  detectors:\n"
                    "    nosuch: {}\n    volume: {per_hour: -1}\n"
                    "rules_mode:\n  eligibility.honor_opt_ot: shadow\n")
    policy, issues = check_policy(path)
    assert policy is None
    assert [(i.line, i.path) for i in issues] == [
        (2, "plans.basic.monthly_credits"),
        (5, "spam.detectors.nosuch"),
        (6, "spam.detectors.volume.per_hour"),
        (8, "rules_mode.eligibility.honor_opt_ot"),
    ]
    assert issues[3].message.startswith(
        "expected a rule or enabled detector name, found 'eligibility.honor_opt_ot'"
        " (did you mean 'eligibility.honor_opt_out'?)")


def test_a_rules_mode_name_and_a_detector_setting_are_reported_together(
        tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("name: p\nplans: {basic: {monthly_credits: 0}}\nspam:\n  detectors:\n"
                    "    test_string: {on_error: explode}\nrules_mode: {nosuch: shadow}\n")
    _, issues = check_policy(path)
    assert [i.path for i in issues] == ["spam.detectors.test_string.on_error",
                                        "rules_mode.nosuch"]


def test_policies_do_not_import_the_engine_at_module_level() -> None:
    # the engine imports policies; policies import the engine only inside functions
    import inmail_guard.policies as package

    for path in Path(package.__path__[0]).glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(
                    ("inmail_guard.engine.evaluator", "inmail_guard.plugins")), path.name


@pytest.mark.parametrize("fixture", ["valid/minimal.yaml", "extends/child.yaml",
                                     "extends/sub/grandchild.yaml"])
def test_fixture_policies_are_valid(in_fixtures: Path, fixture: str) -> None:
    assert check_policy(fixture)[1] == []
