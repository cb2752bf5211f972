"""Plan credit limits are compiled once per engine (``Engine.plans``), and a plan the policy does
not declare is one error everywhere: :class:`~inmail_guard.UnknownPlanError`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import inmail_guard as ig
from inmail_guard.engine.plans import PlanLimits, UnknownPlanError

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
MESSAGE = ig.Message("s", "r", "Hi", "Hello there, about a role")


def test_the_engine_compiles_the_limits_once_and_the_rule_and_credits_read_them():
    engine = ig.Engine(ig.default_policy())
    assert isinstance(engine.plans, PlanLimits)
    assert engine.plans.limit("premium_business") == 10
    decision = engine.evaluate(MESSAGE, ig.Facts(ig.Member("s", "premium_business"),
                                                 ig.Member("r"), NOW, credits_used=10))
    assert decision.codes == ("credits_exhausted",)
    assert (decision.credits.limit, decision.credits.remaining) == (10, 0)


def test_an_unknown_plan_is_one_coded_error():
    engine = ig.Engine(ig.default_policy())
    with pytest.raises(UnknownPlanError) as caught:
        engine.evaluate(MESSAGE, ig.Facts(ig.Member("s", "platinum"), ig.Member("r"), NOW))
    err = caught.value
    assert ig.UnknownPlanError is UnknownPlanError
    assert (err.code, err.status, err.field, err.plan) == (
        "unknown_plan", 422, "facts.sender.plan", "platinum")
    assert str(err).startswith("sender plan 'platinum' is not declared in policy"
                               " 'inmail-default' (plans: basic, job_seeker,")
    assert err.to_dict()["error"] == "unknown_plan"


def test_a_look_alike_plan_is_shown_with_escapes_not_as_a_declared_plan():
    engine = ig.Engine(ig.default_policy())
    for plan, shown in (("premium_busin\u0435ss", "'premium_busin\\u0435ss'"),
                        ("premium_business\u200b", "'premium_business\\u200b'")):
        with pytest.raises(UnknownPlanError) as caught:
            engine.evaluate(MESSAGE, ig.Facts(ig.Member("s", plan), ig.Member("r"), NOW))
        assert str(caught.value).startswith(
            f"sender plan {shown} (non-ASCII characters as \\u) is not declared in policy")


def test_the_old_import_path_still_names_the_same_class():
    from inmail_guard.engine.rules import UnknownPlanError as from_rules

    assert from_rules is UnknownPlanError
