"""The classifier detector: a trained text model's spam probability for subject + body.

The model (``builtin:spam-v1`` by default, or a path to a ``.joblib`` with its manifest,
relative to the policy file's folder, optionally pinned with ``sha256:``) is loaded and
verified when the detector is built, so a tampered or incompatible model fails the engine's
start-up with :class:`~inmail_guard.models.ModelVerificationError` instead of silently scoring
nothing.

A send scores ``score`` when the probability is at least ``threshold``, else the detector
abstains. ``threshold`` defaults to 0.9, not the model's own (0.6748 for spam-v1, chosen for a
0.5% ham false-positive rate on SMS and e-mail): no InMail-labelled data exists yet, and on
hand-written recruiter/sales InMails the lower value flagged some (see the model card). Set
``threshold: null`` to use the model's. The message is shown
to the model through :func:`~inmail_guard.models.features.inmail_text` (subject line, then the
rendered body), which selects the model's InMail channel: the weights shared by its training
corpora (see ``models/MODEL_CARD.md`` for why not the e-mail ones).

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
            0.9, ge=0, le=1,
            description="Spam probability from which the send scores; null: the model's own.",
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
        self.threshold = self.model.threshold if cfg.threshold is None else cfg.threshold

    def text_of(self, message: Message, content: Content) -> str:
        """What the model scores: the subject line, then the rendered body."""
        return self._inmail_text(message.subject, content.text)

    def _signal(self, probability: float) -> Signal | None:
        if probability < self.threshold:
            return None
        return self.signal(
            self.config.score,
            f"spam probability {probability:.3f} >= {self.threshold:g} ({self.model.name})",
            probability=round(probability, 6),
            threshold=self.threshold,
            model=self.model.name,
            model_version=self.model.version,
        )

    def check(self, message: Message, facts: Facts, content: Content) -> Signal | None:
        return self._signal(self.model.spam_probability(self.text_of(message, content)))


@hookimpl
def inmail_guard_detectors() -> list[type[Detector]]:
    return [ClassifierDetector]
