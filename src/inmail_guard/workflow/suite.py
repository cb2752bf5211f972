"""Policy test suites: YAML files of cases, each a send and the decision it must get.

A suite (format in docs/workflow.md)::

    policy: builtin:default          # or a path relative to this file
    now: 2026-03-10T12:00:00Z        # facts.now of every case unless it sets its own
    defaults: {message: {...}, facts: {...}}   # deep-merged under each case
    cases:
      - name: opted-out recipient is refused
        facts: {recipient: {accepts_inmail: false}}
        expect: {outcome: rejected, codes: [recipient_opted_out]}

``load_suite`` validates the whole file up front and raises :class:`SuiteError` naming the file,
line and case; ``run_suite`` evaluates every case and returns a :class:`SuiteResult`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from inmail_guard.engine.evaluator import Engine, PolicyCompileError
from inmail_guard.engine.types import Decision, Facts, Message
from inmail_guard.policies.schema import Policy
from inmail_guard.workflow.coverage import Coverage, measure_coverage
from inmail_guard.workflow.engines import checked_policy
from inmail_guard.workflow.records import (
    RecordError,
    deep_merge,
    fill_ids,
    parse_facts,
    parse_message,
)
from inmail_guard.workflow.suite_facts import expand_facts

BUILTIN_DEFAULT = "builtin:default"
#: ``now`` of a case when neither the case nor the suite sets one: fixed, so suites are
#: deterministic.
DEFAULT_NOW = "2026-01-15T12:00:00Z"

_SUITE_KEYS = {"policy", "now", "defaults", "cases", "description"}
_CASE_KEYS = {"name", "message", "facts", "expect", "description"}
_EXPECT_KEYS = {"outcome", "codes", "rules", "spam_score", "sender_message", "shadow"}
_DEFAULTS_KEYS = {"message", "facts"}
#: Longest text ``{repeat: ..., times: N}`` may build: well past every content limit, short of
#: exhausting memory on a typo.
MAX_EXPANDED = 1_000_000


class SuiteError(ValueError):
    """A suite file that cannot be run. ``str()`` reads ``file:line: case 'name': problem``."""

    def __init__(self, path: str, problem: str, *, line: int | None = None,
                 case: str | None = None) -> None:
        self.path, self.line, self.case, self.problem = path, line, case, problem
        where = f"{path}:{line}" if line else path
        who = f" case {case!r}:" if case else ""
        super().__init__(f"{where}:{who} {problem}")


@dataclass(frozen=True, slots=True)
class Expect:
    outcome: str | None = None
    codes: frozenset[str] | None = None
    spam_min: float | None = None
    spam_max: float | None = None
    sender_message: str | tuple[str, ...] | None = None
    shadow: frozenset[str] | None = None
    rules: frozenset[str] | None = None
    """The rules (``Reason.rule``) that rejected the send, exactly."""


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    line: int
    message: Message
    facts: Facts
    expect: Expect


@dataclass(frozen=True, slots=True)
class Suite:
    path: str
    policy_ref: str
    policy: Policy
    cases: tuple[Case, ...]


@dataclass(frozen=True, slots=True)
class Mismatch:
    what: str
    expected: str
    actual: str


@dataclass(frozen=True, slots=True)
class CaseResult:
    case: Case
    decision: Decision | None
    mismatches: tuple[Mismatch, ...] = ()
    error: str | None = None
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.error is None and not self.mismatches


@dataclass(slots=True)
class SuiteResult:
    suite: Suite
    results: list[CaseResult] = field(default_factory=list)
    coverage: Coverage | None = None

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)

    @property
    def failed(self) -> int:
        return len(self.results) - self.passed


# --- loading ---------------------------------------------------------------------------------


def resolve_policy(ref: str, suite_path: Path) -> Policy:
    """The suite's ``policy:``, checked as ``policy validate`` checks it (models included)."""
    if ref == BUILTIN_DEFAULT:
        return checked_policy(ref)
    path = Path(ref)
    if not path.is_absolute():
        path = suite_path.parent / path
    return checked_policy(path)


