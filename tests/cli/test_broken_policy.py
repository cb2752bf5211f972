"""Every command that evaluates refuses a policy the engine cannot run, as ``policy validate``
does: exit 2, the located issue, no traceback and no file written."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from inmail_guard.cli import main

ROOT = Path(__file__).parents[2]
TRAFFIC = ROOT / "examples" / "traffic.jsonl"
SUITE = ROOT / "src" / "inmail_guard" / "policies" / "tests" / "default.yaml"


def commands(policy: Path, tmp_path: Path) -> dict[str, list[str]]:
    corpus = tmp_path / "tiny.csv"
    corpus.write_text("id,label,text\n1,ham,Hello there\n", encoding="utf-8")
    return {
        "replay": ["replay", str(TRAFFIC), "--policy", str(policy),
                   "--flips", str(tmp_path / "flips.jsonl")],
        "replay --baseline": ["replay", str(TRAFFIC), "--policy", "builtin:default",
                              "--baseline", str(policy), "--flips", str(tmp_path / "flips.jsonl")],
        "policy test --policy": ["policy", "test", str(SUITE), "--policy", str(policy),
                                 "--junit", str(tmp_path / "junit.xml")],
        "policy qa": ["policy", "qa", str(corpus), "--policy", str(policy)],
        "demo": ["demo", "--policy", str(policy), "--db", str(tmp_path / "demo.db")],
        "evaluate": ["evaluate", "--policy", str(policy), str(TRAFFIC)],
    }


COMMANDS = ("replay", "replay --baseline", "policy test --policy", "policy qa", "demo",
            "evaluate")


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("broken", ["missing_model", "wrong_sha"])
def test_a_policy_whose_model_fails_verification_is_bad_input(
        command: str, broken: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    policy, message = request.getfixturevalue(broken)
    args = commands(policy, tmp_path)[command]
    before = sorted(tmp_path.iterdir())
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert result.output == message
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert sorted(tmp_path.iterdir()) == before  # no flips, junit or database file


def test_a_suite_whose_own_policy_fails_verification(missing_model, tmp_path: Path) -> None:
    policy, message = missing_model
    suite = tmp_path / "suite.yaml"
    suite.write_text(f"policy: {policy.name}\ncases:\n  - name: a\n"
                     "    expect: {outcome: accepted}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["policy", "test", str(suite)])
    assert result.exit_code == 2, result.output
    assert result.output == (f"Error: {suite}: policy {policy.name!r}:"
                             f" {message.removeprefix('Error: ')}")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (None, "1:1: cannot read the policy file: No such file or directory"),
        ("name: x\nplans: [\n", "3:1: invalid YAML: expected the node content, but found"
                                " '<stream end>' (while parsing a flow node at line 3, column 1)"),
    ],
)
def test_demo_refuses_an_unreadable_policy(tmp_path: Path, text: str | None,
                                           problem: str) -> None:
    policy = tmp_path / "p.yaml"
    if text is not None:
        policy.write_text(text, encoding="utf-8")
    db = tmp_path / "demo.db"
    result = CliRunner().invoke(main, ["demo", "--policy", str(policy), "--db", str(db)])
    assert result.exit_code == 2, result.output
    assert result.output == f"Error: {policy}:{problem}\n"
    assert not db.exists()


def test_evaluate_invalid_policy_is_exit_2_as_documented(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nplans: {basic: {monthly_credits: 0}}\nspam: {reject_at: wrong}\n")
    result = CliRunner().invoke(main, ["evaluate", "--policy", str(bad), str(TRAFFIC)])
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"Error: {bad}:3:")
    assert result.output.count(str(bad)) == 1
    help_text = CliRunner().invoke(main, ["evaluate", "--help"]).output
    assert "2 on usage errors or an invalid policy" in " ".join(help_text.split())


def test_demo_refuses_a_policy_without_its_members_plans(tmp_path: Path) -> None:
    policy = tmp_path / "own.yaml"
    policy.write_text("name: own\nplans:\n  gold: {monthly_credits: 5}\n", encoding="utf-8")
    db = tmp_path / "demo.db"
    result = CliRunner().invoke(main, ["demo", "--policy", str(policy), "--db", str(db)])
    assert result.exit_code == 2, result.output
    assert result.output == (
        f"Error: {policy}: the demo's members are on plans this policy does not declare:"
        " basic, job_seeker, premium_business, recruiter_corporate, recruiter_lite,"
        " sales_navigator_team, sales_navigator_team_advanced. Fix: declare them under"
        " plans:, or add `extends: builtin:default` to the policy.\n")
    assert not db.exists()


def test_demo_says_which_rejection_stopped_the_tour_without_a_traceback(tmp_path: Path) -> None:
    policy = tmp_path / "strict.yaml"
    policy.write_text("name: strict\nextends: builtin:default\n"
                      "plans:\n  premium_business: {monthly_credits: 0}\n", encoding="utf-8")
    db = tmp_path / "demo.db"
    result = CliRunner().invoke(main, ["demo", "--policy", str(policy), "--db", str(db)])
    assert result.exit_code == 2, result.output
    assert " ".join(result.output.split()) == (
        f"Error: {policy}: this policy rejected a send the demo's tour builds on"
        " (plan_has_no_credits); the tour follows the shipped rules. Fix: run the demo with"
        " builtin:default or a policy that extends it and keeps its plans' credits and rules"
        f" (database left at {db}).")


def test_demo_names_the_policys_own_credits(tmp_path: Path) -> None:
    policy = tmp_path / "acme.yaml"
    policy.write_text("name: acme\nextends: builtin:default\n"
                      "plans:\n  premium_business: {monthly_credits: 15}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["demo", "--policy", str(policy),
                                       "--db", str(tmp_path / "demo.db")])
    assert result.exit_code == 0, result.output
    assert "send (premium business, 15 credits)" in result.output
    assert "sent; 14 of 15 credits left" in result.output
