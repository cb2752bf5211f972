"""Save and load models: a joblib file plus a JSON manifest, verified before unpickling.

Unpickling runs code, so a model file is only unpickled after all of these hold (else
:class:`ModelVerificationError`, naming the file, what was expected, what was found, and the fix):

1. the manifest ``<name>.json`` next to ``<name>.joblib`` is valid JSON with every field of
   :data:`~inmail_guard.models.manifest.REQUIRED_FIELDS`, each of the right type, no unknown
   field, ``format`` equal to :data:`~inmail_guard.models.manifest.MANIFEST_FORMAT` and
   ``artifact`` naming the file next to it (:mod:`inmail_guard.models.manifest`);
2. the artifact's sha256 equals the manifest's ``sha256`` and, when the caller pins one
   (``sha256:`` in a policy), the pinned value too. The bytes that were hashed are the bytes that
   are unpickled, so the file cannot change in between;
3. the library versions recorded at training time match the installed ones, compared on the
   leading components given in :data:`VERSION_MATCH`: scikit-learn ``major.minor`` (its pickles
   are only supported by the version that wrote them; patch releases are accepted), numpy,
   scipy, joblib and Python ``major``. A mismatch is an error, not a warning: retrain instead;
4. the manifest's ``features`` equals :data:`~inmail_guard.models.features.FEATURES_VERSION`
   (the pickle refers to our analyzer by name);
5. every route partner named in the manifest pins the sha256 of the sentence encoder this
   package ships (``encoder.py``), and the file there has that sha256. The encoder's arrays are
   read on the first e-mail, after checking its sha256 again.

A file that passes all of these but still cannot be unpickled (say, truncated before its
manifest was rewritten) is refused with :class:`ModelVerificationError` too.

Before any of that, a model must be pinned by someone other than its manifest, since whoever
can replace the file can replace the manifest beside it: a built-in model by the package
itself (:data:`~inmail_guard.models.pins.BUILTIN_SHA256`, which the caller's pin cannot
override), any other model by its caller (``sha256``). An unpinned external model is refused
before it is read.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import tempfile
import threading
import warnings
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import joblib
import numpy
import scipy
import sklearn

from inmail_guard.models import routes
from inmail_guard.models.encoder import EncoderError, SentenceEncoder, builtin_encoder_path
from inmail_guard.models.features import (
    FEATURES_VERSION,
    INMAIL_PREFIXES,
    analyze,
    channel_prefix,
)
from inmail_guard.models.manifest import (
    MANIFEST_FORMAT,
    VERSION_MATCH,
    ModelVerificationError,
    check_model_name,
    manifest_path,
    read_manifest,
)
from inmail_guard.models.partner import EmbeddingPartner
from inmail_guard.models.pins import BUILTIN_SHA256
from inmail_guard.models.scorer import KEYS_OF, CompiledScorer, check_supported

__all__ = ["BUILTIN_MODELS", "BUILTIN_PREFIX", "ModelVerificationError", "SpamModel",
           "load_model", "load_model_uncached", "resolve", "save_model", "sha256_file",
           "verify"]

BUILTIN_PREFIX = "builtin:"
BUILTIN_MODELS = ("spam-v1",)
_LIBRARY_NAMES = {"sklearn": "scikit-learn", "numpy": "numpy", "scipy": "scipy",
                  "joblib": "joblib", "python": "Python"}


def library_versions() -> dict[str, str]:
    """The installed versions a manifest records and the loader compares."""
    return {
        "python": platform.python_version(),
        "sklearn": sklearn.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "joblib": joblib.__version__,
    }


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class SpamModel:
    """A verified, loaded spam classifier.

    ``spam_probability`` is the per-message fast path (pure Python, see ``scorer.py``);
    ``spam_probabilities`` the vectorised batch path through scikit-learn. Both return the
    calibrated probability of spam from the pipeline of the text's channel (``routes``, e.g.
    ``{"e:": <e-mail pipeline>}``; other channels use ``pipeline``). A text is spam when its
    probability is ``>= threshold_for(text)``: the manifest's ``thresholds`` hold one per
    channel the training data had, ``threshold`` is the fallback (the InMail channel's, as no
    training data is InMail). A route may have a partner (``partners``, ``partner.py``), which
    adds the text's sentence embedding; its encoder is loaded on the first text that needs it.
    """

    def __init__(self, pipeline: Any, manifest: Mapping[str, Any], path: Path,
                 routes: Mapping[str, Any] | None = None,
                 partners: Mapping[str, EmbeddingPartner] | None = None) -> None:
        self.pipeline = pipeline
        self.routes: dict[str, Any] = dict(routes or {})
        self.partners: dict[str, EmbeddingPartner] = dict(partners or {})
        self._encoder: SentenceEncoder | None = None
        self.manifest: dict[str, Any] = dict(manifest)
        self.path = path
        self.name: str = manifest["name"]
        self.sha256: str = manifest["sha256"]
        self.threshold: float = float(manifest["threshold"])
        self.thresholds: dict[str, float] = {
            k: float(v) for k, v in (manifest.get("thresholds") or {}).items()}
        # The InMail table now (the detector's hot path); the short-message and e-mail tables
        # on their first text. Route scorers are compiled on their first text too, each only
        # for its own channel. So an InMail-only process (the detector never shows the model
        # e-mail) holds the InMail table alone: not the other word tables (~22 MB) nor the
        # e-mail route's (~52 MB).
        self.scorer = CompiledScorer.from_pipeline(pipeline, channels=INMAIL_PREFIXES)
        self._scorers: dict[str, CompiledScorer] = {}
        self._compile_lock = threading.Lock()
        for route in self.routes.values():
            check_supported(route[0], route[-1])  # fail at load, not at the first e-mail

    @property
    def version(self) -> str:
        """``sha256:<hex>`` of the artifact: what a policy pins."""
        return f"sha256:{self.sha256}"

    def spam_probability(self, text: str) -> float:
        if self.routes:
            prefix = channel_prefix(text)
            if prefix in self.routes:
                scorer = self._route_scorer(prefix)
                partner = self.partners.get(prefix)
                if partner is not None:
                    return partner.probability(scorer.decision(text, prefix),
                                               self.encode([text])[0])
                return scorer.probability(text, prefix)
            return self.scorer.probability(text, prefix)
        return self.scorer.probability(text)

    def encode(self, texts: Sequence[str]) -> Any:
        """The sentence embeddings of ``texts`` (loads the encoder on first use)."""
        encoder = self._encoder
        if encoder is None:
            with self._compile_lock:
                if self._encoder is None:
                    if not self.partners:
                        raise ValueError(f"{self.path}: this model has no route partner, so "
                                         "no sentence encoder")
                    sha = next(iter(self.partners.values())).encoder_sha256
                    try:
                        self._encoder = SentenceEncoder.load(builtin_encoder_path(), sha)
                    except EncoderError as exc:
                        raise ModelVerificationError(
                            f"{self.path}: {exc}. Fix: reinstall inmail-guard, which ships "
                            "the encoder file") from None
                encoder = self._encoder
        return encoder.encode(texts)

    def _route_scorer(self, prefix: str) -> CompiledScorer:
        scorer = self._scorers.get(prefix)
        if scorer is None:
            with self._compile_lock:
                scorer = self._scorers.get(prefix)
                if scorer is None:
                    scorer = CompiledScorer.from_pipeline(self.routes[prefix], channels=(prefix,))
                    self._scorers[prefix] = scorer
        return scorer

    def spam_probabilities(self, texts: Sequence[str]) -> list[float]:
        return routes.predict_proba(self.pipeline, self.routes, texts, self.partners,
                                    self.encode).tolist()

    def threshold_for(self, text: str) -> float:
        """The decision threshold of ``text``'s channel (``threshold`` when it has none)."""
        return self.thresholds.get(channel_prefix(text), self.threshold)

    def is_spam(self, text: str) -> bool:
        return self.spam_probability(text) >= self.threshold_for(text)

    def __repr__(self) -> str:
        return f"<SpamModel {self.name} sha256:{self.sha256[:12]} threshold={self.threshold}>"