def load_suite(path: str | Path, *, policy: Policy | None = None) -> Suite:
    """Read and validate a suite. ``policy`` overrides the suite's own ``policy:``."""
    path = Path(path)
    shown = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SuiteError(shown, f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raw = path.read_bytes()
        line = raw.count(b"\n", 0, exc.start) + 1
        raise SuiteError(shown, f"not valid UTF-8 (byte {exc.start}); a suite is a YAML text"
                                " file: save it as UTF-8", line=line) from None
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise SuiteError(shown, f"invalid YAML: {getattr(exc, 'problem', None) or exc}",
                         line=mark.line + 1 if mark else None) from None
    if not isinstance(data, dict):
        raise SuiteError(shown, "expected a mapping with policy:, defaults: and cases:")
    unknown = sorted(set(data) - _SUITE_KEYS)
    if unknown and "cases" not in data and {"plans", "extends"} & set(data):
        raise SuiteError(shown, "this is a policy file, not a test suite (it has"
                                f" {'plans' if 'plans' in data else 'extends'}:, no cases:)."
                                " Fix: give policy test the suite files or a directory holding"
                                " only suites; a suite names its policy with policy: (or use"
                                " --policy)")
    if unknown:
        raise SuiteError(shown, f"unknown key(s) {', '.join(unknown)};"
                                f" expected {', '.join(sorted(_SUITE_KEYS))}")
    ref = str(data.get("policy") or BUILTIN_DEFAULT)
    if policy is None:
        try:
            policy = resolve_policy(ref, path)
        except (OSError, ValueError) as exc:  # PolicyError is a ValueError
            raise SuiteError(shown, f"policy {ref!r}: {exc}") from None
    else:
        ref = policy.source or policy.name
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict) or set(defaults) - _DEFAULTS_KEYS:
        raise SuiteError(shown, "defaults: expected a mapping with message: and/or facts:")
    now = data.get("now", DEFAULT_NOW)
    raw_cases = data.get("cases")
    if not isinstance(raw_cases, list) or not raw_cases:
        raise SuiteError(shown, "cases: expected a non-empty list")
    lines = _case_lines(root)
    cases: list[Case] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_cases):
        line = lines[index] if index < len(lines) else None
        case = _load_case(raw, index, line, shown, defaults, now)
        if case.name in seen:
            raise SuiteError(shown, "duplicate case name", line=line, case=case.name)
        seen.add(case.name)
        cases.append(case)
    return Suite(shown, ref, policy, tuple(cases))


def _case_lines(root: yaml.Node | None) -> list[int]:
    if not isinstance(root, yaml.MappingNode):
        return []
    for key, value in root.value:
        if key.value == "cases" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def _load_case(raw: Any, index: int, line: int | None, path: str,
               defaults: Mapping[str, Any], now: Any) -> Case:
    if not isinstance(raw, dict):
        raise SuiteError(path, f"case #{index + 1}: expected a mapping", line=line)
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SuiteError(path, f"case #{index + 1}: name: expected a non-empty string", line=line)

    def fail(problem: str) -> SuiteError:
        return SuiteError(path, problem, line=line, case=name)

    unknown = sorted(set(raw) - _CASE_KEYS)
    if unknown:
        raise fail(f"unknown key(s) {', '.join(unknown)}; expected {', '.join(sorted(_CASE_KEYS))}")
    parts = {}
    for part in ("message", "facts"):
        value = raw.get(part) or {}
        if not isinstance(value, dict):
            raise fail(f"{part}: expected a mapping, found {type(value).__name__}")
        parts[part] = deep_merge(defaults.get(part) or {}, value)
    message, facts = parts["message"], parts["facts"]
    facts.setdefault("now", now)
    try:
        message["body"] = expand_text(message.get("body", ""), "message.body")
        message["subject"] = expand_text(message.get("subject", ""), "message.subject")
        fill_ids(message, facts)
        expand_facts(facts)
        parsed = Case(name, line or 0, parse_message(message), parse_facts(facts),
                      _load_expect(raw.get("expect")))
    except (RecordError, ValueError) as exc:
        raise fail(str(exc)) from None
    return parsed


