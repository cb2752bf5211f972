"""``inmail-guard evaluate FILE|-``: decisions for JSON or JSON Lines of ``{message, facts}``.

Output is one JSON object per input record, in input order, on stdout: the Decision, or an error
record ``{"line": N, "error": {"code": "invalid_request", "message": ..., "fields": [...]}}``.

Exit codes: 0 every record was evaluated; 1 at least one record was invalid (the others were
still evaluated); 2 usage error, unreadable input or an invalid policy.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from typing import IO, Any

import click

from inmail_guard.engine.evaluator import Engine
from inmail_guard.engine.rules import UnknownPlanError
from inmail_guard.engine.types import Decision, Facts, Message
from inmail_guard.engine.wire import RequestError, parse_request

BATCH = 512


def _records(stream: IO[str]) -> Iterator[tuple[int, Any]]:
    """(line number, decoded JSON or its JSONDecodeError) per record.

    JSON Lines are streamed. A document starting with ``[`` (an array of records) or a single
    pretty-printed object is read whole.
    """
    lineno, first = 0, ""
    for lineno, first in enumerate(stream, start=1):  # noqa: B007 - skip leading blank lines
        if first.strip():
            break
    if not first.strip():
        return
    if not first.lstrip().startswith("["):
        try:
            value: Any = json.loads(first)
        except json.JSONDecodeError:
            rest = stream.read()
            try:  # one object spread over several lines
                yield lineno, json.loads(first + rest)
                return
            except json.JSONDecodeError:
                yield from _lines(iter([first, *rest.splitlines(keepends=True)]), lineno)
                return
        yield lineno, value
        yield from _lines(stream, lineno + 1)
        return
    try:
        items = json.loads(first + stream.read())
    except json.JSONDecodeError as exc:
        yield exc.lineno + lineno - 1, exc
        return
    yield from enumerate(items, start=1)


def _lines(lines: Iterator[str], start: int) -> Iterator[tuple[int, Any]]:
    for lineno, line in enumerate(lines, start=start):
        if not line.strip():
            continue
        try:
            yield lineno, json.loads(line)
        except json.JSONDecodeError as exc:
            yield lineno, exc


def _error(line: int, message: str, fields: list[dict[str, str]] | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": "invalid_request", "message": message}
    if fields:
        err["fields"] = fields
    return {"line": line, "error": err}


def _prepare(line: int, value: Any) -> tuple[Message, Facts] | dict[str, Any]:
    if isinstance(value, json.JSONDecodeError):
        return _error(line, f"not valid JSON: {value.msg} at column {value.colno}")
    try:
        return parse_request(value)
    except RequestError as exc:
        return _error(line, str(exc), [{"field": f, "problem": p} for f, p in exc.errors])


def run(engine: Engine, stream: IO[str], out: IO[str], progress: Any = None) -> Counter[str]:
    """Evaluate every record, writing one line per record; returns counts for the summary."""
    counts: Counter[str] = Counter()
    pending: list[tuple[int, tuple[Message, Facts] | dict[str, Any]]] = []

    def flush() -> None:
        valid = [(i, item) for i, (_, item) in enumerate(pending) if isinstance(item, tuple)]
        decided: dict[int, Decision | dict[str, Any]] = {}
        try:
            decisions = engine.evaluate_many([item for _, item in valid])  # type: ignore[misc]
            decided = dict(zip((i for i, _ in valid), decisions, strict=True))
        except UnknownPlanError:
            for i, item in valid:  # isolate the record(s) naming an unknown plan
                try:
                    decided[i] = engine.evaluate(*item)  # type: ignore[misc]
                except UnknownPlanError as exc:
                    decided[i] = _error(pending[i][0], str(exc),
                                        [{"field": "facts.sender.plan", "problem": str(exc)}])
        for i, (_, item) in enumerate(pending):
            result = decided.get(i, item)
            if isinstance(result, Decision):
                counts[f"outcome:{result.outcome}"] += 1
                for reason in result.reasons:
                    counts[f"code:{reason.code}"] += 1
                record: Any = result.to_dict()
            else:
                counts["outcome:invalid"] += 1
                record = result
            out.write(json.dumps(record, separators=(",", ":")) + "\n")
        if progress is not None:
            progress(len(pending))
        pending.clear()

    for line, value in _records(stream):
        pending.append((line, _prepare(line, value)))
        if len(pending) >= BATCH:
            flush()
    if pending:
        flush()
    return counts


def _summary(counts: Counter[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="inmail-guard evaluate")
    table.add_column("outcome / reason code")
    table.add_column("count", justify="right")
    for key in ("outcome:accepted", "outcome:rejected", "outcome:invalid"):
        table.add_row(key.split(":", 1)[1], str(counts.get(key, 0)))
    for key, value in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if key.startswith("code:"):
            table.add_row(f"  {key[5:]}", str(value))
    Console(stderr=True).print(table)


@click.command()
@click.argument("source", type=click.File("r", encoding="utf-8"), default="-")
@click.option("--policy", "policy_path", default="builtin:default", show_default=True,
              help="Policy file (or builtin:default).")
@click.option("--summary", is_flag=True, help="Print a table of outcomes and reason codes.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr (default: when stderr is a terminal).")
def evaluate(source: IO[str], policy_path: str, summary: bool, progress: bool | None) -> None:
    """Evaluate JSON or JSON Lines of {message, facts} (FILE or - for stdin).

    Writes one decision per input record, in order, to stdout. Exit 0 when every record was
    evaluated, 1 when some were invalid (each gets an error record naming its line and field),
    2 on usage errors or an invalid policy.
    """
    from inmail_guard.cli import load_policy_or_exit

    engine = Engine(load_policy_or_exit(policy_path))
    out = click.get_text_stream("stdout")
    show = sys.stderr.isatty() if progress is None else progress
    if show:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        # The record count is unknown without a second pass: show a running count and rate.
        with Progress(TextColumn("evaluating"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.speed} records/s"), transient=True,
                      console=_stderr_console()) as bar:
            task = bar.add_task("evaluate", total=None)
            counts = run(engine, source, out, lambda n: bar.advance(task, n))
    else:
        counts = run(engine, source, out)
    if summary:
        _summary(counts)
    if counts.get("outcome:invalid"):
        sys.exit(1)


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)
