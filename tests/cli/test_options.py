"""Option values refused while parsing, before any work: output files in a directory that does
not exist, and numbers out of range. Exit 2, the option named, nothing written."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from inmail_guard.cli import main

ROOT = Path(__file__).parents[2]
TRAFFIC = ROOT / "examples" / "traffic.jsonl"
SUITE = ROOT / "src" / "inmail_guard" / "policies" / "tests" / "default.yaml"


def outputs(target: str) -> dict[str, tuple[list[str], str]]:
    """command -> (arguments writing to ``target``, the option's name)."""
    return {
        "policy schema": (["policy", "schema", "--out", target], "--out"),
        "policy test": (["policy", "test", str(SUITE), "-q", "--junit", target], "--junit"),
        "replay": (["replay", str(TRAFFIC), "--policy", "builtin:default", "--flips", target],
                   "--flips"),
        "demo": (["demo", "--db", target], "--db"),
    }


@pytest.mark.parametrize(("command", "parent"), [
    *((command, "missing") for command in ("policy schema", "policy test", "replay", "demo")),
    ("policy schema", "a file"), ("replay", "a file"),
])
def test_output_in_a_directory_that_is_not_one(command: str, parent: str, tmp_path: Path):
    directory = tmp_path / ("nodir" if parent == "missing" else "file")
    if parent == "a file":
        directory.write_text("keep")
    target = str(directory / "out.file")
    args, option = outputs(target)[command]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    problem = "does not exist" if parent == "missing" else "is not a directory"
    assert result.output.endswith(
        f"Error: Invalid value for '{option}': {target!r}: the directory"
        f" {str(directory)!r} {problem}; create it first or choose another path.\n")
    if parent == "missing":
        assert list(tmp_path.iterdir()) == []
    else:
        assert directory.read_text() == "keep" and list(tmp_path.iterdir()) == [directory]


@pytest.mark.parametrize("command", ["policy schema", "policy test", "replay"])
def test_output_in_an_existing_directory_is_written(command: str, tmp_path: Path) -> None:
    target = tmp_path / "out.file"
    args, _ = outputs(str(target))[command]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert target.is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["out.file"]  # no temporary file left


def test_replay_flips_file_gets_the_usual_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        flips = tmp_path / "flips.jsonl"
        result = CliRunner().invoke(main, ["replay", str(TRAFFIC), "--policy", "builtin:default",
                                           "--flips", str(flips)])
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    assert flips.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize(
    ("option", "value", "problem"),
    [
        ("--chunk-size", "0", "0 is not in the range x>=1."),
        ("--chunk-size", "-1", "-1 is not in the range x>=1."),
        ("--examples", "-1", "-1 is not in the range x>=0."),
    ],
)
def test_replay_refuses_nonsense_numbers(option: str, value: str, problem: str,
                                         tmp_path: Path) -> None:
    flips = tmp_path / "flips.jsonl"
    result = CliRunner().invoke(main, ["replay", str(TRAFFIC), "--policy", "builtin:default",
                                       "--flips", str(flips), option, value])
    assert result.exit_code == 2, result.output
    assert result.output.endswith(f"Error: Invalid value for '{option}': {problem}\n")
    assert not flips.exists()

