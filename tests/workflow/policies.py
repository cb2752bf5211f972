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


def controlled_data() -> dict:
    """The default policy with only the test-string detector, whatever the shipped policy
    enables: tests of counts and scores must not move when a detector is added to it."""
    data = default_data()
    data["spam"]["detectors"] = {"test_string": {"score": 1000}}
    return data


def controlled_policy():
    from inmail_guard.policies.loader import load_policy_text

    return load_policy_text(yaml.safe_dump(controlled_data()), "controlled.yaml")
