"""Policy errors for people: :class:`PolicyIssue`, :class:`PolicyError`, and pydantic's
validation errors rewritten as "expected ..., found ..." at a file, line and column.
"""

from __future__ import annotations

import difflib
import inspect
import re
import types
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from inmail_guard.fieldpath import format_path
from inmail_guard.memberids import ONE_LINE_PATTERN

if TYPE_CHECKING:
    from inmail_guard.policies.yamlpos import KeyPath, Positions

_NAME_PATTERN = r"^[a-z][a-z0-9_]*$"


@dataclass(frozen=True, slots=True)
class PolicyIssue:
    """One problem in a policy, located in its file (line and column are 1-based)."""

    file: str
    line: int
    column: int
    path: str  # dotted key path, e.g. "spam.detectors.volume.per_hour"; "" for the document
    message: str  # the whole human text, usually "expected ..., found ..."
    expected: str = ""
    found: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "expected": self.expected,
            "found": self.found,
            "message": self.message,
        }


class PolicyError(ValueError):
    """A policy that cannot be loaded; ``issues`` holds every problem found, in file order."""

    def __init__(self, issues: Sequence[PolicyIssue], *, data: Any = None,
                 positions: Any = None) -> None:
        self.issues: list[PolicyIssue] = list(issues)
        #: The document as parsed and merged (``extends`` applied) when it got that far, and
        #: where its keys are written: lets ``check_policy`` report the detector and
        #: ``rules_mode`` problems of a file in the same run as its structural ones.
        self.data = data
        self.positions = positions
        super().__init__("\n".join(str(issue) for issue in self.issues))


