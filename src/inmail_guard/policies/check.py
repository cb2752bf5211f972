"""``check_policy``: load a policy, then check it against the installed plugins as the engine
would compile it (detector names and settings, ``rules_mode`` names), all errors located.

The engine is imported inside the function: policies must not import the engine at module
level (the engine imports policies).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from inmail_guard.policies.errors import (
    PolicyError,
    PolicyIssue,
    format_path,
    issue,
    split_expected,
    suggest,
    validation_issues,
)
from inmail_guard.policies.loader import load_located
from inmail_guard.policies.schema import Policy
from inmail_guard.policies.yamlpos import KeyPath, Positions


def check_policy(path: str | Path, *, build_engine: bool = True
                 ) -> tuple[Policy | None, list[PolicyIssue]]:
    """(policy, []) when ``path`` loads and compiles, else (None, every issue found).

    ``build_engine=False`` checks the detectors' names and settings but builds no engine, so
    no model is loaded: for commands that only read the policy (``policy explain``, ``diff``).
    """
    try:
        policy, positions = load_located(path)
    except PolicyError as exc:
        return None, exc.issues
    found = compile_issues(policy, positions, build_engine=build_engine)
    return (None, found) if found else (policy, [])


def compile_issues(policy: Policy, positions: Positions, *,
                   build_engine: bool = True) -> list[PolicyIssue]:
    """What stops ``Engine(policy)``: unknown detectors (naming the installed ones), detector
    settings their ``Config`` rejects, and (``build_engine``) unknown ``rules_mode`` names and
    detectors that cannot start (a missing model)."""
    from inmail_guard.engine.evaluator import Engine, PolicyCompileError
    from inmail_guard.plugins.manager import PluginError, Plugins

    try:
        plugins = Plugins()
        classes = plugins.detector_classes()
    except PluginError as exc:
        return [issue(positions, ("spam", "detectors"), "working plugins", str(exc),
                      message=f"cannot load the detector plugins: {exc}")]
    found: list[PolicyIssue] = []
    for name, settings in policy.spam.detectors.items():
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
