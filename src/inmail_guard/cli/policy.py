"""``inmail-guard policy ...``: work with policy files.

``validate`` and ``schema`` live here. Other verbs live in their own modules and are added
without editing this file: the group imports every ``inmail_guard.cli.policy_*`` module the
first time it needs a verb it doesn't have (or lists them for ``--help``). Such a module either
defines ``register(group)``, which calls ``group.add_command(...)`` (as ``policy_tools`` does for
``test``, ``explain``, ``diff`` and ``qa``), or is named ``policy_<verb>`` and defines a click
command named ``<verb>``. ``inmail-guard policy validate`` imports none of them.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from pathlib import Path
from typing import Any

import click

from inmail_guard.cli import OutputPath
from inmail_guard.policies.check import check_policy
from inmail_guard.policies.errors import suggest
from inmail_guard.policies.loader import BUILTIN_DEFAULT, policy_schema_text

_PREFIX = "policy_"


class PolicyGroup(click.Group):
    """A click group that pulls in the ``inmail_guard.cli.policy_*`` modules when needed."""

    _extended = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_extensions()
        return sorted(self.commands)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            self._load_extensions()
        return self.commands.get(cmd_name)

    def _load_extensions(self) -> None:
        if self._extended:
            return
        self._extended = True
        import inmail_guard.cli as package

        for found in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
            if not found.name.startswith(_PREFIX):
                continue
            module = importlib.import_module(f"{package.__name__}.{found.name}")
            register = getattr(module, "register", None)
            if callable(register):
                register(self)
                continue
            verb = found.name[len(_PREFIX):]
            command = getattr(module, verb, None)
            if isinstance(command, click.Command):
                self.add_command(command, verb.replace("_", "-"))


class PolicyFile(click.ParamType):
    """A policy file that exists, or ``builtin:default``."""

    name = "FILE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        if text != BUILTIN_DEFAULT and not Path(text).is_file():
            if text.startswith("builtin:") and not Path(text).exists():
                self.fail(f"no built-in policy {text!r}{suggest(text, [BUILTIN_DEFAULT])};"
                          f" expected a policy file or {BUILTIN_DEFAULT}.", param, ctx)
            problem = "is a directory" if Path(text).is_dir() else "does not exist"
            self.fail(f"{text!r} {problem}.", param, ctx)
        return text


@click.group(cls=PolicyGroup)
def policy() -> None:
    """Validate, test and inspect policy files."""


@policy.command()
@click.argument("files", nargs=-1, required=True, type=PolicyFile())
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="json: one document listing every file and issue.")
@click.pass_context
def validate(ctx: click.Context, files: tuple[str, ...], fmt: str) -> None:
    """Check policy FILEs (YAML, extends, blocklist files, detector settings).

    Prints `ok FILE (name NAME, version sha256:...)` or every issue as
    FILE:LINE:COL: PATH: MESSAGE. Exit status 0 if all are valid, 1 if any is not, 2 for
    usage errors (no FILE, a FILE that does not exist).
    """
    results = []
    for file in files:
        found, issues = check_policy(file)
        results.append({
            "file": file,
            "valid": found is not None,
            "name": found.name if found else None,
            "version": found.version if found else None,
            "issues": [i.to_dict() for i in issues],
        })
        if fmt == "text":
            if found is not None:
                click.echo(f"ok {file} (name {found.name}, version {found.version})")
            else:
                for item in issues:
                    click.echo(str(item))
                plural = "" if len(issues) == 1 else "s"
                click.echo(f"invalid {file} ({len(issues)} issue{plural})")
    valid = all(r["valid"] for r in results)
    if fmt == "json":
        click.echo(json.dumps({"valid": valid, "files": results}, indent=2))
    ctx.exit(0 if valid else 1)


@policy.command()
@click.option("--out", type=OutputPath(),
              help="Write the schema to this file instead of standard output (its directory"
                   " must exist).")
def schema(out: str | None) -> None:
    """Print the JSON Schema of a policy file (for editor completion and checks).

    Point your editor at it with a first line such as
    `# yaml-language-server: $schema=policy.schema.json`.
    """
    text = policy_schema_text()
    if out is None:
        click.echo(text, nl=False)
    else:
        Path(out).write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}", err=True)
