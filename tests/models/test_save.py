"""Saving a model replaces both files whole or not at all, under a checked name."""

from __future__ import annotations

import json
import os
import resource
from pathlib import Path
from typing import Any

import joblib
import pytest

from inmail_guard.models import artifact as artifact_module
from inmail_guard.models import load_model
from inmail_guard.models.artifact import save_model
from model_pins import pin

COMPUTED = ("format", "name", "artifact", "sha256", "size_bytes", "versions", "features")


def resave_args(tiny_copy: Path) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """What `model train` passes to save_model, recovered from the tiny model."""
    model = load_model(str(tiny_copy), pin(tiny_copy))
    facts = {k: v for k, v in model.manifest.items() if k not in COMPUTED}
    facts["created_at"] = "2030-01-01T00:00:00+00:00"  # so that the new manifest differs
    return model.pipeline, facts, model.routes


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_save_replaces_both_files(tiny_copy: Path) -> None:
    pipeline, facts, routes = resave_args(tiny_copy)
    path = save_model(pipeline, tiny_copy.parent, "tiny", facts, routes)
    assert path == tiny_copy.with_suffix(".json")
    assert sorted(snapshot(tiny_copy.parent)) == ["tiny.joblib", "tiny.json"]
    assert json.loads(path.read_text())["created_at"] == "2030-01-01T00:00:00+00:00"
    assert load_model(str(tiny_copy), pin(tiny_copy)).name == "tiny"


def fail_on_call(n: int, real: Any) -> Any:
    calls = []

    def fake(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        if len(calls) == n:
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)

    return fake


@pytest.mark.parametrize("where", ["dump", "artifact write", "manifest write", "rename"])
def test_failed_save_keeps_the_previous_model(
    tiny_copy: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    pipeline, facts, routes = resave_args(tiny_copy)
    before = snapshot(tiny_copy.parent)
    if where == "dump":
        monkeypatch.setattr(joblib, "dump", fail_on_call(1, joblib.dump))
    elif where == "artifact write":
        monkeypatch.setattr(os, "fsync", fail_on_call(1, os.fsync))
    elif where == "manifest write":
        monkeypatch.setattr(os, "fsync", fail_on_call(2, os.fsync))
    else:  # the artifact's rename fails: nothing was replaced yet
        monkeypatch.setattr(artifact_module.os, "replace", fail_on_call(1, os.replace))
    with pytest.raises(OSError, match="No space left on device"):
        save_model(pipeline, tiny_copy.parent, "tiny", facts, routes)
    assert snapshot(tiny_copy.parent) == before  # byte-identical, and no temporary file left


def test_file_size_limit_keeps_the_previous_model(tiny_copy: Path) -> None:
    """The audit's reproduction: `ulimit -f 4` while a model is saved over a good one."""
    pipeline, facts, routes = resave_args(tiny_copy)
    before = snapshot(tiny_copy.parent)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
    try:
        with pytest.raises(OSError) as info:
            save_model(pipeline, tiny_copy.parent, "tiny", facts, routes)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert info.value.strerror == "File too large"
    assert snapshot(tiny_copy.parent) == before
    assert load_model(str(tiny_copy), pin(tiny_copy)).name == "tiny"


@pytest.mark.parametrize("name", ["", "../../escape", "a/b", ".hidden", "..", "x" * 101,
                                  "caf\u00e9", "spam v1"])
def test_bad_names_write_nothing(tiny_copy: Path, tmp_path: Path, name: str) -> None:
    pipeline, facts, routes = resave_args(tiny_copy)
    out = tmp_path / "out"
    with pytest.raises(ValueError) as info:
        save_model(pipeline, out, name, facts, routes)
    assert str(info.value) == (
        f"model name {name!r} is not allowed: it becomes the file names NAME.joblib and "
        "NAME.json, so use letters, digits, '.', '_' and '-' only, not starting with '.', at "
        "most 100 characters. Fix: choose a name such as 'spam-v2'."
    )
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["tiny.joblib", "tiny.json"]


@pytest.mark.parametrize("name", ["spam-v2", "A_b.1", "-x", "x" * 100])
def test_good_names(tiny_copy: Path, tmp_path: Path, name: str) -> None:
    pipeline, facts, routes = resave_args(tiny_copy)
    path = save_model(pipeline, tmp_path, name, facts, routes)
    assert path == tmp_path / f"{name}.json"
    saved = tmp_path / f"{name}.joblib"
    assert load_model(str(saved), pin(saved)).name == name
