"""``inmail-guard --help`` lists the verbs without importing them: before, listing their help
imported every verb's module, scikit-learn and FastAPI included (~3 s of CPU, 176 MB)."""

from __future__ import annotations

import subprocess
import sys

import click
import pytest

from inmail_guard.cli import COMMANDS, SUMMARIES, main

LIST_MODULES = """
import sys
from inmail_guard.cli import main
try:
    main(["--help"])
except SystemExit:
    pass
print(" ".join(sorted({m.split(".")[0] for m in sys.modules} - set(sys.stdlib_module_names))),
      file=sys.stderr)
"""


def test_help_imports_nothing_but_click() -> None:
    done = subprocess.run([sys.executable, "-c", LIST_MODULES], capture_output=True,
                          text=True, check=True)
    third_party = set(done.stderr.split()) - {"__main__", "_distutils_hack", "inmail_guard"}
    assert third_party == {"click"}
    for verb in COMMANDS:
        assert f"  {verb} " in done.stdout


def test_the_package_exports_on_first_use() -> None:
    done = subprocess.run([sys.executable, "-c", "import sys, inmail_guard as ig;"
                           " assert 'inmail_guard.engine' not in sys.modules;"
                           " from inmail_guard import Message; print(ig.Engine.__name__)"],
                          capture_output=True, text=True, check=True)
    assert done.stdout == "Engine\n"


@pytest.mark.parametrize("verb", sorted(COMMANDS))
def test_the_listed_summary_is_the_verbs_own(verb: str) -> None:
    command = main.get_command(None, verb)  # type: ignore[arg-type]
    assert SUMMARIES[verb] == command.get_short_help_str(limit=300)


def test_every_verb_has_a_summary() -> None:
    assert set(SUMMARIES) == set(COMMANDS)


def _leaf_commands() -> list[tuple[str, click.Command]]:
    ctx = click.Context(main)
    found: list[tuple[str, click.Command]] = []

    def walk(command: click.Command, path: str) -> None:
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name), f"{path} {name}".strip())
        else:
            found.append((path, command))

    walk(main, "")
    return found


@pytest.mark.parametrize(("path", "command"), _leaf_commands(), ids=lambda v: str(v))
def test_every_option_says_what_it_does(path: str, command: click.Command) -> None:
    silent = [p.opts[0] for p in command.params
              if isinstance(p, click.Option) and not p.help and "--help" not in p.opts]
    assert silent == [], f"inmail-guard {path}: options without help text: {silent}"
