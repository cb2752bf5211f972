"""Turning plain dicts (YAML suites, JSON Lines traffic, CSV corpora) into engine inputs.

The engine's dataclasses are validated with pydantic ``TypeAdapter`` s built from the classes
themselves, once, at this edge.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError

from inmail_guard.engine.types import Facts, Message
from inmail_guard.fieldpath import format_path

MESSAGE = TypeAdapter(Message)
FACTS = TypeAdapter(Facts)

#: The keys a replay record may carry in ``message`` instead of ``body`` (see docs/workflow.md).
HASHED_BODY_KEYS = ("body_sha256", "body_length")


class RecordError(ValueError):
    """A message or facts dict that does not validate; ``str()`` names each bad field."""


def describe_validation_error(exc: ValidationError, prefix: str) -> str:
    parts = []
    for err in exc.errors():
        loc = format_path((prefix, *err["loc"]))
        if err["type"] in ("extra_forbidden", "unexpected_keyword_argument"):
            parts.append(f"{loc}: unknown field; remove it")  # as HTTP and `evaluate` say
            continue
        found = err.get("input")
        shown = "" if isinstance(found, dict | list) else f" (found {found!r})"
        parts.append(f"{loc}: {err['msg']}{shown}")
    return "; ".join(parts)


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` wins; nested mappings merge key by key, lists and scalars are replaced.

    The result shares nothing mutable with either argument, so a caller may fill it in (as
    :func:`fill_ids` does) without changing the defaults the next record merges with."""
    out = copy.deepcopy(dict(base))
    for key, value in override.items():
        old = out.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            out[key] = deep_merge(old, value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_message(data: Any) -> Message:
    if not isinstance(data, Mapping):
        raise RecordError(f"message: expected a mapping, found {type(data).__name__}")
    try:
        return MESSAGE.validate_python(data)
    except ValidationError as exc:
        raise RecordError(describe_validation_error(exc, "message")) from None


def parse_facts(data: Any) -> Facts:
    if not isinstance(data, Mapping):
        raise RecordError(f"facts: expected a mapping, found {type(data).__name__}")
    try:
        return FACTS.validate_python(data)
    except ValidationError as exc:
        raise RecordError(describe_validation_error(exc, "facts")) from None


def fill_ids(message: dict[str, Any], facts: dict[str, Any]) -> None:
    """Let short cases name a member once: ``message.sender_id`` <-> ``facts.sender.id``."""
    for side in ("sender", "recipient"):
        member = facts.get(side)
        if member is None:
            member = facts[side] = {}
        if not isinstance(member, dict):
            continue
        key = f"{side}_id"
        if key not in message and "id" in member:
            message[key] = member["id"]
        message.setdefault(key, side)
        member.setdefault("id", message[key])