def save_model(pipeline: Any, out_dir: str | Path, name: str, manifest: Mapping[str, Any],
               routes: Mapping[str, Any] | None = None,
               partners: Mapping[str, EmbeddingPartner] | None = None) -> Path:
    """Write ``<name>.joblib`` and ``<name>.json``; return the manifest path.

    ``manifest`` holds the training facts (threshold, metrics, data, command); this adds the
    format, file name, sha256, size, versions and feature version. ``name`` must match
    :data:`NAME_PATTERN` (``ValueError`` otherwise, before anything is written).

    Both files are written to temporary files in ``out_dir`` first and then renamed into place,
    artifact first and manifest last. So a failed write (disk full, size limit, a pickling
    error) raises with the previous ``<name>.joblib`` and ``<name>.json`` untouched and no
    temporary file left behind.
    """
    check_model_name(name)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for p in (pipeline, *(routes or {}).values()):
        _strip_pipeline(p)
    artifact = out / f"{name}.joblib"
    buffer = io.BytesIO()
    payload: dict[str, Any] = {"pipeline": pipeline, "routes": dict(routes or {})}
    if partners:
        payload["partners"] = dict(partners)
    joblib.dump(payload, buffer, compress=("zlib", 6))
    data = buffer.getvalue()
    full = {
        "format": MANIFEST_FORMAT,
        "name": name,
        "artifact": artifact.name,
        "sha256": hashlib.sha256(data).hexdigest(),
        "size_bytes": len(data),
        "versions": library_versions(),
        "features": FEATURES_VERSION,
        **manifest,
    }
    path = manifest_path(artifact)
    text = json.dumps(full, indent=2, sort_keys=False) + "\n"
    _replace_all([(artifact, data), (path, text.encode("utf-8"))])
    return path


