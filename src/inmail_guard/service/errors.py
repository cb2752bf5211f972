"""What the service refuses, and how: :class:`ServiceError` with one of :data:`ERROR_CODES`.

Errors of the layers beneath are mapped at the façade's boundary (:func:`refusals`): the
store's :class:`~inmail_guard.store.errors.StoreUnavailable` becomes a ``database_unavailable``
refusal and the engine's :class:`~inmail_guard.engine.plans.UnknownPlanError` an
``unknown_plan`` one. Each mapped error is an instance of both classes, so a caller may catch
the service's error or the lower layer's, as before.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from inmail_guard.engine.plans import UnknownPlanError
from inmail_guard.store.errors import StoreUnavailable

if TYPE_CHECKING:
    from inmail_guard.policies.schema import Policy

#: Every error code the service raises, with the HTTP status the API maps it to.
ERROR_CODES: dict[str, int] = {
    "invalid_request": 422,  # a field is missing or malformed (``field`` says which)
    "unknown_plan": 422,  # a member's plan is not declared in the policy
    "member_not_found": 404,
    "inmail_not_found": 404,  # also: the acting recipient can no longer see it (retracted)
    "conversation_not_found": 404,
    "not_allowed": 403,  # the acting member may not do this to this InMail/conversation
    "idempotency_conflict": 409,  # same idempotency key, different message
    "retract_window_passed": 409,  # retract after lifecycle.retract_within
    "already_retracted": 409,
    "already_replied": 409,  # retract after the recipient replied
    "inmail_expired": 410,  # open/reply/report an unopened InMail after it expired
    # the database is down or too slow (a bounded timeout ran out); nothing was changed, retry
    "database_unavailable": 503,
}


class ServiceError(Exception):
    """A request the service refuses. ``code`` is one of :data:`ERROR_CODES`; nothing changed."""

    def __init__(self, code: str, message: str, *, field: str | None = None) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown service error code {code!r}")
        # Not super(): a mapped error's next class is the lower layer's (another signature).
        Exception.__init__(self, message)
        self.code = code
        self.message = message
        self.field = field

    @property
    def status(self) -> int:
        return ERROR_CODES[self.code]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.field is not None:
            out["field"] = self.field
        return out


class DatabaseUnavailable(ServiceError, StoreUnavailable):
    """``database_unavailable``: the store's :class:`StoreUnavailable`, as the service says it
    (``reason`` kept)."""

    def __init__(self, cause: StoreUnavailable) -> None:
        ServiceError.__init__(self, "database_unavailable", cause.message)
        self.reason = cause.reason


class PlanNotDeclared(ServiceError, UnknownPlanError):
    """``unknown_plan``: the engine's :class:`UnknownPlanError`, as the service says it."""

    def __init__(self, cause: UnknownPlanError) -> None:
        ServiceError.__init__(self, "unknown_plan", cause.message, field=cause.field)
        self.plan = cause.plan


def as_service_error(exc: BaseException) -> ServiceError | None:
    """The service's refusal for an error of a lower layer, or None if it is not one."""
    if isinstance(exc, ServiceError):
        return None
    if isinstance(exc, StoreUnavailable):
        return DatabaseUnavailable(exc)
    if isinstance(exc, UnknownPlanError):
        return PlanNotDeclared(exc)
    return None


P = ParamSpec("P")
R = TypeVar("R")


def refusals(method: Callable[P, R]) -> Callable[P, R]:
    """Wrap a façade method: lower layers' refusals leave it as :class:`ServiceError`."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except (StoreUnavailable, UnknownPlanError) as exc:
            mapped = as_service_error(exc)
            if mapped is None:
                raise
            raise mapped from exc

    return wrapper


def check_service_policy(policy: Policy) -> None:
    """Refuse, with a ``PolicyCompileError`` (a ``ValueError``) naming the key, a policy the
    InMail service cannot run: ``rules_mode.credits: shadow``. Every accepted send spends a
    credit, so here the credit rule cannot be advisory (a send it would have refused has no
    credit to spend)."""
    from inmail_guard.engine.evaluator import PolicyCompileError

    if policy.rules_mode.get("credits") == "shadow":
        raise PolicyCompileError([(
            "rules_mode.credits", "expected enforce for the InMail service, found shadow:"
            " every accepted send spends a credit. Shadow the credit rule in replay or policy"
            " test instead")])


def check_text(field: str, value: str | None, max_chars: int | None = None) -> None:
    """Refuse text the store cannot keep the same way on SQLite and PostgreSQL, before anything
    is written: a NUL character (PostgreSQL's text types cannot hold one), or more than
    ``max_chars`` characters (the column's size, which SQLite would not enforce). Raises
    ``ServiceError("invalid_request")`` naming ``field``; never repeats the value."""
    if value is None:
        return
    if "\x00" in value:
        raise ServiceError("invalid_request", f"{field} contains a NUL character (U+0000);"
                           " remove it", field=field)
    if max_chars is not None and len(value) > max_chars:
        raise ServiceError("invalid_request", f"{field} is {len(value)} characters long; at"
                           f" most {max_chars}", field=field)


__all__ = ["ERROR_CODES", "DatabaseUnavailable", "PlanNotDeclared", "ServiceError",
           "as_service_error", "check_service_policy", "check_text", "refusals"]
