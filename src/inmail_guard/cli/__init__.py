"""The ``inmail-guard`` command. Each verb lives in its own module, imported only when used."""

from __future__ import annotations

import importlib
import logging
import sys

import click

# verb -> "module:attribute" of its click command or group
COMMANDS: dict[str, str] = {
    "evaluate": "inmail_guard.cli.evaluate:evaluate",
    "policy": "inmail_guard.cli.policy:policy",
    "model": "inmail_guard.cli.model:model",
    "demo": "inmail_guard.cli.demo:demo",
    "serve": "inmail_guard.cli.serve:serve",
    "replay": "inmail_guard.cli.replay:replay",
}


class LazyGroup(click.Group):
    """Imports a verb's module when it is run, so ``inmail-guard evaluate`` never pays for
    FastAPI or scikit-learn."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

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


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="inmail-guard")
@click.option("-v", "--verbose", count=True, help="More logging on stderr (-vv for debug).")
def main(verbose: int) -> None:
    """inmail-guard: decide whether each InMail may be sent, and run the InMail system."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
