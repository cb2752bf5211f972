"""``inmail-guard replay TRAFFIC --policy NEW [--baseline OLD]``: what would flip.

Exit codes: 0 no decision flipped, 1 some flipped, 2 bad input (unreadable file, invalid
policy, or invalid lines in TRAFFIC; the report is still printed and the flips written).
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import IO

import click
from rich.console import Console

from inmail_guard.cli import BadInput, OutputPath, load_policy_or_exit
from inmail_guard.cli.progress import progress_bar


@contextmanager
def _atomic_output(path: str) -> Iterator[IO[str]]:
    """A file written next to ``path`` and renamed over it only when the block succeeds, so
    a failed replay leaves no half-written file behind (and an old one untouched)."""
    directory = os.path.dirname(path) or "."
    fd, temp = tempfile.mkstemp(prefix=".flips-", suffix=".tmp", dir=directory)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(fd, 0o666 & ~umask)  # as open() would have made it, not mkstemp's 0600
    try:
        with open(fd, "w", encoding="utf-8") as handle:
            yield handle
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise


class _CountingLines:
    """The traffic's lines, counting them and their bytes as replay reads them."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.count = 0
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        for line in self._stream:
            self.count += 1
            self.size += len(line)
            yield line


@click.command(short_help="What a policy change would flip in recorded traffic.")
@click.argument("traffic", type=click.Path(allow_dash=True, dir_okay=False))
@click.option("--policy", "new_ref", required=True, metavar="NEW",
              help="The policy to replay the traffic through (a file or builtin:default).")
@click.option("--baseline", "old_ref", metavar="OLD",
              help="Compare with this policy instead of the decisions recorded in TRAFFIC.")
@click.option("--flips", "flips_path", type=OutputPath(),
              help="Write every flipped record here (JSON Lines; its directory must exist).")
@click.option("--examples", default=3, show_default=True, type=click.IntRange(min=0),
              help="Examples shown per direction.")
@click.option("--chunk-size", default=2000, show_default=True, type=click.IntRange(min=1),
              help="Records evaluated per evaluate_many call.")
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]),
              default="text", show_default=True,
              help="text: for a terminal; markdown: for a pull-request description; json: the"
                   " report as data.")
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

    new = load_policy_or_exit(new_ref)
    old = load_policy_or_exit(old_ref) if old_ref else None
    err = Console(stderr=True)
    with ExitStack() as stack:
        try:
            stream = (sys.stdin.buffer if traffic == "-"
                      else stack.enter_context(open(traffic, "rb")))
        except OSError as exc:
            raise BadInput(f"{traffic}: {exc.strerror or exc}") from None
        # Created only now that the policies and the traffic file are known good.
        flips = stack.enter_context(_atomic_output(flips_path)) if flips_path else None
        total = None
        if traffic != "-":
            total = os.fstat(stream.fileno()).st_size
        lines = _CountingLines(stream)
        bar = stack.enter_context(progress_bar(
            "replaying", total=total, unit="records", by_bytes=total is not None,
            enabled=None if progress else False, console=err))
        try:
            report = run_replay(lines, new, old, flips=flips,  # type: ignore[arg-type]
                                chunk_size=chunk_size, max_examples=examples,
                                on_bytes=lambda n: bar.advance(lines.count - bar.count,
                                                               done_bytes=lines.size))
        except PolicyCompileError as exc:
            raise BadInput(str(exc)) from None
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
