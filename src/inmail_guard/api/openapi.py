"""The OpenAPI document at ``/openapi.json``: what FastAPI derives from the routes, plus what
only the running server knows, so that data the document calls valid is accepted and data it
calls invalid is refused (``tests/api/test_schemathesis.py`` holds it to that).

* Request schemas that routes reference by ``$ref`` without declaring a body parameter
  (``POST /v1/evaluate`` parses its body itself).
* The plan names of the active policy: a member's ``plan`` (``PUT``/``PATCH
  /v1/members/{id}``) and the sender's in ``/v1/evaluate`` facts must be one of them (422
  ``unknown_plan`` otherwise). The document is rebuilt when a reload changes the policy.
* What a send stores, beyond the engine's ``Message``: ids, tags, CRM references and the
  idempotency key within their columns, and no NUL character in any text (422
  ``invalid_request`` otherwise; :meth:`InMailService._check_message`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from inmail_guard.api.models import NO_NUL
from inmail_guard.api.routes.common import YEAR_IN_RANGE
from inmail_guard.bounds import MAX_YEAR, MIN_YEAR
from inmail_guard.service.send import SEND_TEXT_LIMITS


def _text(max_chars: int | None = None, min_chars: int = 0) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string", "pattern": NO_NUL}
    if max_chars is not None:
        schema["maxLength"] = max_chars
    if min_chars:
        schema["minLength"] = min_chars
    return schema


def send_message_limits() -> dict[str, Any]:
    """What ``POST /v1/inmails`` requires of ``message`` on top of the ``Message`` schema."""
    limits = SEND_TEXT_LIMITS
    return {
        "type": "object",
        "properties": {
            "sender_id": _text(limits["id"], 1),
            "recipient_id": _text(limits["id"], 1),
            "subject": _text(),
            "body": _text(),
            "tags": {"type": "array", "items": _text(limits["tag"])},
            "crm": {"type": "object", "propertyNames": _text(),
                    "additionalProperties": _text(),
                    "properties": {k: _text(n) for k, n in limits["crm"].items()}},
            "idempotency_key": {"anyOf": [_text(limits["idempotency_key"], 1),
                                          {"type": "null"}]},
        },
    }


def install(app: FastAPI, adapters: dict[str, Any], plans: Callable[[], tuple[str, ...]]) -> None:
    """Make ``app.openapi()`` return the document described above (rebuilt when ``plans()``
    changes)."""
    generate = app.openapi
    built: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        current = plans()
        if app.openapi_schema and built.get("plans") == current:
            return app.openapi_schema
        app.openapi_schema = None
        schema = generate()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, adapter in adapters.items():
            js = adapter.json_schema(ref_template="#/components/schemas/{model}")
            for def_name, definition in js.pop("$defs", {}).items():
                components.setdefault(def_name, definition)
            components[name] = js
        _refine(components, list(current))
        _integer_bounds(schema)
        app.openapi_schema = schema
        built["plans"] = current
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _integer_bounds(node: Any) -> None:
    """FastAPI's OpenAPI model holds bounds as floats (``maximum: 2147483647.0``); an integer's
    bounds are integers again, so clients and generators don't read the field as a float."""
    if isinstance(node, dict):
        if node.get("type") == "integer":
            for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
                if isinstance(node.get(key), float) and node[key].is_integer():
                    node[key] = int(node[key])
        for value in node.values():
            _integer_bounds(value)
    elif isinstance(node, list):
        for value in node:
            _integer_bounds(value)


def _refine(components: dict[str, Any], plans: list[str]) -> None:
    plan = {"type": "string", "enum": plans,
            "description": "One of the active policy's plans."}
    for name in ("MemberIn", "MemberPatch"):
        if name in components:
            components[name]["properties"]["plan"] = plan
    facts = components.get("Facts")
    if facts is not None:
        facts["properties"]["now"] = {**facts["properties"]["now"], "pattern": YEAR_IN_RANGE,
                                      "description": "ISO 8601 with a time zone; years"
                                      f" {MIN_YEAR}-{MAX_YEAR}."}
        sender = facts["properties"]["sender"]
        facts["properties"]["sender"] = {"allOf": [sender, {
            "properties": {"plan": plan},
            # Left out, the plan is "basic": required when the policy has no such plan.
            **({} if "basic" in plans else {"required": ["plan"]})}]}
    send = components.get("SendRequest")
    if send is not None:
        message = send["properties"]["message"]
        send["properties"]["message"] = {"allOf": [message, send_message_limits()]}
