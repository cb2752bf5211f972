"""The classifier detector: a trained text model's spam probability for subject + body.

The model (``builtin:spam-v1`` by default, or a path to a ``.joblib`` with its manifest,
relative to the policy file's folder, optionally pinned with ``sha256:``) is loaded and
verified when the detector is built, so a tampered or incompatible model fails the engine's
start-up with :class:`~inmail_guard.models.ModelVerificationError` instead of silently scoring
nothing.

A send scores ``score`` when the probability is at least ``threshold``. ``threshold: null``
(the default) uses the model's own, chosen by calibration on validation folds for the ham
false-positive rates it was trained for (``models/MODEL_CARD.md``); a number overrides it.

Evidence adds up: with ``graded_from`` set, a probability between ``graded_from`` and the
threshold scores a share of ``score`` that grows linearly with it (nothing at ``graded_from``,
all of ``score`` at the threshold), so a borderline message that the ``keywords`` detector also
flags can reach ``reject_at`` while neither alone does. Below ``graded_from`` (or without it)
the detector abstains.

The message is shown to the model through :func:`~inmail_guard.models.features.inmail_text`
(subject line, then the rendered body): the InMail form the model was trained on
(``models/inmail.py``).

``check_many`` is not overridden: the compiled per-message scorer (~55 µs for 100 words) is
about twice as fast per message as the model's vectorised scikit-learn batch path, even on
batches of a thousand (``benchmarks/bench_classifier.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field

from inmail_guard.engine.types import Facts, Message, Signal
from inmail_guard.plugins.base import Detector, DetectorConfig
from inmail_guard.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from inmail_guard.engine.content import Content
    from inmail_guard.models import SpamModel
    from inmail_guard.policies.schema import Policy


def model_ref(ref: str, policy: Policy | None) -> str:
    """``ref`` with a relative path read from the folder of the policy file that was loaded
    (as blocklist files are), not from the process's working directory."""
    source = getattr(policy, "source", None)
    if ref.startswith("builtin:") or not source or Path(ref).is_absolute():
        return ref
    return str(Path(source).parent / ref)


class ClassifierDetector(Detector):
    name = "classifier"
    expensive = True

    class Config(DetectorConfig):
        model: str = Field(
            "builtin:spam-v1",
            description="builtin:<name> or a path to a .joblib whose .json manifest sits next "
            "to it; a relative path is read from the policy file's folder.",
        )
        sha256: str | None = Field(
            None, pattern=r"^(sha256:)?[0-9a-fA-F]{64}$",
            description="Refuse the model unless its sha256 is this.",
        )
        threshold: float | None = Field(
            None, ge=0, le=1,
            description="Spam probability from which the send scores `score`; null: the "
            "model's own (chosen by calibration for its target ham false-positive rate).",
        )
        graded_from: float | None = Field(
            None, ge=0, le=1,
            description="From this spam probability up to the threshold, score a share of "
            "`score` growing linearly with the probability, so that it adds up with other "
            "detectors' evidence; null: all or nothing.",
        )
        score: float = Field(10.0, ge=0)

    def __init__(self, config: DetectorConfig, policy: Policy | None = None) -> None:
        super().__init__(config, policy)
        # Imported here, not at module level: scikit-learn costs ~1 s to import, and policies
        # without this detector should not pay it.
        from inmail_guard.models import load_model
        from inmail_guard.models.features import inmail_text

        self._inmail_text = inmail_text
        cfg: ClassifierDetector.Config = config  # type: ignore[assignment]
        self.model: SpamModel = load_model(model_ref(cfg.model, policy), cfg.sha256)
        #: The policy's threshold, or None: the model's own for each text's channel.
        self.fixed_threshold = cfg.threshold
        self.threshold = self.model.threshold if cfg.threshold is None else cfg.threshold
        self.graded_from = cfg.graded_from

    def text_of(self, message: Message, content: Content) -> str:
        """What the model scores: the subject line, then the rendered body."""
        return self._inmail_text(message.subject, content.text)

    def threshold_for(self, text: str) -> float:
        """The policy's threshold, else the model's for ``text``'s channel."""
        if self.fixed_threshold is not None:
            return self.fixed_threshold
        return self.model.threshold_for(text)

    def _signal(self, probability: float, threshold: float) -> Signal | None:
        full = self.config.score
        graded_from = self.graded_from
        if probability >= threshold:
            score = full
            detail = f"spam probability {probability:.3f} >= {threshold:g}"
        elif graded_from is not None and graded_from < probability:
            share = (probability - graded_from) / (threshold - graded_from)
            score = round(full * share, 2)
            detail = (f"spam probability {probability:.3f} between {graded_from:g} and "
                      f"{threshold:g}: {score:g} of {full:g}")
        else:
            return None
        graded = {} if graded_from is None else {"graded_from": graded_from}
        return self.signal(
            score,
            f"{detail} ({self.model.name})",
            probability=round(probability, 6),
            threshold=threshold,
            **graded,
            model=self.model.name,
            model_version=self.model.version,
        )

    def check(self, message: Message, facts: Facts, content: Content) -> Signal | None:
        text = self.text_of(message, content)
        return self._signal(self.model.spam_probability(text), self.threshold_for(text))


@hookimpl
def inmail_guard_detectors() -> list[type[Detector]]:
    return [ClassifierDetector]