def _replace_all(files: Sequence[tuple[Path, bytes]]) -> None:
    """Write every file to a temporary sibling, then rename each into place, in order."""
    temps: list[Path] = []
    try:
        for target, data in files:
            fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                        suffix=".tmp")
            temps.append(Path(name))
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        for (target, _), temp in zip(files, temps, strict=True):
            os.replace(temp, target)
    except BaseException:
        for temp in temps:
            temp.unlink(missing_ok=True)
        raise


def resolve(ref: str) -> Path:
    """A model reference (``builtin:spam-v1`` or a path to the .joblib) -> the artifact path."""
    if ref.startswith(BUILTIN_PREFIX):
        name = ref[len(BUILTIN_PREFIX):]
        if name not in BUILTIN_MODELS:
            raise ModelVerificationError(
                f"{ref}: no such built-in model; built-in models: "
                f"{', '.join(BUILTIN_PREFIX + m for m in BUILTIN_MODELS)}."
            )
        return Path(str(resources.files("inmail_guard.models") / f"{name}.joblib"))
    path = Path(ref)
    if path.suffix == ".json":
        path = path.with_suffix(".joblib")
    return path


def verify(
    artifact: Path, data: bytes, manifest: Mapping[str, Any], sha256: str | None = None
) -> None:
    """Every check of the module docstring, on the bytes about to be unpickled."""
    mpath = manifest_path(artifact)
    retrain = f"retrain with: {manifest.get('command', 'inmail-guard model train ...')}"
    found = hashlib.sha256(data).hexdigest()
    expected = str(manifest["sha256"]).lower().removeprefix("sha256:")
    if found != expected:
        raise ModelVerificationError(
            f"{artifact}: sha256 mismatch: manifest {mpath.name} expects {expected}, "
            f"the file has {found}. The file changed after it was built; refusing to unpickle "
            f"it. Fix: restore the original file or {retrain}"
        )
    if sha256 is not None:
        pinned = sha256.strip().lower().removeprefix("sha256:")
        if found != pinned:
            raise ModelVerificationError(
                f"{artifact}: sha256 mismatch: the caller pins sha256:{pinned}, the file has "
                f"sha256:{found}. Refusing to unpickle it. Fix: point the policy at the model "
                "it pins, or update the pin after checking the new model "
                "(`inmail-guard model info`)."
            )
    installed = library_versions()
    for key, parts in VERSION_MATCH.items():
        want = str(manifest["versions"][key])
        have = installed[key]
        if want.split(".")[:parts] != have.split(".")[:parts]:
            series = ".".join(want.split(".")[:parts])
            lib = _LIBRARY_NAMES[key]
            raise ModelVerificationError(
                f"{artifact}: built with {lib} {want} but {lib} {have} is installed; "
                f"{lib} {series}.x is required (manifest {mpath.name}). Refusing to unpickle "
                f"it. Fix: install {lib} {series}.x or {retrain}"
            )
    if manifest["features"] != FEATURES_VERSION:
        raise ModelVerificationError(
            f"{artifact}: built for features {manifest['features']!r} but this inmail-guard "
            f"computes {FEATURES_VERSION!r} (manifest {mpath.name}). Fix: {retrain}"
        )
    partners = manifest.get("partners") or {}
    if partners:
        encoder = builtin_encoder_path()
        try:
            have = sha256_file(encoder)
        except OSError as exc:
            raise ModelVerificationError(
                f"{artifact}: its e-mail partner needs the sentence encoder {encoder}, which "
                f"cannot be read: {exc.strerror or exc}. Fix: reinstall inmail-guard."
            ) from None
        for prefix, info in partners.items():
            if info["encoder_sha256"].lower().removeprefix("sha256:") != have:
                raise ModelVerificationError(
                    f"{artifact}: its {prefix!r} partner was trained with the sentence encoder "
                    f"of sha256 {info['encoder_sha256']}, but {encoder.name} here has sha256 "
                    f"{have} (manifest {mpath.name}). Refusing to unpickle it. Fix: {retrain}"
                )


