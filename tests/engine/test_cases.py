"""Data-driven policy cases: each asserts the decision AND the reason codes that decided it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from inmail_guard import Engine, load_policy
from inmail_guard.engine.wire import parse_request

CASES = Path(__file__).parent / "cases"


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load_cases() -> list[Any]:
    params = []
    for path in sorted(CASES.glob("*.yaml")):
        suite = yaml.safe_load(path.read_text())
        policy = suite["policy"]
        if not policy.startswith("builtin:"):
            policy = str(path.parent / policy)
        for case in suite["cases"]:
            message = deep_merge(suite["defaults"]["message"], case.get("message", {}))
            facts = deep_merge(suite["defaults"]["facts"], case.get("facts", {}))
            facts.setdefault("now", suite["now"])
            params.append(pytest.param(policy, message, facts, case["expect"],
                                       id=f"{path.stem}: {case['name']}"))
    return params


_engines: dict[str, Engine] = {}


def engine_for(policy: str) -> Engine:
    if policy not in _engines:
        _engines[policy] = Engine(load_policy(policy))
    return _engines[policy]


@pytest.mark.parametrize(("policy", "message", "facts", "expect"), load_cases())
def test_case(policy: str, message: dict, facts: dict, expect: dict) -> None:
    msg, fct = parse_request({"message": message, "facts": facts})
    decision = engine_for(policy).evaluate(msg, fct)
    assert (decision.outcome, sorted(decision.codes)) == (
        expect["outcome"], sorted(expect["codes"])
    ), decision.to_dict()
    if "sender_message" in expect:
        assert [r.sender_message for r in decision.reasons] == [expect["sender_message"]]
    assert sorted(s.code for s in decision.shadow) == sorted(expect.get("shadow", []))
    if decision.outcome == "rejected":
        assert decision.reasons, "a rejection always carries a reason"


def test_every_reason_code_has_a_case() -> None:
    from inmail_guard.reasons import REASON_CODES

    covered = set()
    for param in load_cases():
        expect = param.values[3]
        covered |= set(expect["codes"]) | set(expect.get("shadow", []))
    # detector_failed is covered by tests/engine/test_plugins.py (it needs a raising plugin)
    assert REASON_CODES - covered == {"detector_failed"}
