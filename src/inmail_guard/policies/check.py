"""``check_policy``: load a policy, then check it against the installed plugins as the engine
would compile it (detector names and settings, ``rules_mode`` names), all errors located.

The engine is imported inside the function: policies must not import the engine at module
level (the engine imports policies).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from inmail_guard.fieldpath import format_path
from inmail_guard.policies.errors import (
    PolicyError,
    PolicyIssue,
    issue,
    split_expected,
    suggest,
    validation_issues,
)
from inmail_guard.policies.loader import load_located, sort_issues
from inmail_guard.policies.schema import Policy
from inmail_guard.policies.yamlpos import KeyPath, Positions


def check_policy(path: str | Path, *, build_engine: bool = True
                 ) -> tuple[Policy | None, list[PolicyIssue]]:
    """(policy, []) when ``path`` loads and compiles, else (None, every issue found).

    Every problem of a file is reported in one run: when the file has structural errors, its
    detector settings and ``rules_mode`` names are still checked, as far as the parsed document
    allows. ``build_engine=False`` checks the detectors' names and settings but builds no
    engine, so no model is loaded: for commands that only read the policy (``policy explain``,
    ``diff``).
    """
    try:
        policy, positions = load_located(path)
    except PolicyError as exc:
        if exc.data is None:
            return None, exc.issues
        seen = {(i.file, i.line, i.column) for i in exc.issues}
        more = [i for i in _document_issues(exc.data, exc.positions)
                if (i.file, i.line, i.column) not in seen]
        return None, sort_issues([*exc.issues, *more], str(path))
    found = compile_issues(policy, positions, build_engine=build_engine)
    return (None, found) if found else (policy, [])


def compile_issues(policy: Policy, positions: Positions, *,
                   build_engine: bool = True) -> list[PolicyIssue]:
    """What stops ``Engine(policy)``: unknown detectors (naming the installed ones), detector
    settings their ``Config`` rejects, unknown ``rules_mode`` names, and (``build_engine``)
    detectors that cannot start (a missing model)."""
    from inmail_guard.engine.evaluator import Engine, PolicyCompileError
    from inmail_guard.engine.rules import rule_names

    plugins, classes, found = _detector_classes(positions)
    if plugins is None:
        return found
    found = _detector_issues(policy.spam.detectors, classes, positions)
    known = set(rule_names(policy)) | (set(policy.spam.detectors) & set(classes))
    found += _rules_mode_issues(policy.rules_mode, known, positions)
    if found or not build_engine:
        return found
    try:
        Engine(policy, plugins)
    except PolicyCompileError as exc:
        found.extend(_problem_issue(key, text, positions) for key, text in exc.problems)
    except Exception as exc:  # e.g. a detector that can't start (a model file missing)
        text = f"{type(exc).__name__}: {exc}"
        found.append(issue(positions, ("spam", "detectors"), "a policy the engine can run",
                           text, message=f"the engine cannot run this policy: {text}"))
    return found


def _document_issues(data: Any, positions: Positions) -> list[PolicyIssue]:
    """The detector and ``rules_mode`` problems of a document that failed validation, read
    from the parsed mapping wherever it has the expected shape (the structural errors of the
    parts that do not are reported already)."""
    from inmail_guard.engine.rules import RULES

    if not isinstance(data, dict):
        return []
    plugins, classes, found = _detector_classes(positions)
    if plugins is None:
        return found
    spam = data.get("spam")
    detectors = spam.get("detectors") if isinstance(spam, dict) else None
    detectors = detectors if isinstance(detectors, dict) else {}
    found = _detector_issues({k: v for k, v in detectors.items() if isinstance(k, str)},
                             classes, positions)
    modes = data.get("rules_mode")
    if isinstance(modes, dict):
        lists = data.get("blocklists")
        known = {n for n, spec in RULES.items() if spec.expand is None}
        known |= {f"blocklists.{b['name']}" for b in lists or ()
                  if isinstance(lists, list) and isinstance(b, dict)
                  and isinstance(b.get("name"), str)}
        known |= set(detectors) & set(classes)
        found += _rules_mode_issues(modes, known, positions)
    return found


def _detector_classes(positions: Positions) -> tuple[Any, dict[str, Any], list[PolicyIssue]]:
    """(the plugins, their detector classes by name, []) or (None, {}, [the load failure])."""
    from inmail_guard.plugins.manager import PluginError, Plugins

    try:
        plugins = Plugins()
        return plugins, plugins.detector_classes(), []
    except PluginError as exc:
        return None, {}, [issue(positions, ("spam", "detectors"), "working plugins", str(exc),
                                message=f"cannot load the detector plugins: {exc}")]


def _detector_issues(detectors: Mapping[str, Any], classes: Mapping[str, Any],
                     positions: Positions) -> list[PolicyIssue]:
    """Unknown detector names (naming the installed ones) and settings their Config rejects."""
    found: list[PolicyIssue] = []
    for name, settings in detectors.items():
        where: KeyPath = ("spam", "detectors", name)
        cls = classes.get(name)
        if cls is None:
            installed = ", ".join(classes) or "none"
            hint = suggest(name, classes)
            found.append(issue(positions, where, f"an installed detector ({installed})",
                               repr(name) + hint, at_key=True,
                               message=f"unknown detector {name!r}{hint};"
                                       f" installed detectors: {installed}"))
            continue
        try:
            cls.Config.model_validate(settings or {})
        except ValidationError as exc:
            found.extend(validation_issues(exc, settings or {}, positions, cls.Config, where))
    return found


def _rules_mode_issues(modes: Mapping[Any, Any], known: set[str],
                       positions: Positions) -> list[PolicyIssue]:
    """``rules_mode`` keys that name no rule or enabled detector (as the engine refuses them)."""
    shown = ", ".join(sorted(known))
    return [_problem_issue(f"rules_mode.{name}",
                           f"expected a rule or enabled detector name, found {name!r}"
                           f"{suggest(str(name), known)} (known: {shown})", positions)
            for name in sorted(set(map(str, modes)) - known)]


def locate_problems(path: str | Path, problems: list[tuple[str, str]]) -> list[PolicyIssue]:
    """``PolicyCompileError`` problems (key path, message), e.g. from a check the caller makes
    beyond these (the InMail service's), located in the file ``path`` as the checks here
    locate their own. :class:`PolicyError` when the file no longer loads."""
    _, positions = load_located(path)
    return [_problem_issue(key, text, positions) for key, text in problems]


def _problem_issue(key: str, text: str, positions: Positions) -> PolicyIssue:
    """A ``PolicyCompileError`` problem ("rules_mode.x", message) located in its file."""
    known = {format_path(p): p for p in positions.values}
    parts = key.split(".")
    path: KeyPath = ()
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in known:
            path = known[".".join(parts[:n])]
            break
    exact = format_path(path) == key
    names_an_entry = (len(path) == 2 and path[0] == "rules_mode") or (
        len(path) == 3 and path[:2] == ("spam", "detectors"))
    expected, found = split_expected(text)
    located = issue(positions, path, expected, found, message=text,
                    at_key=exact and names_an_entry)
    return PolicyIssue(located.file, located.line, located.column, key, text, expected, found)
