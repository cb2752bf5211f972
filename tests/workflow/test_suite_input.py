"""Suite files that cannot be run: each refused with its file, line and case, exit 2 from the
command, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from inmail_guard.workflow.suite import MAX_EXPANDED, SuiteError, expand_text, load_suite


def case(body: str) -> str:
    return (f"cases:\n  - name: x\n    message: {{body: {body}}}\n"
            "    expect: {outcome: accepted}\n")


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("{repeat: a, times: -1}", "message.body.times: expected a whole number >= 0, found -1"),
        ("{repeat: ab, times: 600000}",
         f"message.body: 2 characters repeated 600000 times is over {MAX_EXPANDED:,}"
         " characters; use fewer times"),
        ("{repeat: a, times: true}",
         "message.body: expected a string or {repeat: TEXT, times: N, before?, after?},"
         " found {'repeat': 'a', 'times': True}"),
    ],
)
def test_repeat_refuses_nonsense_times(tmp_path: Path, body: str, problem: str) -> None:
    path = tmp_path / "suite.yaml"
    path.write_text(case(body), encoding="utf-8")
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert str(info.value) == f"{path}:2: case 'x': {problem}"


def test_repeat_zero_and_positive_times() -> None:
    assert expand_text({"repeat": "ab", "times": 0, "before": "<", "after": ">"}, "b") == "<>"
    assert expand_text({"repeat": "ab", "times": 3}, "b") == "ababab"
    assert len(expand_text({"repeat": "a", "times": MAX_EXPANDED}, "b")) == MAX_EXPANDED


def test_cli_negative_times_is_exit_2(tmp_path: Path, runner, policy_cli) -> None:
    path = tmp_path / "suite.yaml"
    path.write_text(case("{repeat: a, times: -1}"), encoding="utf-8")
    result = runner.invoke(policy_cli, ["test", str(path)])
    assert result.exit_code == 2, result.output
    assert result.output == (f"Error: {path}:2: case 'x': message.body.times: expected a whole"
                             " number >= 0, found -1\n")


@pytest.mark.parametrize(
    ("content", "where"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", ":1: not valid UTF-8 (byte 0)"),
        ("cases:\n  - name: caf\u00e9\n".encode("latin-1"), ":2: not valid UTF-8 (byte 20)"),
        ("cases: []\n".encode("utf-16"), ":1: not valid UTF-8 (byte 0)"),
    ],
)
def test_binary_suite_names_the_file(tmp_path: Path, runner, policy_cli, content: bytes,
                                     where: str) -> None:
    path = tmp_path / "binary.yaml"
    path.write_bytes(content)
    result = runner.invoke(policy_cli, ["test", str(path)])
    assert result.exit_code == 2, result.output
    assert result.output == (f"Error: {path}{where}; a suite is a YAML text file: save it as"
                             " UTF-8\n")


@pytest.mark.parametrize(
    ("part", "problem"),
    [
        ("message: {subjct: Hello}", "message.subjct: unknown field; remove it"),
        ("facts: {credits_usd: 3}", "facts.credits_usd: unknown field; remove it"),
        ("facts: {sender: {plna: basic}}", "facts.sender.plna: unknown field; remove it"),
    ],
)
def test_a_misspelt_field_is_named_as_unknown_with_the_fix(
        tmp_path: Path, runner, policy_cli, part: str, problem: str) -> None:
    path = tmp_path / "suite.yaml"
    path.write_text(f"cases:\n  - name: x\n    {part}\n    expect: {{outcome: accepted}}\n",
                    encoding="utf-8")
    result = runner.invoke(policy_cli, ["test", str(path)])
    assert result.exit_code == 2, result.output
    assert result.output == f"Error: {path}:2: case 'x': {problem}\n"


def test_a_policy_file_given_as_a_suite_is_named_as_such(tmp_path: Path, runner,
                                                          policy_cli) -> None:
    (tmp_path / "acme.yaml").write_text(
        "name: acme\nextends: builtin:default\nplans:\n  premium_business: {monthly_credits: 15}\n",
        encoding="utf-8")
    result = runner.invoke(policy_cli, ["test", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert result.output == (
        f"Error: {tmp_path / 'acme.yaml'}: this is a policy file, not a test suite (it has"
        " plans:, no cases:). Fix: give policy test the suite files or a directory holding only"
        " suites; a suite names its policy with policy: (or use --policy)\n")
