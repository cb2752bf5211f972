"""A model is unpickled only when someone other than its manifest vouches for it: the package for
the model it ships (``models/pins.py``), the operator for any other (``sha256:`` in the policy).
Replacing a ``.joblib`` and its manifest together never runs code: not in ``policy validate``,
nor at ``serve`` start-up, nor on a hot reload."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from importlib import resources
from pathlib import Path

import joblib
import pytest
from click.testing import CliRunner

from inmail_guard import Engine
from inmail_guard.api.policy_state import PolicyHolder, PolicyReloadError
from inmail_guard.cli import main
from inmail_guard.models import BUILTIN_MODELS, ModelVerificationError, artifact, pins
from inmail_guard.policies.check import check_policy
from inmail_guard.policies.loader import load_policy

SHIPPED = Path(str(resources.files("inmail_guard.models")))


class _RunsCode:
    """Unpickling this creates ``marker``: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def plant(artifact_path: Path, marker: Path) -> str:
    """Replace ``artifact_path`` and its manifest by a pickle that runs code and a manifest that
    vouches for it (what someone who can write the model's folder can do); its sha256."""
    manifest = json.loads(artifact_path.with_suffix(".json").read_text())
    buffer = io.BytesIO()
    joblib.dump({"pipeline": _RunsCode(marker), "routes": {}}, buffer)
    data = buffer.getvalue()
    artifact_path.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    manifest.update(sha256=digest, size_bytes=len(data))
    artifact_path.with_suffix(".json").write_text(json.dumps(manifest))
    return digest


def policy_with(path: Path, classifier: str) -> Path:
    path.write_text("extends: builtin:default\nname: p\nspam:\n  detectors:\n"
                    f"    classifier: {classifier}\n", encoding="utf-8")
    return path


@pytest.fixture
def external(tiny_copy: Path, tmp_path: Path) -> tuple[Path, Path]:
    """(a trained model in the policy's folder, the marker a planted pickle would create)."""
    return tiny_copy, tmp_path / "code-ran"


def unpinned_message(model: Path) -> str:
    return (f"{model}: not pinned: a model inmail-guard does not ship is only loaded with the"
            " sha256 its user pins (loading unpickles it, which runs code, and the manifest"
            " tiny.json beside it proves nothing when both files can be replaced). Fix: check"
            " where the model comes from, then pin it: sha256: <hex> under"
            " spam.detectors.classifier in the policy, or --sha256 <hex> on the command line"
            f" (`inmail-guard model info {model}` prints it).")


def test_an_unpinned_external_model_is_a_policy_error_naming_the_key_and_the_fix(
        external: tuple[Path, Path], tmp_path: Path) -> None:
    model, marker = external
    policy = policy_with(tmp_path / "p.yaml", f"{{model: '{model}'}}")
    plant(model, marker)
    result = CliRunner().invoke(main, ["policy", "validate", str(policy)])
    assert result.exit_code == 1
    assert result.output.splitlines()[0] == (
        f"{policy}:5:5: spam.detectors: the engine cannot run this policy:"
        f" ModelVerificationError: {unpinned_message(model)}")
    assert not marker.exists()


def test_a_planted_model_never_runs_at_start_up_or_reload(
        external: tuple[Path, Path], tmp_path: Path) -> None:
    model, marker = external
    good = policy_with(tmp_path / "good.yaml", "{enabled: false}")
    holder = PolicyHolder(str(good), Engine)  # serve: start-up builds, reload rebuilds
    before = holder.active
    pinned = artifact.sha256_file(model)
    plant(model, marker)
    for classifier, problem in (
            (f"{{model: '{model}'}}", "not pinned"),
            (f"{{model: '{model}', sha256: '{pinned}'}}", "sha256 mismatch: the caller pins")):
        policy_with(good, classifier)
        with pytest.raises(PolicyReloadError) as err:
            holder.reload()
        assert problem in err.value.message
        assert holder.active is before
        with pytest.raises(ModelVerificationError, match=problem):
            Engine(load_policy(good))
        assert check_policy(good)[0] is None
    assert not marker.exists()


def test_a_pinned_external_model_loads(external: tuple[Path, Path], tmp_path: Path) -> None:
    model, _ = external
    sha = artifact.sha256_file(model)
    policy = policy_with(tmp_path / "p.yaml", f"{{model: '{model}', sha256: 'sha256:{sha}'}}")
    engine = Engine(load_policy(policy))
    (slot,) = [s for s in engine.detectors if s.detector.name == "classifier"]
    assert slot.detector.model.sha256 == sha


def test_the_builtin_model_is_pinned_by_the_package_not_its_manifest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for suffix in (".joblib", ".json"):
        shutil.copy(SHIPPED / f"spam-v1{suffix}", tmp_path / f"spam-v1{suffix}")
    copy, marker = tmp_path / "spam-v1.joblib", tmp_path / "code-ran"
    real_resolve = artifact.resolve
    monkeypatch.setattr(artifact, "resolve", lambda ref: copy if ref == "builtin:spam-v1"
                        else real_resolve(ref))
    assert artifact.load_model_uncached("builtin:spam-v1").sha256 == pins.BUILTIN_SHA256[
        "spam-v1"]  # the untouched copy loads
    planted = plant(copy, marker)
    expected = (f"{copy}: sha256 mismatch: inmail-guard pins its built-in builtin:spam-v1 to"
                f" sha256:{pins.BUILTIN_SHA256['spam-v1']} (inmail_guard/models/pins.py), the"
                f" file has sha256:{planted}. The installed package was modified; refusing to"
                " unpickle it. Fix: reinstall inmail-guard (after retraining the built-in"
                " model: python -m inmail_guard.models.pins).")
    for sha in (None, planted):  # the caller's pin cannot stand in for the package's
        with pytest.raises(ModelVerificationError) as err:
            artifact.load_model_uncached("builtin:spam-v1", sha)
        assert str(err.value) == expected
    with pytest.raises(ModelVerificationError, match="inmail-guard pins its built-in"):
        Engine(load_policy("builtin:default"))
    assert not marker.exists()


def test_every_shipped_model_is_pinned_in_code_to_the_file_shipped() -> None:
    assert sorted(pins.BUILTIN_SHA256) == sorted(BUILTIN_MODELS)
    for name, digest in pins.BUILTIN_SHA256.items():
        assert artifact.sha256_file(SHIPPED / f"{name}.joblib") == digest, (
            f"{name}.joblib changed: after checking it, run python -m inmail_guard.models.pins")


def test_regenerating_the_pins_rewrites_only_the_table(tmp_path: Path) -> None:
    source = Path(pins.__file__).read_text("utf-8")
    assert pins.render(source, pins.BUILTIN_SHA256) == source
    new = pins.render(source, {"spam-v1": "ab" * 32, "spam-v2": "cd" * 32})
    assert new.replace(f'    "spam-v1": "{"ab" * 32}",\n    "spam-v2": "{"cd" * 32}",\n',
                       f'    "spam-v1": "{pins.BUILTIN_SHA256["spam-v1"]}",\n') == source
