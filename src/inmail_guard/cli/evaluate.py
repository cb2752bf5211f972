"""``inmail-guard evaluate FILE|-``: decisions for JSON or JSON Lines of ``{message, facts}``.

Output is one JSON object per input record, in input order, on stdout: the Decision, or an error
record ``{"line": N, "error": {"code": ..., "message": ..., "fields": [...]}}``. ``code`` is the
one ``POST /v1/evaluate`` answers for the same input: ``malformed_json`` for a line that is not
UTF-8, not JSON (a key given twice, or a ``\\uD800``-``\\uDFFF`` escape outside a surrogate
pair, included) or nested too deeply to read; ``validation_error`` for a record that is not an
object or has a missing, unknown or wrongly typed field; ``unknown_plan`` for a plan the policy
does not declare.

Exit codes: 0 every record was evaluated; 1 at least one record was invalid (the others were
still evaluated); 2 usage error, unreadable input or an invalid policy.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import click

from inmail_guard import jsontext
from inmail_guard.bounds import year_problem
from inmail_guard.engine.evaluator import Engine
from inmail_guard.engine.plans import UnknownPlanError
from inmail_guard.engine.types import Decision, Facts, Message
from inmail_guard.engine.wire import RequestError, parse_request
from inmail_guard.jsontext import DuplicateKeyError, LoneSurrogateError

BATCH = 512
RECORD_SHAPE = 'a JSON object {"message": {...}, "facts": {...}}'
_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", bool: "true or false",
               int: "a number", float: "a number", type(None): "null"}


@dataclass(frozen=True, slots=True)
class _Unreadable:
    """A record that cannot be decoded (bad UTF-8, bad or too deeply nested JSON)."""

    message: str


def _decode(raw: bytes, first: bool) -> str | _Unreadable:
    try:
        return raw.decode("utf-8-sig" if first else "utf-8")
    except UnicodeDecodeError as exc:
        return _Unreadable(f"not valid UTF-8: byte 0x{raw[exc.start]:02x} at column"
                           f" {exc.start + 1}; save the input as UTF-8")


def _text_lines(stream: IO[bytes]) -> Iterator[tuple[int, str | _Unreadable]]:
    """(line number, its text) per line: a line that is not UTF-8 is an error of its own, so
    the records around it are still evaluated."""
    for lineno, raw in enumerate(stream, start=1):
        yield lineno, _decode(raw, lineno == 1)


def _parse(text: str) -> Any:
    """Decoded JSON, or an :class:`_Unreadable` saying why not."""
    try:
        return jsontext.loads(text)
    except (DuplicateKeyError, LoneSurrogateError) as exc:
        return _Unreadable(f"not valid JSON: {exc.msg}")
    except json.JSONDecodeError as exc:
        return _Unreadable(f"not valid JSON: {exc.msg} at column {exc.colno}; each record is"
                           f" {RECORD_SHAPE}, one per line")
    except RecursionError:
        return _Unreadable("not valid JSON: nested too deeply")
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        return _Unreadable(f"not valid JSON: {exc}")


def _records(stream: IO[bytes]) -> Iterator[tuple[int, Any]]:
    """(line number, decoded JSON or an :class:`_Unreadable`) per record.

    JSON Lines are streamed. A document starting with ``[`` (an array of records) or a single
    pretty-printed object is read whole.
    """
    lines = _text_lines(stream)
    for lineno, first in lines:  # noqa: B007 - skip leading blank lines
        if isinstance(first, _Unreadable) or first.strip():
            break
    else:
        return
    if isinstance(first, _Unreadable):
        yield lineno, first
        yield from _lines(lines)
        return
    if not first.lstrip().startswith("["):
        value = _parse(first)
        if isinstance(value, _Unreadable):
            rest = list(lines)
            if not any(isinstance(text, _Unreadable) for _, text in rest):
                whole = _parse(first + "".join(str(text) for _, text in rest))
                if not isinstance(whole, _Unreadable):  # one object spread over several lines
                    yield lineno, whole
                    return
            yield from _lines(iter([(lineno, first), *rest]))
            return
        yield lineno, value
        yield from _lines(lines)
        return
    rest = list(lines)
    bad = next(((n, text) for n, text in rest if isinstance(text, _Unreadable)), None)
    if bad is not None:  # the array cannot be parsed: say where
        yield bad
        return
    try:
        items = jsontext.loads(first + "".join(str(text) for _, text in rest))
    except (DuplicateKeyError, LoneSurrogateError) as exc:
        yield lineno, _Unreadable(f"not valid JSON: {exc.msg}")
        return
    except json.JSONDecodeError as exc:
        yield exc.lineno + lineno - 1, _Unreadable(
            f"not valid JSON: {exc.msg} at column {exc.colno}")
        return
    except RecursionError:
        yield lineno, _Unreadable("not valid JSON: nested too deeply")
        return
    except ValueError as exc:
        yield lineno, _Unreadable(f"not valid JSON: {exc}")
        return
    yield from enumerate(items, start=1)


def _lines(lines: Iterator[tuple[int, str | _Unreadable]]) -> Iterator[tuple[int, Any]]:
    for lineno, text in lines:
        if isinstance(text, _Unreadable):
            yield lineno, text
        elif text.strip():
            yield lineno, _parse(text)


#: The error codes of the records, as ``POST /v1/evaluate`` spells them (docs/http.md, Errors).
MALFORMED_JSON = "malformed_json"
VALIDATION_ERROR = "validation_error"


def _error(line: int, code: str, message: str,
           fields: list[dict[str, str]] | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if fields:
        err["fields"] = fields
    return {"line": line, "error": err}


def _prepare(line: int, value: Any) -> tuple[Message, Facts] | dict[str, Any]:
    if isinstance(value, _Unreadable):
        return _error(line, MALFORMED_JSON, value.message)
    if not isinstance(value, dict):
        return _error(line, VALIDATION_ERROR, f"expected {RECORD_SHAPE}, found"
                      f" {_JSON_TYPES.get(type(value), type(value).__name__)}")
    try:
        message, facts = parse_request(value)
    except RequestError as exc:
        return _error(line, VALIDATION_ERROR, str(exc),
                      [{"field": f, "problem": p} for f, p in exc.errors])
    except RecursionError:  # HTTP's parser says "recursion limit exceeded": malformed_json
        return _error(line, MALFORMED_JSON, "the record is nested too deeply")
    problem = year_problem(facts.now)  # as POST /v1/evaluate refuses it
    if problem is not None:
        return _error(line, VALIDATION_ERROR, f"facts.now: {problem}",
                      [{"field": "facts.now", "problem": problem}])
    return message, facts


def run(engine: Engine, stream: IO[bytes], out: IO[str], progress: Any = None) -> Counter[str]:
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
                    decided[i] = _error(pending[i][0], exc.code, exc.message,
                                        [{"field": exc.field, "problem": exc.message}])
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
@click.argument("source", type=click.File("rb"), default="-")
@click.option("--policy", "policy_path", default="builtin:default", show_default=True,
              help="Policy file (or builtin:default).")
@click.option("--summary", is_flag=True, help="Print a table of outcomes and reason codes.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr (default: when stderr is a terminal).")
def evaluate(source: IO[bytes], policy_path: str, summary: bool, progress: bool | None) -> None:
    """Evaluate JSON or JSON Lines of {message, facts} (FILE or - for stdin).

    Writes one decision per input record, in order, to stdout. Exit 0 when every record was
    evaluated, 1 when some were invalid (each gets an error record naming its line and field),
    2 on usage errors or an invalid policy.
    """
    from inmail_guard.cli import load_policy_or_exit

    engine = Engine(load_policy_or_exit(policy_path))
    if _is_terminal(source):  # typed by hand: say what is awaited rather than wait in silence
        click.echo('reading records from the terminal: one JSON object per line, {"message":'
                   ' {...}, "facts": {...}}; end with Ctrl-D (or give a FILE)', err=True)
    out = sys.stdout
    from inmail_guard.cli.progress import progress_bar

    size = _size(source)
    with progress_bar("evaluating", total=size, unit="records", by_bytes=size is not None,
                      enabled=progress) as bar:
        counts = run(engine, source, out,
                     lambda n: bar.advance(n, done_bytes=_position(source)))
    if summary:
        _summary(counts)
    if counts.get("outcome:invalid"):
        sys.exit(1)


def _is_terminal(stream: IO[bytes]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _size(stream: IO[bytes]) -> int | None:
    """The input's size in bytes when it is a regular file (else None: a pipe, stdin)."""
    import os
    import stat

    try:
        info = os.fstat(stream.fileno())
        stream.tell()
    except (OSError, ValueError, AttributeError):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def _position(stream: IO[bytes]) -> int | None:
    try:
        return stream.tell()
    except (OSError, ValueError):
        return None
