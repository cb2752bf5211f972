"""``inmail-guard replay TRAFFIC --policy NEW [--baseline OLD]``: what would flip.

Exit codes: 0 no decision flipped, 1 some flipped, 2 bad input (unreadable file, invalid
policy, or invalid lines in TRAFFIC; the report is still printed and the flips written).
"""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


def _policy(ref: str):  # -> Policy
    from inmail_guard.policies.loader import PolicyError, default_policy, load_policy

    try:
        return default_policy() if ref == "builtin:default" else load_policy(ref)
    except (PolicyError, OSError, ValueError) as exc:
        text = str(exc)
        raise _BadInput(text if text.startswith(ref) else f"{ref}: {text}") from None


class _BadInput(click.ClickException):
    exit_code = 2


@click.command()
@click.argument("traffic", type=click.Path(allow_dash=True, dir_okay=False))
@click.option("--policy", "new_ref", required=True, metavar="NEW",
              help="The policy to replay the traffic through (a file or builtin:default).")
@click.option("--baseline", "old_ref", metavar="OLD",
              help="Compare with this policy instead of the decisions recorded in TRAFFIC.")
@click.option("--flips", "flips_path", type=click.Path(dir_okay=False, writable=True),
              help="Write every flipped record here (JSON Lines).")
@click.option("--examples", default=3, show_default=True, help="Examples shown per direction.")
@click.option("--chunk-size", default=2000, show_default=True,
              help="Records evaluated per evaluate_many call.")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]),
              default="text", show_default=True)
@click.option("--progress/--no-progress", default=True,
              help="Progress bar on stderr (only shown on a terminal).")
def replay(traffic: str, new_ref: str, old_ref: str | None, flips_path: str | None,
           examples: int, chunk_size: int, fmt: str, progress: bool) -> None:
    """Replay TRAFFIC (JSON Lines of {message, facts, decision?}) through a policy and report
    the decisions that flip: accepted→rejected and rejected→accepted, by reason code and plan.

    Exit 0 when nothing flips, 1 when something does, 2 on bad input.
    """
    from inmail_guard.engine.evaluator import PolicyCompileError
    from inmail_guard.workflow.replay import replay as run_replay
    from inmail_guard.workflow.replay_report import print_replay, replay_json, replay_markdown

    new = _policy(new_ref)
    old = _policy(old_ref) if old_ref else None
    err = Console(stderr=True)
    with ExitStack() as stack:
        try:
            stream = (sys.stdin.buffer if traffic == "-"
                      else stack.enter_context(open(traffic, "rb")))
        except OSError as exc:
            raise _BadInput(f"{traffic}: {exc.strerror or exc}") from None
        flips = (stack.enter_context(open(flips_path, "w", encoding="utf-8"))
                 if flips_path else None)
        total = None
        if traffic != "-":
            total = os.fstat(stream.fileno()).st_size
        bar = Progress(TextColumn("replay"), BarColumn(), DownloadColumn(),
                       TransferSpeedColumn(), TimeRemainingColumn(), console=err,
                       transient=True, disable=not (progress and err.is_terminal))
        stack.enter_context(bar)
        task = bar.add_task("replay", total=total)
        try:
            report = run_replay(stream, new, old, flips=flips, chunk_size=chunk_size,
                                max_examples=examples,
                                on_bytes=lambda n: bar.advance(task, n))
        except PolicyCompileError as exc:
            raise _BadInput(str(exc)) from None
    if fmt == "json":
        click.echo(replay_json(report))
    elif fmt == "markdown":
        click.echo(replay_markdown(report))
    else:
        print_replay(report, Console(soft_wrap=True, highlight=False))
    if report.invalid:
        sys.exit(2)
    if report.flipped:
        sys.exit(1)
