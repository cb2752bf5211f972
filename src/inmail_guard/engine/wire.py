"""The JSON edge: ``{message, facts}`` in, validated once into the engine's frozen dataclasses.

One definition per field: the adapters are built from the dataclasses in :mod:`types`, whose
``__pydantic_config__`` forbids unknown keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import ConfigDict, TypeAdapter, ValidationError

from inmail_guard.engine.types import Facts, Message
from inmail_guard.fieldpath import format_path


@dataclass(frozen=True, slots=True)
class EvaluateRequest:
    __pydantic_config__ = ConfigDict(extra="forbid")
    message: Message
    facts: Facts


@lru_cache(maxsize=1)
def request_adapter() -> TypeAdapter[EvaluateRequest]:
    return TypeAdapter(EvaluateRequest)


class RequestError(ValueError):
    """A request that does not validate: ``errors`` are (field path, problem) pairs."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{path}: {problem}" if path else problem
                                   for path, problem in errors))


def describe(exc: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for err in exc.errors(include_url=False):
        problem = err["msg"]
        if err["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
            problem = "unknown field; remove it"
        elif err["type"] == "missing":
            problem = "required field is missing"
        problems.append((format_path(err["loc"]), problem))
    return problems


def parse_request(data: Any) -> tuple[Message, Facts]:
    """A decoded JSON object -> (Message, Facts), or :class:`RequestError` naming each field."""
    try:
        req = request_adapter().validate_python(data)
    except ValidationError as exc:
        raise RequestError(describe(exc)) from None
    return req.message, req.facts


def parse_request_json(raw: str | bytes) -> tuple[Message, Facts]:
    try:
        req = request_adapter().validate_json(raw)
    except ValidationError as exc:
        raise RequestError(describe(exc)) from None
    return req.message, req.facts
