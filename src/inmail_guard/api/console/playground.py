"""The Playground: a message and its facts, evaluated against the live policy or a pasted
candidate, shown as a person reads the decision.

Playground decisions come from engines of their own (one per policy version, a few kept), not
the serving engine: trying things out counts in no metric and in no Traffic chart.

A candidate policy is text from a browser, so it may not make the server read its files: an
``extends`` other than ``builtin:default``, a blocklist ``file``, a detector ``model`` other
than a ``builtin:`` one, or any ``*_file`` / ``*_path`` setting is refused at its line.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from inmail_guard.api.errors import validation_issues
from inmail_guard.api.models import FACTS_EXAMPLE, MESSAGE_EXAMPLE
from inmail_guard.engine.evaluator import Engine, PolicyCompileError
from inmail_guard.engine.types import Decision
from inmail_guard.engine.wire import request_adapter
from inmail_guard.plugins.manager import PluginError
from inmail_guard.policies.errors import PolicyError
from inmail_guard.policies.loader import BUILTIN_DEFAULT, load_policy_text
from inmail_guard.policies.schema import Policy
from inmail_guard.policies.yamlpos import parse_yaml

_MESSAGE = {k: v for k, v in MESSAGE_EXAMPLE.items() if k in
            ("sender_id", "recipient_id", "subject", "body", "tags")}

#: name -> (label, message fields, facts). The first is the form's default.
EXAMPLES: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    "accepted": ("Recruiter, out of network, credits left (accepted)", _MESSAGE, FACTS_EXAMPLE),
    "opted_out": ("Recipient opted out of InMail (rejected)", _MESSAGE, {
        **FACTS_EXAMPLE, "recipient": {"id": "m-bob", "accepts_inmail": False}}),
    "spammy": ("Spammy wording, sent in a burst (spam signals)", {
        **_MESSAGE, "subject": "URGENT: guaranteed income, act now",
        "body": "Make money fast!!! 100% guaranteed, risk-free, no experience needed. "
                "Click here: bit.ly/free-cash and act now, limited time offer!"},
        {**FACTS_EXAMPLE, "recent_sends": [
            f"2026-11-27T08:{m:02d}:00Z" for m in range(30, 59)]}),
    "no_credits": ("Basic plan: no InMail credits (rejected)", _MESSAGE, {
        **FACTS_EXAMPLE, "sender": {"id": "m-alice", "plan": "basic"}}),
    "connection": ("Recipient is a 1st-degree connection (rejected)", _MESSAGE, {
        **FACTS_EXAMPLE, "connection_degree": 1}),
}

_FILE_KEYS = ("extends", "file", "model", "path")
_CANDIDATE_DIR = os.path.join(tempfile.gettempdir(), "inmail-guard-console-candidate")


@dataclass
class FormState:
    """What the Playground form holds (also what it shows again after a submit)."""

    sender_id: str = ""
    recipient_id: str = ""
    subject: str = ""
    body: str = ""
    tags: str = ""
    facts: str = ""
    policy_mode: str = "live"
    candidate: str = ""
    example: str = "accepted"

    @classmethod
    def example_state(cls, name: str, candidate: str = "") -> FormState:
        _, message, facts = EXAMPLES.get(name, EXAMPLES["accepted"])
        return cls(sender_id=message["sender_id"], recipient_id=message["recipient_id"],
                   subject=message["subject"], body=message["body"],
                   tags=", ".join(message.get("tags", ())),
                   facts=json.dumps(facts, indent=2), candidate=candidate,
                   example=name if name in EXAMPLES else "accepted")

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> FormState:
        return cls(**{k: form.get(k, "") for k in
                      ("sender_id", "recipient_id", "subject", "body", "tags", "facts",
                       "candidate", "example")},
                   policy_mode="candidate" if form.get("policy_mode") == "candidate"
                   else "live")


@dataclass
class Outcome:
    """The result of a submit: a decision, or the problems that kept it from being made."""

    decision: Decision | None = None
    request_issues: list[dict[str, str]] = field(default_factory=list)
    policy_issues: list[dict[str, Any]] = field(default_factory=list)
    policy_name: str = ""
    policy_version: str = ""


def parse_request(state: FormState) -> tuple[Any, list[dict[str, str]]]:
    """The form as the ``POST /v1/evaluate`` body, validated by the same adapter."""
    try:
        facts = json.loads(state.facts) if state.facts.strip() else None
    except json.JSONDecodeError as exc:
        return None, [{"field": "facts", "message": f"not valid JSON at line {exc.lineno},"
                       f" column {exc.colno}: {exc.msg}"}]
    tags = [t.strip() for t in state.tags.split(",") if t.strip()]
    message = {"sender_id": state.sender_id, "recipient_id": state.recipient_id,
               "subject": state.subject, "body": state.body, "tags": tags}
    body: dict[str, Any] = {"message": message}
    if facts is not None:
        body["facts"] = facts
    try:
        return request_adapter().validate_json(json.dumps(body)), []
    except ValidationError as exc:
        return None, validation_issues(exc.errors(include_input=False, include_url=False))


class PlaygroundEngines:
    """Engines for the Playground, one per policy version (the last few), never the serving
    engine, so playground decisions are counted nowhere."""

    def __init__(self, size: int = 4) -> None:
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, policy: Policy) -> Engine:
        with self._lock:
            engine = self._engines.get(policy.version)
            if engine is not None:
                self._engines.move_to_end(policy.version)
                return engine
        engine = Engine(policy)  # may raise PolicyCompileError / PluginError
        with self._lock:
            self._engines[policy.version] = engine
            while len(self._engines) > self._size:
                self._engines.popitem(last=False)
        return engine


def load_candidate(text: str) -> tuple[Policy | None, list[dict[str, Any]]]:
    """A pasted policy, validated; or its issues, each with the line and column it is at."""
    if not text.strip():
        return None, [{"line": 1, "column": 1, "path": "",
                       "message": "the candidate policy is empty: paste a policy's YAML"}]
    refused = refused_references(text)
    if refused:
        return None, refused
    # Relative names resolve against a directory that holds nothing.
    source = os.path.join(_CANDIDATE_DIR, "candidate.yaml")
    try:
        return load_policy_text(text, source), []
    except PolicyError as exc:
        return None, [{"line": i.line, "column": i.column, "path": i.path,
                       "message": i.message} for i in exc.issues]


def compile_issues(exc: Exception, text: str | None) -> list[dict[str, Any]]:
    """A policy that validated but does not compile (unknown detector, bad plugin settings)."""
    problems = exc.problems if isinstance(exc, PolicyCompileError) else [("", str(exc))]
    positions = parse_yaml(text, "candidate").positions if text else None
    out = []
    for path, message in problems:
        line, column = 1, 1
        if positions is not None and path:
            parts = tuple(int(p) if p.isdigit() else p for p in path.split("."))
            mark = positions.key(parts)
            line, column = mark.line, mark.column
        out.append({"line": line, "column": column, "path": path, "message": message})
    return out


def refused_references(text: str) -> list[dict[str, Any]]:
    """The settings of a pasted policy that name a file, each at its line. Parsed with the
    policy loader's bounded YAML reader (size, aliases, depth), so a hostile paste costs what a
    policy file may; a paste that is not YAML is left to the loader to report."""
    parsed = parse_yaml(text, "candidate")
    if not parsed.ok or parsed.data is None:
        return []
    issues: list[dict[str, Any]] = []
    seen: set[int] = set()

    def walk(value: Any, path: tuple[Any, ...]) -> None:
        if id(value) in seen:  # an alias of a value already looked at
            return
        if isinstance(value, dict):
            seen.add(id(value))
            for key, item in value.items():
                here = (*path, key)
                name = str(key)
                if _names_a_file(name) and item is not None and not isinstance(
                        item, dict | list):
                    allowed = (str(item) == ""
                               or (name in ("extends", "model")
                                   and str(item).startswith("builtin:")))
                    if not allowed:
                        mark = parsed.positions.key(here)
                        issues.append({
                            "line": mark.line, "column": mark.column,
                            "path": ".".join(str(p) for p in here),
                            "message": f"{name}: a candidate pasted in the console cannot"
                                       " name a file on the server; use inline values"
                                       + (f" or {BUILTIN_DEFAULT}" if name == "extends"
                                          else " or a builtin: model" if name == "model"
                                          else "")})
                walk(item, here)
        elif isinstance(value, list):
            seen.add(id(value))
            for i, item in enumerate(value):
                walk(item, (*path, i))

    walk(parsed.data, ())
    return sorted(issues, key=lambda i: (i["line"], i["column"]))


def _names_a_file(key: str) -> bool:
    return key in _FILE_KEYS or key.endswith(("_file", "_path"))


def evaluate(state: FormState, live: Policy, engines: PlaygroundEngines) -> Outcome:
    request, request_issues = parse_request(state)
    policy = live
    if state.policy_mode == "candidate":
        candidate, policy_issues = load_candidate(state.candidate)
        if candidate is None:
            return Outcome(request_issues=request_issues, policy_issues=policy_issues)
        policy = candidate
    try:
        engine = engines.get(policy)
    except (PolicyCompileError, PluginError, ValueError) as exc:
        text = state.candidate if state.policy_mode == "candidate" else None
        return Outcome(request_issues=request_issues, policy_issues=compile_issues(exc, text),
                       policy_name=policy.name, policy_version=policy.version)
    if request is None:
        return Outcome(request_issues=request_issues, policy_name=policy.name,
                       policy_version=policy.version)
    decision = engine.evaluate(request.message, request.facts)
    return Outcome(decision=decision, policy_name=policy.name, policy_version=policy.version)


def signal_rows(decision: Decision) -> list[dict[str, Any]]:
    """Each detector's signal with its bar: the width is the score against ``restrict_at``
    (a full bar), and the page marks ``reject_at`` on the same scale."""
    spam = decision.spam
    scale = max(spam.restrict_at, spam.reject_at, 1e-9)
    rows = []
    for s in spam.signals:
        rows.append({"detector": s.detector, "score": s.score, "detail": s.detail,
                     "error": s.error, "shadow": s.shadow,
                     "width": round(min(max(s.score, 0.0) / scale, 1.0) * 100, 1)})
    return rows


def spam_scale(decision: Decision) -> dict[str, float]:
    spam = decision.spam
    scale = max(spam.restrict_at, spam.reject_at, 1e-9)
    return {"score": spam.score, "reject_at": spam.reject_at, "restrict_at": spam.restrict_at,
            "width": round(min(max(spam.score, 0.0) / scale, 1.0) * 100, 1),
            "reject_pos": round(min(spam.reject_at / scale, 1.0) * 100, 1)}
