"""The ``inmail-guard`` command. Each verb lives in its own module, imported only when used."""

from __future__ import annotations

import importlib
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from inmail_guard.policies.schema import Policy

# verb -> "module:attribute" of its click command or group
COMMANDS: dict[str, str] = {
    "evaluate": "inmail_guard.cli.evaluate:evaluate",
    "policy": "inmail_guard.cli.policy:policy",
    "model": "inmail_guard.cli.model:model",
    "demo": "inmail_guard.cli.demo:demo",
    "serve": "inmail_guard.cli.serve:serve",
    "replay": "inmail_guard.cli.replay:replay",
    "plugins": "inmail_guard.cli.plugins:plugins",
}

#: verb -> its one-line help, as the command itself says it (a test keeps them equal):
#: ``inmail-guard --help`` lists the verbs without importing them (scikit-learn, FastAPI).
SUMMARIES: dict[str, str] = {
    "evaluate": "Evaluate JSON or JSON Lines of {message, facts} (FILE or - for stdin).",
    "policy": "Validate, test and inspect policy files.",
    "model": "Train, evaluate and inspect the spam text classifier.",
    "demo": "Walk through every InMail rule on a fresh database and print each decision.",
    "serve": "Serve the HTTP API (docs/http.md; every flag and variable: docs/deploy.md).",
    "replay": "What a policy change would flip in recorded traffic.",
    "plugins": "List the installed plugins: versions, hooks and detectors (JSON).",
}


def docs_dir() -> Path:
    """Where the documentation is: ``inmail_guard/docs/`` in an installed wheel (setup.py
    copies docs/*.md there), else the source tree's ``docs/`` (an editable install)."""
    package = Path(__file__).resolve().parent.parent
    shipped = package / "docs"
    return shipped if shipped.is_dir() else package.parent.parent / "docs"


class BadInput(click.ClickException):
    """An unreadable or invalid input file (a policy, a suite, a CSV): exit code 2, apart from
    1 = "found a problem"."""

    exit_code = 2


def load_policy_or_exit(ref: str, *, runnable: bool = True) -> Policy:
    """The policy ``ref`` (a file or ``builtin:default``), or :class:`BadInput` naming every
    issue at file:line:col, as ``policy validate`` prints them.

    Detector names and settings are always checked, as ``policy validate`` checks them (a
    malformed ``sha256:`` pin, an unknown detector). With ``runnable`` (commands that
    evaluate), the engine is also built once, so a policy it cannot run (a classifier model
    that is missing or fails its sha256 check) is refused here, before any output is written.
    """
    from inmail_guard.workflow.engines import checked_policy

    try:
        return checked_policy(ref, build_engine=runnable)
    except (OSError, ValueError) as exc:  # PolicyError is a ValueError
        text = str(exc)
        raise BadInput(text if text.startswith(ref) else f"{ref}: {text}") from None


class OutputPath(click.Path):
    """A file to write: refused while parsing the options (so before any work is done) when
    its directory does not exist or it is a directory. The directory is never created."""

    def __init__(self) -> None:
        super().__init__(dir_okay=False, writable=True, path_type=str)

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        path = Path(str(value))
        parent = path.parent
        if not parent.is_dir():
            problem = "is not a directory" if parent.exists() else "does not exist"
            self.fail(f"{str(value)!r}: the directory {str(parent)!r} {problem};"
                      " create it first or choose another path.", param, ctx)
        return super().convert(value, param, ctx)


class LazyGroup(click.Group):
    """Imports a verb's module when it is run, so ``inmail-guard evaluate`` never pays for
    FastAPI or scikit-learn."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(verb, SUMMARIES[verb]) for verb in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            return None
        return getattr(module, attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]},
             epilog=f"\b\nDocumentation (docs/*.md):\n{docs_dir()}")
@click.version_option(package_name="inmail-guard")
@click.option("-v", "--verbose", count=True, help="More logging on stderr (-vv for debug).")
def main(verbose: int) -> None:
    """inmail-guard: decide whether each InMail may be sent, and run the InMail system."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
