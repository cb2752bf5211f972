"""A model's manifest (``<name>.json`` next to ``<name>.joblib``): its schema and how it is read.

:func:`read_manifest` checks the whole manifest, every field's type, no unknown field, the
format and the artifact's name (:class:`Manifest`), before anything is unpickled; the rest of
the verification (sha256, library versions, features) is in :mod:`inmail_guard.models.artifact`.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from inmail_guard.bounds import Count
from inmail_guard.fieldpath import format_path

MANIFEST_FORMAT = "inmail-guard-model/1"
REQUIRED_FIELDS = (
    "format", "name", "artifact", "sha256", "versions", "features", "threshold",
    "created_at", "training_data", "metrics", "command",
)
#: How many leading version components must match between training and loading.
VERSION_MATCH = {"sklearn": 2, "numpy": 1, "scipy": 1, "joblib": 1, "python": 1}
#: A model name becomes the file names ``<name>.joblib`` and ``<name>.json``: no separators, no
#: leading dot (hidden files, ``..``), nothing a shell or another platform would mangle.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,99}$")
NAME_RULE = ("letters, digits, '.', '_' and '-' only, not starting with '.', "
             "at most 100 characters")
_SHA256 = r"^(sha256:)?[0-9a-fA-F]{64}$"


class ModelVerificationError(ValueError):
    """A model file or its manifest failed verification; nothing was unpickled."""


def check_model_name(name: str) -> str:
    """``name`` if it is a valid model name (:data:`NAME_PATTERN`), else a ``ValueError``."""
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError(
            f"model name {name!r} is not allowed: it becomes the file names NAME.joblib and "
            f"NAME.json, so use {NAME_RULE}. Fix: choose a name such as 'spam-v2'."
        )
    return name


Probability = Annotated[float, Field(ge=0, le=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Versions(_Strict):
    python: str
    sklearn: str
    numpy: str
    scipy: str
    joblib: str


class TrainingFile(_Strict):
    file: str
    sha256: Annotated[str, Field(pattern=_SHA256)]
    rows: Count
    ham: Count
    spam: Count


class PartnerInfo(_Strict):
    """A route's embedding partner (``partner.py``): which encoder, and how its weight was
    chosen."""

    encoder: str
    encoder_sha256: Annotated[str, Field(pattern=_SHA256)]
    weight: Annotated[float, Field(gt=0)]
    candidates: list[float] = Field(default_factory=list)
    validation_errors: dict[str, int] = Field(default_factory=dict)


class Manifest(_Strict):
    """The manifest ``<name>.json``, as :func:`save_model` writes it; checked before unpickling."""

    format: Literal["inmail-guard-model/1"]
    name: Annotated[str, Field(pattern=NAME_PATTERN.pattern)]
    artifact: str
    sha256: Annotated[str, Field(pattern=_SHA256)]
    size_bytes: Count | None = None
    versions: Versions
    features: str
    threshold: Probability
    thresholds: dict[str, Probability] = Field(default_factory=dict)
    routes: list[str] = Field(default_factory=list)
    partners: dict[str, PartnerInfo] = Field(default_factory=dict)
    target_fpr: Probability | None = None
    email_target_fpr: Probability | None = None
    created_at: str
    training_data: list[TrainingFile]
    params: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any]
    command: str

    @field_validator("created_at")
    @classmethod
    def _iso_timestamp(cls, value: str) -> str:
        try:
            datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("expected an ISO 8601 timestamp such as "
                             "'2026-11-27T12:03:48+00:00'") from None
        return value


def manifest_path(artifact: Path) -> Path:
    return artifact.with_suffix(".json")


def read_manifest(artifact: Path) -> dict[str, Any]:
    """Read and check the manifest next to ``artifact`` (no unpickling)."""
    mpath = manifest_path(artifact)
    fix = f"Fix: restore {mpath.name} as written by `inmail-guard model train`, or retrain."
    try:
        text = mpath.read_text(encoding="utf-8")
    except FileNotFoundError:
        if not artifact.exists():  # not a model missing its manifest: no model at all
            where = (f"neither it nor its manifest {mpath.name} is in {mpath.parent.resolve()}"
                     if mpath.parent.is_dir() else f"the folder {mpath.parent} does not exist")
            raise ModelVerificationError(
                f"{artifact}: no such model: {where}. Fix: give the path of a .joblib written"
                " by `inmail-guard model train`, or builtin:spam-v1") from None
        raise ModelVerificationError(
            f"{mpath}: manifest not found; a model is only loaded with its manifest. {fix}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelVerificationError(f"{mpath}: cannot read the manifest: {exc}. {fix}") from exc
    try:
        manifest = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelVerificationError(
            f"{mpath}:{exc.lineno}:{exc.colno}: manifest is not valid JSON: {exc.msg}. {fix}"
        ) from None
    if not isinstance(manifest, dict):
        raise ModelVerificationError(
            f"{mpath}: manifest must be a JSON object, found {type(manifest).__name__}. {fix}"
        )
    missing = [f for f in REQUIRED_FIELDS if f not in manifest]
    if missing:
        raise ModelVerificationError(
            f"{mpath}: manifest is missing the field(s) {', '.join(map(repr, missing))}. {fix}"
        )
    versions = manifest["versions"]
    if not isinstance(versions, dict) or any(k not in versions for k in VERSION_MATCH):
        raise ModelVerificationError(
            f"{mpath}: field 'versions' must map {', '.join(VERSION_MATCH)} to versions, "
            f"found {versions!r}. {fix}"
        )
    try:
        checked = Manifest.model_validate(manifest)
    except ValidationError as exc:
        raise ModelVerificationError(f"{mpath}: {_describe(exc)}. {fix}") from None
    if checked.artifact != artifact.name:
        raise ModelVerificationError(
            f"{mpath}: field 'artifact' names {checked.artifact!r}, but the manifest sits next "
            f"to {artifact.name!r}; a manifest only vouches for the file it was written with. "
            f"Fix: give both files their original names ({Path(checked.artifact).stem}.joblib "
            f"and {Path(checked.artifact).stem}.json), or retrain."
        )
    # One spelling of the digest from here on: bare lowercase hex (``version`` adds the prefix).
    manifest["sha256"] = checked.sha256.lower().removeprefix("sha256:")
    return manifest


def _describe(exc: ValidationError) -> str:
    """Each problem of a manifest as ``field 'a.b[0]': what was wrong, found <value>``."""
    problems = []
    for err in exc.errors(include_url=False):
        where = format_path(err["loc"])
        if err["type"] == "extra_forbidden":
            problems.append(f"field {where!r} is not a manifest field. Remove it")
        elif err["type"] == "missing":
            problems.append(f"field {where!r} is missing")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"field {where!r}: {msg[:1].lower()}{msg[1:]}, "
                            f"found {err['input']!r}")
    return "; ".join(problems)
