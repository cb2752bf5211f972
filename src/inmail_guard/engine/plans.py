"""Plan credit limits, compiled once per policy, and the one error for a plan it does not declare.

The engine compiles :class:`PlanLimits` when it is built (``Engine.plans``); the credit rule,
the decision's ``credits`` and the service's credit accounts all read limits from it, so an
unknown plan is refused the same way everywhere: :class:`UnknownPlanError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inmail_guard.policies.schema import Policy


class UnknownPlanError(ValueError):
    """A member's plan is not one the policy declares: a configuration mismatch, not a rejection.

    Spelled as every coded error is (``code``, ``status``, ``message``, ``field``): HTTP 422
    ``unknown_plan``. ``field`` names where the plan came from: ``facts.sender.plan`` for an
    evaluation, ``plan`` for the service's members and sends."""

    code = "unknown_plan"
    status = 422

    def __init__(self, plan: str, policy_name: str, declared: tuple[str, ...], *,
                 field: str = "facts.sender.plan", what: str = "sender plan") -> None:
        self.plan = plan
        self.field = field
        # A look-alike (Cyrillic U+0435 for 'e') or invisible character shown as an escape:
        # printed as is, the plan would read as the declared one it imitates.
        shown = repr(plan) if plan.isascii() else f"{plan!a} (non-ASCII characters as \\u)"
        self.message = (f"{what} {shown} is not declared in policy {policy_name!r}"
                        f" (plans: {', '.join(declared)}); add it under plans: or fix the"
                        " member's plan")
        super().__init__(self.message)

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, "field": self.field}


@dataclass(frozen=True, slots=True)
class PlanLimits:
    """Each declared plan's monthly credits (``plans.<name>.monthly_credits``)."""

    policy_name: str
    limits: Mapping[str, int]

    @classmethod
    def of(cls, policy: Policy) -> PlanLimits:
        return cls(policy.name, MappingProxyType(
            {name: plan.monthly_credits for name, plan in policy.plans.items()}))

    def limit(self, plan: str, *, field: str = "facts.sender.plan",
              what: str = "sender plan") -> int:
        """The plan's monthly credits; :class:`UnknownPlanError` for a plan not declared."""
        try:
            return self.limits[plan]
        except KeyError:
            raise UnknownPlanError(plan, self.policy_name, tuple(sorted(self.limits)),
                                   field=field, what=what) from None

    def __contains__(self, plan: object) -> bool:
        return plan in self.limits


__all__ = ["PlanLimits", "UnknownPlanError"]