def expand_text(value: Any, where: str) -> str:
    """A string, or ``{repeat: "a", times: 3000, before: "**", after: "**"}`` for long bodies."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        extra = set(value) - {"repeat", "times", "before", "after"}
        times = value.get("times")
        if not extra and isinstance(value.get("repeat"), str) and isinstance(times, int) \
                and not isinstance(times, bool):
            if times < 0:
                raise ValueError(f"{where}.times: expected a whole number >= 0, found {times}")
            if len(value["repeat"]) * times > MAX_EXPANDED:
                raise ValueError(f"{where}: {len(value['repeat'])} characters repeated {times}"
                                 f" times is over {MAX_EXPANDED:,} characters; use fewer times")
            return str(value.get("before", "")) + value["repeat"] * times + str(
                value.get("after", ""))
    raise ValueError(f"{where}: expected a string or {{repeat: TEXT, times: N, before?, after?}},"
                     f" found {value!r}")


def _load_expect(raw: Any) -> Expect:
    if not isinstance(raw, dict) or not raw:
        raise ValueError("expect: expected a mapping of outcome, codes, rules, shadow,"
                         " spam_score, sender_message (at least one)")
    unknown = sorted(set(raw) - _EXPECT_KEYS)
    if unknown:
        raise ValueError(f"expect: unknown key(s) {', '.join(unknown)};"
                         f" expected {', '.join(sorted(_EXPECT_KEYS))}")
    outcome = raw.get("outcome")
    if outcome not in (None, "accepted", "rejected"):
        raise ValueError(f"expect.outcome: expected accepted or rejected, found {outcome!r}")
    score = raw.get("spam_score") or {}
    if not isinstance(score, dict) or set(score) - {"min", "max"}:
        raise ValueError("expect.spam_score: expected {min: N, max: N}")
    for key in ("min", "max"):
        if key in score and not isinstance(score[key], int | float):
            raise ValueError(f"expect.spam_score.{key}: expected a number, found {score[key]!r}")
    message = raw.get("sender_message")
    if isinstance(message, list):
        message = tuple(str(m) for m in message)
    elif message is not None and not isinstance(message, str):
        raise ValueError("expect.sender_message: expected a string or a list of strings")
    return Expect(outcome, _code_set(raw, "codes"), score.get("min"), score.get("max"), message,
                  _code_set(raw, "shadow"), _code_set(raw, "rules", "rule names"))


def _code_set(raw: Mapping[str, Any], key: str,
              what: str = "reason codes") -> frozenset[str] | None:
    if key not in raw:
        return None
    value = raw[key] or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise ValueError(f"expect.{key}: expected a list of {what}")
    return frozenset(value)


# --- running ---------------------------------------------------------------------------------


def run_suite(suite: Suite, engine: Engine | None = None) -> SuiteResult:
    import time

    try:
        engine = engine or Engine(suite.policy)
    except (PolicyCompileError, ValueError) as exc:  # e.g. a model that fails verification
        raise SuiteError(suite.path, f"policy {suite.policy_ref!r} does not compile: {exc}") \
            from None
    result = SuiteResult(suite)
    for case in suite.cases:
        started = time.perf_counter()
        try:
            decision = engine.evaluate(case.message, case.facts)
        except Exception as exc:  # one broken case must not hide the others' results
            result.results.append(CaseResult(case, None, error=f"{type(exc).__name__}: {exc}",
                                              seconds=time.perf_counter() - started))
            continue
        result.results.append(CaseResult(case, decision, tuple(compare(case.expect, decision)),
                                         seconds=time.perf_counter() - started))
    decisions = [r.decision for r in result.results if r.decision is not None]
    result.coverage = measure_coverage(suite.policy, engine, decisions)
    return result


def _codes(codes: frozenset[str] | tuple[str, ...]) -> str:
    return "[" + ", ".join(sorted(codes)) + "]"


def compare(expect: Expect, decision: Decision) -> list[Mismatch]:
    out: list[Mismatch] = []
    if expect.outcome is not None and decision.outcome != expect.outcome:
        out.append(Mismatch("outcome", expect.outcome, decision.outcome))
    actual = frozenset(decision.codes)
    if expect.codes is not None and actual != expect.codes:
        out.append(Mismatch("codes", _codes(expect.codes), _codes(actual)))
    rules = frozenset(r.rule for r in decision.reasons)
    if expect.rules is not None and rules != expect.rules:
        out.append(Mismatch("rules", _codes(expect.rules), _codes(rules)))
    shadow = frozenset(h.code for h in decision.shadow)
    if expect.shadow is not None and shadow != expect.shadow:
        out.append(Mismatch("shadow", _codes(expect.shadow), _codes(shadow)))
    score = decision.spam.score
    if expect.spam_min is not None and score < expect.spam_min:
        out.append(Mismatch("spam_score", f">= {expect.spam_min:g}", f"{score:g}"))
    if expect.spam_max is not None and score > expect.spam_max:
        out.append(Mismatch("spam_score", f"<= {expect.spam_max:g}", f"{score:g}"))
    messages = tuple(r.sender_message for r in decision.reasons)
    wanted = expect.sender_message
    if isinstance(wanted, str) and wanted not in messages:
        out.append(Mismatch("sender_message", repr(wanted), _quoted(messages)))
    elif isinstance(wanted, tuple) and sorted(wanted) != sorted(messages):
        out.append(Mismatch("sender_message", _quoted(wanted), _quoted(messages)))
    return out


def _quoted(messages: tuple[str, ...]) -> str:
    return "[" + ", ".join(repr(m) for m in messages) + "]" if messages else "(none)"


def find_suites(path: str | Path) -> list[Path]:
    """A suite file, or every ``*.yaml``/``*.yml`` file under a directory, sorted."""
    path = Path(path)
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
    return [path]
