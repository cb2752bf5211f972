"""The shipped JSON Schema is up to date; docs/policies.md documents every policy key."""

from __future__ import annotations

import json
import typing
from importlib import resources
from pathlib import Path

from pydantic import BaseModel

from inmail_guard.policies.loader import policy_schema_text
from inmail_guard.policies.schema import Policy

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_schema_is_up_to_date() -> None:
    shipped = resources.files("inmail_guard.policies").joinpath("policy.schema.json")
    assert shipped.read_text("utf-8") == policy_schema_text(), (
        "regenerate: inmail-guard policy schema --out"
        " src/inmail_guard/policies/policy.schema.json")
    assert json.loads(shipped.read_text("utf-8"))["$schema"].startswith("https://json-schema")


def test_default_policy_points_editors_at_the_shipped_schema() -> None:
    text = resources.files("inmail_guard.policies").joinpath("default.yaml").read_text("utf-8")
    assert text.splitlines()[0] == "# yaml-language-server: $schema=policy.schema.json"


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every key path: ``plans.<name>.monthly_credits``, ``blocklists[].code``, ..."""
    out = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        out.append(path)
        annotation = field.annotation
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        if origin is dict and _is_model(args[1]):
            out.extend(_keys(args[1], path + ".<name>."))
        elif origin is list and args and _is_model(args[0]):
            out.extend(_keys(args[0], path + "[]."))
        elif _is_model(annotation):
            out.extend(_keys(annotation, path + "."))
    return out


def _is_model(tp: object) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def test_docs_cover_every_policy_key() -> None:
    docs = (ROOT / "docs" / "policies.md").read_text(encoding="utf-8")
    missing = [key for key in _keys(Policy) if f"`{key}`" not in docs]
    assert not missing, f"docs/policies.md does not document: {missing}"
    assert "yaml-language-server: $schema=policy.schema.json" in docs
    assert "inmail-guard policy schema --out policy.schema.json" in docs