def _check_pinned(ref: str, artifact: Path, sha256: str | None) -> str | None:
    """The package's own pin of a built-in model (None for another model, which must then
    have the caller's ``sha256``)."""
    if ref.startswith(BUILTIN_PREFIX):
        return BUILTIN_SHA256[ref[len(BUILTIN_PREFIX):]]
    if sha256 is None:
        raise ModelVerificationError(
            f"{artifact}: not pinned: a model inmail-guard does not ship is only loaded with"
            " the sha256 its user pins (loading unpickles it, which runs code, and the manifest"
            f" {manifest_path(artifact).name} beside it proves nothing when both files can be"
            " replaced). Fix: check where the model comes from, then pin it: sha256: <hex>"
            " under spam.detectors.classifier in the policy, or --sha256 <hex> on the command"
            f" line (`inmail-guard model info {artifact}` prints it)."
        )
    return None


def load_model_uncached(ref: str, sha256: str | None = None) -> SpamModel:
    """Resolve, verify, then unpickle. Prefer :func:`load_model`, which caches."""
    artifact = resolve(ref)
    manifest = read_manifest(artifact)
    shipped = _check_pinned(ref, artifact, sha256)
    try:
        data = artifact.read_bytes()
    except OSError as exc:
        raise ModelVerificationError(
            f"{artifact}: cannot read the model file: {exc.strerror or exc}. Fix: check the "
            "path, or use builtin:spam-v1."
        ) from exc
    if shipped is not None and hashlib.sha256(data).hexdigest() != shipped:
        raise ModelVerificationError(
            f"{artifact}: sha256 mismatch: inmail-guard pins its built-in {ref} to"
            f" sha256:{shipped} (inmail_guard/models/pins.py), the file has"
            f" sha256:{hashlib.sha256(data).hexdigest()}. The installed package was modified;"
            " refusing to unpickle it. Fix: reinstall inmail-guard (after retraining the"
            " built-in model: python -m inmail_guard.models.pins)."
        )
    verify(artifact, data, manifest, sha256)
    mpath = manifest_path(artifact)
    with warnings.catch_warnings():
        # Patch-level scikit-learn differences are allowed by VERSION_MATCH; sklearn still warns.
        warnings.simplefilter("ignore", sklearn.exceptions.InconsistentVersionWarning)
        try:
            payload = joblib.load(io.BytesIO(data))
        except Exception as exc:  # a damaged pickle fails in many ways; report them all
            raise ModelVerificationError(
                f"{artifact}: cannot unpickle the model file although its sha256 matches "
                f"manifest {mpath.name} ({type(exc).__name__}: {exc}); the file is damaged "
                f"(e.g. truncated) and its manifest was rewritten to match. Fix: restore the "
                f"original file or retrain with: {manifest['command']}"
            ) from None
    pipeline = payload.get("pipeline") if isinstance(payload, dict) else None
    extra = payload.get("routes") or {} if isinstance(payload, dict) else {}
    partners = payload.get("partners") or {} if isinstance(payload, dict) else {}
    if (not _is_pipeline(pipeline, (analyze,)) or not isinstance(extra, dict)
            or not all(_is_pipeline(p, KEYS_OF) for p in extra.values())):
        raise ModelVerificationError(
            f"{artifact}: not an inmail-guard spam model (no pipeline with our analyzer)."
        )
    if (not isinstance(partners, dict)
            or not all(isinstance(p, EmbeddingPartner) for p in partners.values())
            or sorted(partners) != sorted(manifest.get("partners") or {})
            or not set(partners) <= set(extra)):
        raise ModelVerificationError(
            f"{artifact}: its route partners ({', '.join(sorted(partners)) or 'none'}) are not "
            f"the ones manifest {mpath.name} names "
            f"({', '.join(sorted(manifest.get('partners') or {})) or 'none'}), or not on a "
            f"route. Fix: retrain with: {manifest['command']}"
        )
    for prefix, partner in partners.items():
        pinned = manifest["partners"][prefix]["encoder_sha256"]
        if partner.encoder_sha256 != pinned.lower().removeprefix("sha256:"):
            raise ModelVerificationError(
                f"{artifact}: the {prefix!r} partner pins encoder sha256 "
                f"{partner.encoder_sha256}, its manifest {mpath.name} another. Fix: retrain "
                f"with: {manifest['command']}"
            )
    return SpamModel(pipeline, manifest, artifact, extra, partners)