def describe(value: Any) -> str:
    """A value as an error message shows it: ``'ten' (string)``, ``5 (integer)``, ``a list``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"{str(value).lower()} (boolean)"
    if isinstance(value, int):
        return f"{value} (integer)"
    if isinstance(value, float):  # 10.0, not 10, where an integer is expected
        shown = f"{value:.1f}" if value.is_integer() and abs(value) < 1e16 else f"{value:g}"
        return f"{shown} (number)"
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return f"{text!r} (string)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def suggest(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'plans'?)`` for a close match, else ``""``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def issue(positions: Positions, path: KeyPath, expected: str, found: str, *,
          message: str | None = None, at_key: bool = False) -> PolicyIssue:
    mark = positions.key(path) if at_key else positions.value(path)
    return PolicyIssue(mark.file, mark.line, mark.column, format_path(positions.as_written(path)),
                       message or f"expected {expected}, found {found}", expected, found)


def validation_issues(exc: ValidationError, data: Any, positions: Positions,
                      model: type[BaseModel], prefix: KeyPath = ()) -> list[PolicyIssue]:
    """pydantic errors of ``model.model_validate(data)`` as issues located by ``positions``
    (whose key paths start with ``prefix``, where ``data`` sits in the document)."""
    out: list[PolicyIssue] = []
    seen: set[tuple[str, str]] = set()
    for err in exc.errors(include_url=False):
        found = _humanize(err, data, positions, model, prefix)
        if (found.path, found.message) not in seen:
            seen.add((found.path, found.message))
            out.append(found)
    return out


# --- one pydantic error -> one issue -------------------------------------------------------

_EXPECTED = {
    "int_type": "an integer", "int_parsing": "an integer", "int_from_float": "an integer",
    "float_type": "a number", "float_parsing": "a number", "finite_number": "a finite number",
    "bool_type": "true or false", "bool_parsing": "true or false",
    "string_type": "a string", "none_required": "null",
    "dict_type": "a mapping", "model_type": "a mapping", "model_attributes_type": "a mapping",
    "mapping_type": "a mapping",
    "list_type": "a list", "tuple_type": "a list", "set_type": "a list",
    "frozen_set_type": "a list",
}


def _humanize(err: Any, data: Any, positions: Positions, model: type[BaseModel],
              prefix: KeyPath) -> PolicyIssue:
    kind = err["type"]
    loc, value = _data_loc(err["loc"], data, keep_last=kind == "missing")
    ctx = err.get("ctx") or {}
    given = err.get("input")
    if err["loc"] and err["loc"][-1] == "[key]":
        return issue(positions, prefix + loc, "a string key", describe(given), at_key=True)
    if kind == "extra_forbidden":
        key = loc[-1] if loc else "?"
        parent = _model_at(model, loc[:-1])
        allowed = list(parent.model_fields) if parent else []
        expected = f"one of: {', '.join(allowed)}"
        text = f"unknown key {key!r}{suggest(str(key), allowed)}; expected {expected}"
        return issue(positions, prefix + loc, expected, repr(key), at_key=True, message=text)
    if kind == "missing":
        name = loc[-1] if loc else "?"
        mark = positions.value(prefix + loc[:-1])
        return PolicyIssue(mark.file, mark.line, mark.column,
                           format_path(positions.as_written(prefix + loc)),
                           f"missing required key {name!r}", f"key {name!r}", "no such key")
    if kind == "literal_error":
        allowed = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        listed = ", ".join(allowed[:-1]) + f" or {allowed[-1]}" if len(allowed) > 1 else "".join(
            allowed)
        expected = f"one of {listed}"
        shown = repr(given) + suggest(given, allowed) if isinstance(given, str) else describe(given)
        return issue(positions, prefix + loc, expected, shown)
    if kind in ("value_error", "assertion_error"):
        text = str(ctx.get("error", err["msg"]))
        loc, at_key = _refine(loc, value, text, positions, prefix)
        expected, found = split_expected(text)
        return issue(positions, prefix + loc, expected, found, message=text, at_key=at_key)
    expected = _EXPECTED.get(kind) or _bounded(kind, ctx)
    if expected:
        return issue(positions, prefix + loc, expected, describe(given))
    text = str(err["msg"])
    return issue(positions, prefix + loc, text[:1].lower() + text[1:], describe(given),
                 message=f"expected a valid value ({text[:1].lower() + text[1:]}),"
                         f" found {describe(given)}")


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _bounded(kind: str, ctx: dict[str, Any]) -> str:
    n = ctx.get("min_length", ctx.get("max_length"))
    plural = "" if n == 1 else "s"
    return {
        "greater_than": f"a number greater than {_number(ctx.get('gt'))}",
        "greater_than_equal": f"a number of at least {_number(ctx.get('ge'))}",
        "less_than": f"a number less than {_number(ctx.get('lt'))}",
        "less_than_equal": f"a number of at most {_number(ctx.get('le'))}",
        "string_too_short": "a non-empty string" if n == 1
        else f"a string of at least {n} characters",
        "string_too_long": f"a string of at most {n} character{plural}",
        "too_short": f"at least {n} item{plural}",
        "too_long": f"at most {n} item{plural}",
        "string_pattern_mismatch": (
            "a name of lower-case letters, digits and _, starting with a letter"
            if ctx.get("pattern") == _NAME_PATTERN
            else "one line of text, without control characters or bidi embeddings, overrides"
                 " or isolates (U+202A-U+202E, U+2066-U+2069)"
            if ctx.get("pattern") == ONE_LINE_PATTERN
            else f"a string matching {ctx.get('pattern')}"
        ),
    }.get(kind, "")


def split_expected(text: str) -> tuple[str, str]:
    """``"expected X, found Y"`` -> (X, Y); anything else -> ("", text)."""
    if text.startswith("expected ") and ", found " in text:
        expected, found = text[len("expected "):].rsplit(", found ", 1)
        return expected, found
    return "", text


def _refine(loc: KeyPath, value: Any, text: str, positions: Positions,
            prefix: KeyPath) -> tuple[KeyPath, bool]:
    """Point a model-level error at a key it names (``found restrict_at 5 < reject_at 10``,
    ``found 'x' twice`` among blocklists) rather than at the whole mapping or list; of several,
    the first one written in the same file as the mapping (the file that overrode it)."""
    if isinstance(value, dict):
        names = [w for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text.split("found", 1)[-1])
                 if w in value]
        here = positions.value(prefix + loc).file
        same = [n for n in names if positions.key((*prefix, *loc, n)).file == here]
        if names:
            return (*loc, (same or names)[0]), True
        return loc, False
    named = re.search(r"found '([A-Za-z_][A-Za-z0-9_]*)'", text)
    if named is None:
        return loc, False
    name = named.group(1)
    if isinstance(value, list) and text.endswith("twice"):
        hits = [i for i, item in enumerate(value)
                if isinstance(item, dict) and item.get("name") == name]
        if len(hits) > 1:
            return (*loc, hits[1], "name"), False
    return loc, False


def _data_loc(loc: Sequence[Any], data: Any, *, keep_last: bool) -> tuple[KeyPath, Any]:
    """The part of a pydantic location that exists in the data (dropping union/validator tags),
    and the value it reaches."""
    kept: list[Any] = []
    current = data
    for i, part in enumerate(loc):
        in_dict = isinstance(current, dict) and _has_key(current, part)
        in_list = (isinstance(current, list) and isinstance(part, int)
                   and not isinstance(part, bool) and 0 <= part < len(current))
        if in_dict or in_list:
            kept.append(part)
            current = current[part]
        elif keep_last and i == len(loc) - 1:
            kept.append(part)
    return tuple(kept), current


def _has_key(mapping: dict[Any, Any], key: Any) -> bool:
    try:
        return key in mapping
    except TypeError:
        return False


def _model_at(model: type[BaseModel], loc: KeyPath) -> type[BaseModel] | None:
    """The pydantic model validating the mapping at ``loc`` (to list its allowed keys)."""
    tp: Any = model
    for part in loc:
        tp = _unwrap(tp)
        if _is_model(tp):
            field = tp.model_fields.get(part)
            tp = field.annotation if field else None
        elif get_origin(tp) is dict:
            tp = get_args(tp)[1]
        elif get_origin(tp) is list:
            tp = get_args(tp)[0]
        else:
            return None
    tp = _unwrap(tp)
    return tp if _is_model(tp) else None


def _unwrap(tp: Any) -> Any:
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    if get_origin(tp) in (Union, types.UnionType):
        for arg in get_args(tp):
            inner = _unwrap(arg)
            if _is_model(inner) or get_origin(inner) in (dict, list):
                return inner
    return tp


def _is_model(tp: Any) -> bool:
    return inspect.isclass(tp) and issubclass(tp, BaseModel)
