"""The test-string detector: flags a fixed marker, like GTUBE does for e-mail.

Put ``INMAIL-GUARD-TEST-SPAM-9F3A7C`` in a subject or body to see the whole spam path (detector,
score, rejection, restriction) work end to end without writing real spam.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import Field

from inmail_guard.engine.types import Facts, Message, Signal
from inmail_guard.plugins.base import Detector, DetectorConfig
from inmail_guard.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from inmail_guard.engine.content import Content

MARKER = "INMAIL-GUARD-TEST-SPAM-9F3A7C"


class MarkerDetector(Detector):
    name = "test_string"

    class Config(DetectorConfig):
        score: float = Field(1000.0, ge=0)
        marker: str = Field(MARKER, min_length=8)

    def check(self, message: Message, facts: Facts, content: Content) -> Signal | None:
        marker = self.config.marker  # type: ignore[attr-defined]
        where = [part for part, text in (("subject", message.subject), ("body", message.body))
                 if marker in text]
        if not where:
            return None
        return self.signal(self.config.score, f"test marker in {' and '.join(where)}",
                           where=where)


@hookimpl
def inmail_guard_detectors() -> list[type[Detector]]:
    return [MarkerDetector]