_cache: dict[tuple[str, str | None, int, int], SpamModel] = {}
_cache_lock = threading.Lock()


def load_model(ref: str, sha256: str | None = None) -> SpamModel:
    """A verified model, cached per (resolved path, pinned sha256, file mtime and size).

    ``ref`` is ``builtin:spam-v1`` or a path to a ``.joblib`` (its ``.json`` manifest must sit
    next to it). ``sha256`` (``"sha256:<hex>"`` or ``"<hex>"``) pins the artifact's digest.
    Raises :class:`ModelVerificationError`; nothing unverified is ever unpickled.
    """
    artifact = resolve(ref)
    try:
        stat = os.stat(artifact)
        key = (str(artifact.resolve()), sha256, stat.st_mtime_ns, stat.st_size)
    except OSError:
        return load_model_uncached(ref, sha256)  # raises the clear error
    with _cache_lock:
        model = _cache.get(key)
        if model is None:
            model = load_model_uncached(ref, sha256)
            _cache[key] = model
        return model


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _is_pipeline(obj: Any, analyzers: Any) -> bool:
    """Whether ``obj`` is indexable and its first step's analyzer is one of ``analyzers``."""
    try:
        return getattr(obj[0], "analyzer", None) in analyzers
    except (TypeError, KeyError, IndexError):
        return False


def _strip_pipeline(pipeline: Any) -> None:
    """Drop fitted attributes not needed to predict (``stop_words_`` holds every pruned term)."""
    vectorizer = pipeline[0]
    if hasattr(vectorizer, "stop_words_"):
        del vectorizer.stop_words_
