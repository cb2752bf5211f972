"""An example inmail-guard detector plugin: messages written in capitals.

Registered through the entry point group ``inmail_guard`` (see pyproject.toml). The module is
the plugin: pluggy registers its ``@hookimpl`` functions; the engine then instantiates
:class:`ShoutingDetector` when a policy lists ``spam.detectors.shouting``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from inmail_guard import Detector, DetectorConfig, Facts, Message, Signal, hookimpl
from pydantic import Field

if TYPE_CHECKING:
    from inmail_guard.engine.content import Content

__all__ = ["ShoutingDetector", "inmail_guard_detectors"]


class ShoutingDetector(Detector):
    """Scores a send whose subject and body are mostly capital letters."""

    name = "shouting"
    # Replay skips detectors that read the body when a record kept only its hash.
    needs_body: ClassVar[bool] = True

    class Config(DetectorConfig):
        # Settings under spam.detectors.shouting; `policy validate` checks them.
        score: float = Field(6.0, ge=0, description="Added to the spam score on a hit.")
        min_ratio: float = Field(0.7, gt=0, le=1, description="Share of letters in capitals.")
        min_letters: int = Field(20, ge=1, description="Shorter texts are never shouting.")

    config: Config

    def check(self, message: Message, facts: Facts, content: Content) -> Signal | None:
        text = f"{message.subject}\n{content.text}"
        letters = [c for c in text if c.isalpha()]
        if len(letters) < self.config.min_letters:
            return None  # abstain: too short to judge
        ratio = sum(c.isupper() for c in letters) / len(letters)
        if ratio < self.config.min_ratio:
            return None
        return self.signal(self.config.score, f"{ratio:.0%} of {len(letters)} letters are"
                           " capitals", ratio=round(ratio, 3), letters=len(letters))


@hookimpl
def inmail_guard_detectors() -> list[type[Detector]]:
    return [ShoutingDetector]
