"""The loader refuses anything it cannot verify, with messages that say what and how to fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from inmail_guard.models import ModelVerificationError, SpamModel, load_model
from inmail_guard.models.artifact import library_versions, load_model_uncached
from inmail_guard.models.features import inmail_text
from inmail_guard.models.manifest import REQUIRED_FIELDS
from model_pins import pin


def manifest_of(artifact: Path) -> dict[str, Any]:
    return json.loads(artifact.with_suffix(".json").read_text(encoding="utf-8"))


def rewrite_manifest(artifact: Path, **changes: Any) -> dict[str, Any]:
    manifest = manifest_of(artifact)
    manifest.update(changes)
    artifact.with_suffix(".json").write_text(json.dumps(manifest), encoding="utf-8")
    return manifest


def refused(ref: Path | str, sha256: str | None = None) -> str:
    """The refusal of ``ref``, pinned with ``sha256``, else as trained (the manifest's digest;
    an external model is refused unpinned), so each test meets the problem it made."""
    if sha256 is None and not str(ref).startswith("builtin:"):
        try:
            sha256 = pin(ref)
        except ValueError:  # a manifest that is not JSON: refused before the pin matters
            sha256 = "ab" * 32
    with pytest.raises(ModelVerificationError) as info:
        load_model(str(ref), sha256)
    return str(info.value)


def test_trained_artifact_loads_and_manifest_has_every_field(tiny_copy: Path) -> None:
    manifest = manifest_of(tiny_copy)
    assert set(REQUIRED_FIELDS) <= set(manifest)
    assert manifest["versions"] == library_versions()
    data, mail = manifest["training_data"]
    assert (data["file"], data["rows"], data["ham"], data["spam"]) == ("tiny.csv", 60, 30, 30)
    assert (mail["file"], mail["rows"], mail["ham"], mail["spam"]) == (
        "tiny_email.csv", 20, 10, 10)
    assert len(data["sha256"]) == 64
    # tiny.csv is short-message text, tiny_email.csv e-mail: a threshold for each channel and
    # an e-mail route; the fallback threshold is the InMail channel's.
    assert manifest["routes"] == ["e:"]
    assert set(manifest["thresholds"]) == {"e:", "s:"}
    assert manifest["command"].startswith("inmail-guard model train ")
    assert "--seed 7" in manifest["command"]
    assert 0 < manifest["threshold"] <= 1
    assert {"f1", "ham_fpr", "mcc", "roc_auc", "confusion"} <= set(
        manifest["metrics"]["validation"]["tiny.csv"]
    )
    model = load_model(str(tiny_copy), manifest["sha256"])
    assert isinstance(model, SpamModel)
    assert model.name == "tiny"
    assert model.sha256 == manifest["sha256"]
    assert model.version == f"sha256:{manifest['sha256']}"
    assert model.threshold == manifest["threshold"]
    assert model.thresholds == manifest["thresholds"]
    assert set(model.routes) == {"e:"}
    assert model.threshold_for("Subject: hi\nthere") == manifest["thresholds"]["e:"]
    assert model.threshold_for("hi there") == manifest["thresholds"]["s:"]
    assert model.threshold_for(inmail_text("hi", "there")) == manifest["threshold"]
    assert model.manifest["name"] == "tiny"
    p = model.spam_probability("EARN $$$ FROM HOME!!! click here now")
    assert 0.0 <= p <= 1.0


def test_load_is_cached_per_path_and_pin(tiny_copy: Path) -> None:
    sha = manifest_of(tiny_copy)["sha256"]
    first = load_model(str(tiny_copy), pin(tiny_copy))
    assert load_model(str(tiny_copy), pin(tiny_copy)) is first
    assert load_model(str(tiny_copy), f"sha256:{sha}") is not first
    assert load_model(str(tiny_copy.with_suffix(".json")), pin(tiny_copy)) is first


def test_one_flipped_byte_is_refused(tiny_copy: Path) -> None:
    expected = manifest_of(tiny_copy)["sha256"]
    data = bytearray(tiny_copy.read_bytes())
    data[len(data) // 2] ^= 0x01
    tiny_copy.write_bytes(bytes(data))
    import hashlib

    found = hashlib.sha256(bytes(data)).hexdigest()
    command = manifest_of(tiny_copy)["command"]
    assert refused(tiny_copy) == (
        f"{tiny_copy}: sha256 mismatch: manifest tiny.json expects {expected}, the file has "
        f"{found}. The file changed after it was built; refusing to unpickle it. "
        f"Fix: restore the original file or retrain with: {command}"
    )


def test_wrong_sha_in_manifest(tiny_copy: Path) -> None:
    found = manifest_of(tiny_copy)["sha256"]
    rewrite_manifest(tiny_copy, sha256="0" * 64)
    message = refused(tiny_copy)
    assert message.startswith(
        f"{tiny_copy}: sha256 mismatch: manifest tiny.json expects {'0' * 64}, "
        f"the file has {found}."
    )


def test_pinned_sha_must_match(tiny_copy: Path) -> None:
    found = manifest_of(tiny_copy)["sha256"]
    assert refused(tiny_copy, "sha256:" + "ab" * 32) == (
        f"{tiny_copy}: sha256 mismatch: the caller pins sha256:{'ab' * 32}, the file has "
        f"sha256:{found}. Refusing to unpickle it. Fix: point the policy at the model it pins, "
        "or update the pin after checking the new model (`inmail-guard model info`)."
    )


def test_bad_json_manifest(tiny_copy: Path) -> None:
    mpath = tiny_copy.with_suffix(".json")
    mpath.write_text('{"name": "tiny",\n  "sha256": }', encoding="utf-8")
    assert refused(tiny_copy) == (
        f"{mpath}:2:13: manifest is not valid JSON: Expecting value. Fix: restore tiny.json as "
        "written by `inmail-guard model train`, or retrain."
    )


def test_missing_field(tiny_copy: Path) -> None:
    manifest = manifest_of(tiny_copy)
    del manifest["versions"]
    mpath = tiny_copy.with_suffix(".json")
    mpath.write_text(json.dumps(manifest), encoding="utf-8")
    assert refused(tiny_copy) == (
        f"{mpath}: manifest is missing the field(s) 'versions'. Fix: restore tiny.json as "
        "written by `inmail-guard model train`, or retrain."
    )


def test_missing_manifest(tiny_copy: Path) -> None:
    mpath = tiny_copy.with_suffix(".json")
    mpath.unlink()
    assert refused(tiny_copy) == (
        f"{mpath}: manifest not found; a model is only loaded with its manifest. Fix: restore "
        "tiny.json as written by `inmail-guard model train`, or retrain."
    )


def test_sklearn_minor_version_mismatch_is_an_error(tiny_copy: Path) -> None:
    manifest = manifest_of(tiny_copy)
    installed = library_versions()["sklearn"]
    major, minor = installed.split(".")[:2]
    other = f"{major}.{int(minor) + 1}.0"
    rewrite_manifest(tiny_copy, versions={**manifest["versions"], "sklearn": other})
    assert refused(tiny_copy) == (
        f"{tiny_copy}: built with scikit-learn {other} but scikit-learn {installed} is "
        f"installed; scikit-learn {major}.{int(minor) + 1}.x is required (manifest tiny.json). "
        f"Refusing to unpickle it. Fix: install scikit-learn {major}.{int(minor) + 1}.x or "
        f"retrain with: {manifest['command']}"
    )


def test_sklearn_patch_difference_is_accepted(tiny_copy: Path) -> None:
    manifest = manifest_of(tiny_copy)
    major, minor = library_versions()["sklearn"].split(".")[:2]
    rewrite_manifest(tiny_copy, versions={**manifest["versions"], "sklearn": f"{major}.{minor}.99"})
    assert load_model_uncached(str(tiny_copy), pin(tiny_copy)).name == "tiny"


def test_numpy_major_mismatch_is_an_error(tiny_copy: Path) -> None:
    manifest = manifest_of(tiny_copy)
    rewrite_manifest(tiny_copy, versions={**manifest["versions"], "numpy": "1.26.4"})
    assert "built with numpy 1.26.4 but numpy" in refused(tiny_copy)


def test_feature_version_mismatch(tiny_copy: Path) -> None:
    rewrite_manifest(tiny_copy, features="inmail-guard-words/0")
    assert "built for features 'inmail-guard-words/0'" in refused(tiny_copy)


def test_unknown_builtin_and_missing_file(tmp_path: Path) -> None:
    assert refused("builtin:nope") == (
        "builtin:nope: no such built-in model; built-in models: builtin:spam-v1."
    )
    missing = tmp_path / "gone.joblib"
    assert refused(missing) == (
        f"{missing}: no such model: neither it nor its manifest gone.json is in"
        f" {tmp_path.resolve()}. Fix: give the path of a .joblib written by `inmail-guard model"
        " train`, or builtin:spam-v1")
    assert refused(tmp_path / "no-such-folder" / "m.joblib") == (
        f"{tmp_path / 'no-such-folder' / 'm.joblib'}: no such model: the folder"
        f" {tmp_path / 'no-such-folder'} does not exist. Fix: give the path of a .joblib"
        " written by `inmail-guard model train`, or builtin:spam-v1")
    alone = tmp_path / "alone.joblib"
    alone.write_bytes(b"not a model")  # the model without its manifest: the manifest is named
    assert refused(alone).startswith(f"{tmp_path / 'alone.json'}: manifest not found")


def test_nothing_is_unpickled_before_verification(tiny_copy: Path, monkeypatch) -> None:
    import joblib

    def boom(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("unpickled an unverified file")

    monkeypatch.setattr(joblib, "load", boom)
    tiny_copy.write_bytes(tiny_copy.read_bytes() + b"\0")
    with pytest.raises(ModelVerificationError):
        load_model(str(tiny_copy), pin(tiny_copy))
