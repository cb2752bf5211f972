"""The base class every spam detector derives from, built-in or third-party.

A detector is registered as a *class* through ``inmail_guard_detectors``; the engine makes one
instance per detector the policy enables (``spam.detectors.<name>``), validating the settings
with the class's ``Config``, and registers that instance with the PluginManager, where its
``inmail_guard_check`` hook implementation is called once per send.

Example::

    class ShoutingDetector(Detector):
        name = "shouting"

        class Config(DetectorConfig):
            min_ratio: float = 0.8

        def check(self, message, facts, content):
            letters = [c for c in content.text if c.isalpha()]
            ratio = sum(c.isupper() for c in letters) / max(len(letters), 1)
            if ratio < self.config.min_ratio:
                return None
            return self.signal(self.config.score, f"{ratio:.0%} capitals", ratio=ratio)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from inmail_guard.engine.types import Facts, Message, Signal
from inmail_guard.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from inmail_guard.engine.content import Content
    from inmail_guard.engine.history import History
    from inmail_guard.policies.schema import Policy


class DetectorConfig(BaseModel):
    """Settings every detector has. Subclass it as ``Config`` inside your detector.

    Strict, like the policy around it: a value of another YAML type is an error naming the
    key, never converted (``"2.5"`` is not 2.5, ``"yes"`` or ``1`` not true). Declare lists
    as ``list``, not ``tuple``: YAML gives lists, and a strict tuple takes only a tuple."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    enabled: bool = Field(True, description="false turns the detector off without removing it.")
    score: float = Field(0.0, ge=0, description="What a full hit adds to the spam score.")
    max_score: float | None = Field(
        None, ge=0, description="Cap on this detector's score (default: score)."
    )
    on_error: Literal["fail_open", "fail_closed"] = Field(
        "fail_open",
        description="fail_open: a detector that raises is ignored; fail_closed: the send is"
        " rejected with detector_failed.",
    )


class Detector:
    """Base class for spam detectors. Subclasses set ``name`` and implement :meth:`check`."""

    #: The key under ``spam.detectors`` and in ``rules_mode``. Lower-case, unique.
    name: ClassVar[str] = ""
    #: The settings model; subclasses may extend :class:`DetectorConfig`.
    Config: ClassVar[type[DetectorConfig]] = DetectorConfig
    #: Expensive detectors run last and are skipped when the outcome can no longer change.
    expensive: ClassVar[bool] = False
    #: Whether the detector reads the subject or body. Replaying records that keep only a hash
    #: of the body skips detectors that do (``inmail-guard replay``). Say False if yours only
    #: looks at facts or the client.
    needs_body: ClassVar[bool] = True

    def __init__(self, config: DetectorConfig, policy: Policy | None = None) -> None:
        self.config = config
        self.policy = policy

    @classmethod
    def from_settings(cls, settings: dict[str, Any], policy: Policy | None = None) -> Detector:
        return cls(cls.Config.model_validate(settings), policy)

    @property
    def ceiling(self) -> float:
        """The most this detector can add to a spam score (used to skip expensive ones)."""
        cap = self.config.max_score
        return self.config.score if cap is None else cap

    def check(self, message: Message, facts: Facts, content: Content) -> Signal | None:
        """Return a Signal, or None to abstain. May raise: see ``on_error``."""
        raise NotImplementedError

    def history(self) -> History | None:
        """What this detector needs the store to keep of each send and read back into later
        sends' :class:`~inmail_guard.Facts` (abuse reports within a window, recent bodies and
        the fingerprint kept of each), as an :class:`~inmail_guard.engine.history.History`;
        None (the default) for nothing. Called once when the engine is built."""
        return None

    def check_many(
        self, items: Sequence[tuple[Message, Facts, Content]]
    ) -> list[Signal | None]:
        """Batch form used by ``evaluate_many``; override when a batch is cheaper."""
        return [self.check(m, f, c) for m, f, c in items]

    def signal(self, score: float, detail: str = "", **data: Any) -> Signal:
        """A Signal from this detector, its score capped at :attr:`ceiling`."""
        return Signal(detector=self.name, score=min(float(score), self.ceiling), detail=detail,
                      data=data)

    @hookimpl
    def inmail_guard_check(self, message: Message, facts: Facts, content: Content) -> Signal | None:
        return self.check(message, facts, content)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
