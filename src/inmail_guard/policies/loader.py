"""YAML -> Policy. (Interim version: the full loader with positions and extends replaces it.)"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from inmail_guard.policies.schema import Policy


class PolicyError(ValueError):
    pass


def _stamp(policy: Policy, source: str | None) -> Policy:
    data = policy.model_dump(mode="json", exclude={"extends"})
    digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
    policy._version = f"sha256:{digest}"
    policy._source = source
    return policy


def load_policy(path: str | Path) -> Policy:
    if str(path) == "builtin:default":
        return default_policy()
    data: Any = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    return _stamp(Policy.model_validate(data), str(path))


def default_policy() -> Policy:
    text = resources.files("inmail_guard.policies").joinpath("default.yaml").read_text("utf-8")
    return _stamp(Policy.model_validate(yaml.safe_load(text)), "builtin:default")
