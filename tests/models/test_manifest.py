"""The manifest is checked whole (types, known fields, format, artifact) before any unpickling."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import joblib
import pytest

from inmail_guard.models import ModelVerificationError, load_model
from inmail_guard.models.manifest import MANIFEST_FORMAT, Manifest, read_manifest
from model_pins import pin


def manifest_of(artifact: Path) -> dict[str, Any]:
    return json.loads(artifact.with_suffix(".json").read_text(encoding="utf-8"))


def rewrite_manifest(target: Path, /, **changes: Any) -> None:
    manifest = manifest_of(target)
    manifest.update(changes)
    target.with_suffix(".json").write_text(json.dumps(manifest), encoding="utf-8")


@pytest.fixture
def no_unpickling(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("unpickled a file whose manifest is invalid")

    monkeypatch.setattr(joblib, "load", boom)


FIX = "Fix: restore tiny.json as written by `inmail-guard model train`, or retrain."


@pytest.mark.parametrize(("changes", "problem"), [
    ({"threshold": "abc"}, "field 'threshold': input should be a valid number, found 'abc'"),
    ({"threshold": 1.5},
     "field 'threshold': input should be less than or equal to 1, found 1.5"),
    ({"thresholds": [1, 2]},
     "field 'thresholds': input should be a valid dictionary, found [1, 2]"),
    ({"thresholds": {"e:": "0.4"}},
     "field 'thresholds.e:': input should be a valid number, found '0.4'"),
    ({"format": "something-else/9"},
     "field 'format': input should be 'inmail-guard-model/1', found 'something-else/9'"),
    ({"artifact": 7}, "field 'artifact': input should be a valid string, found 7"),
    ({"sha256": "xyz"},
     "field 'sha256': string should match pattern '^(sha256:)?[0-9a-fA-F]{64}$', found 'xyz'"),
    ({"name": "../escape"},
     "field 'name': string should match pattern '^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$', "
     "found '../escape'"),
    ({"created_at": "yesterday"},
     "field 'created_at': expected an ISO 8601 timestamp such as '2026-11-27T12:03:48+00:00', "
     "found 'yesterday'"),
    ({"training_data": [{"file": "a.csv"}]},
     "field 'training_data[0].sha256' is missing; field 'training_data[0].rows' is missing; "
     "field 'training_data[0].ham' is missing; field 'training_data[0].spam' is missing"),
    ({"surprise": 1}, "field 'surprise' is not a manifest field. Remove it"),
])
def test_bad_manifest_field_is_refused_before_unpickling(
    tiny_copy: Path, no_unpickling: None, changes: dict[str, Any], problem: str
) -> None:
    rewrite_manifest(tiny_copy, **changes)
    mpath = tiny_copy.with_suffix(".json")
    with pytest.raises(ModelVerificationError) as info:
        load_model(str(tiny_copy), pin(tiny_copy))
    assert str(info.value) == f"{mpath}: {problem}. {FIX}"


def test_artifact_field_must_name_the_file_next_to_the_manifest(
    tiny_copy: Path, no_unpickling: None
) -> None:
    rewrite_manifest(tiny_copy, artifact="other.joblib")
    with pytest.raises(ModelVerificationError) as info:
        load_model(str(tiny_copy), pin(tiny_copy))
    assert str(info.value) == (
        f"{tiny_copy.with_suffix('.json')}: field 'artifact' names 'other.joblib', but the "
        "manifest sits next to 'tiny.joblib'; a manifest only vouches for the file it was "
        "written with. Fix: give both files their original names (other.joblib and "
        "other.json), or retrain."
    )


def test_prefixed_uppercase_sha_is_one_spelling(tiny_copy: Path) -> None:
    sha = manifest_of(tiny_copy)["sha256"]
    rewrite_manifest(tiny_copy, sha256="sha256:" + sha.upper())
    assert read_manifest(tiny_copy)["sha256"] == sha
    model = load_model(str(tiny_copy), pin(tiny_copy))
    assert model.sha256 == sha
    assert model.version == f"sha256:{sha}"


def test_the_schema_format_is_the_written_format() -> None:
    assert Manifest.model_fields["format"].annotation.__args__ == (MANIFEST_FORMAT,)


def test_truncated_artifact_with_a_matching_manifest(tiny_copy: Path) -> None:
    data = tiny_copy.read_bytes()[:2000]
    tiny_copy.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    rewrite_manifest(tiny_copy, sha256=sha, size_bytes=len(data))
    command = manifest_of(tiny_copy)["command"]
    with pytest.raises(ModelVerificationError) as info:
        load_model(str(tiny_copy), pin(tiny_copy))
    message = str(info.value)
    assert message.startswith(
        f"{tiny_copy}: cannot unpickle the model file although its sha256 matches manifest "
        "tiny.json ("
    )
    assert message.endswith(
        "); the file is damaged (e.g. truncated) and its manifest was rewritten to match. "
        f"Fix: restore the original file or retrain with: {command}"
    )


def test_a_pickle_that_is_not_a_model(tiny_copy: Path) -> None:
    import io

    buffer = io.BytesIO()
    joblib.dump({"pipeline": 42, "routes": {}}, buffer)
    tiny_copy.write_bytes(buffer.getvalue())
    rewrite_manifest(tiny_copy, sha256=hashlib.sha256(buffer.getvalue()).hexdigest())
    with pytest.raises(ModelVerificationError) as info:
        load_model(str(tiny_copy), pin(tiny_copy))
    assert str(info.value) == (
        f"{tiny_copy}: not an inmail-guard spam model (no pipeline with our analyzer)."
    )
