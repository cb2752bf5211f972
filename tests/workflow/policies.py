"""Policy files for workflow tests: the shipped default with small edits."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import yaml

DEFAULT_TEXT = (resources.files("inmail_guard.policies") / "default.yaml").read_text("utf-8")


def default_data() -> dict:
    return yaml.safe_load(DEFAULT_TEXT)


def write_policy(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path
