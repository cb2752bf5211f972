"""Policies that load but that no engine can run: a classifier model missing, or pinned to
the wrong sha256. ``policy validate`` refuses both; so must every command that evaluates."""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

import pytest

ZEROS = "sha256:" + "0" * 64


def broken_policy(path: Path, classifier: str) -> Path:
    path.write_text("extends: builtin:default\nname: broken\nspam:\n  detectors:\n"
                    f"    classifier: {classifier}\n", encoding="utf-8")
    return path


@pytest.fixture
def missing_model(tmp_path: Path) -> tuple[Path, str]:
    """(policy file, the error every command must print for it)."""
    model = tmp_path / "nope.joblib"
    policy = broken_policy(tmp_path / "missing-model.yaml", f"{{model: '{model}'}}")
    return policy, (
        f"Error: {policy}:5:5: spam.detectors: the engine cannot run this policy:"
        f" ModelVerificationError: {model}: no such model: neither it nor its manifest"
        f" nope.json is in {tmp_path.resolve()}. Fix: give the path of a .joblib written by"
        " `inmail-guard model train`, or builtin:spam-v1\n")


@pytest.fixture
def wrong_sha(tmp_path: Path) -> tuple[Path, str]:
    model = Path(str(resources.files("inmail_guard.models") / "spam-v1.joblib"))
    actual = hashlib.sha256(model.read_bytes()).hexdigest()
    policy = broken_policy(tmp_path / "wrong-sha.yaml",
                           f"{{model: 'builtin:spam-v1', sha256: '{ZEROS}'}}")
    return policy, (
        f"Error: {policy}:5:5: spam.detectors: the engine cannot run this policy:"
        f" ModelVerificationError: {model}: sha256 mismatch: the caller pins {ZEROS}, the file"
        f" has sha256:{actual}. Refusing to unpickle it. Fix: point the policy at the model it"
        " pins, or update the pin after checking the new model (`inmail-guard model info`).\n")
