"""The volume detector: too many sends in the last hour or day.

``Facts.recent_sends`` holds the sender's send times of the last 24 hours (the store fills it).
A send counts towards a window when it happened after ``facts.now - window`` (a send exactly an
hour ago is no longer in the last hour); send times after ``facts.now`` (clock skew between
instances) count as recent. The detector fires when a count is *at or over* its limit: with
``per_hour: 25`` and 25 sends in the last hour, this send would be the 26th, so it scores.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import timedelta
from typing import TYPE_CHECKING, ClassVar

from pydantic import Field

from inmail_guard.engine.types import Facts, Message, Signal
from inmail_guard.plugins.base import Detector, DetectorConfig
from inmail_guard.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from inmail_guard.engine.content import Content

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


class VolumeDetector(Detector):
    name = "volume"
    needs_body: ClassVar[bool] = False  # send times only

    class Config(DetectorConfig):
        score: float = Field(10.0, ge=0)
        per_hour: int | None = Field(
            25, ge=1, description="Sends in the last hour at which this send scores; null: off."
        )
        per_day: int | None = Field(
            100, ge=1, description="Sends in the last 24h at which this send scores; null: off."
        )

    config: Config

    def check(self, message: Message, facts: Facts, content: Content) -> Signal | None:
        cfg = self.config
        # Counted by bisection over the times sorted (in C: one pass over the store's, already
        # sorted), not one by one in Python: a heavy sender has hundreds.
        sends = sorted(facts.recent_sends)
        last_day = len(sends) - bisect_right(sends, facts.now - DAY)
        last_hour = len(sends) - bisect_right(sends, facts.now - HOUR)
        over = []
        if cfg.per_hour is not None and last_hour >= cfg.per_hour:
            over.append(f"{last_hour} sends in the last hour (limit {cfg.per_hour})")
        if cfg.per_day is not None and last_day >= cfg.per_day:
            over.append(f"{last_day} sends in the last 24h (limit {cfg.per_day})")
        if not over:
            return None
        return self.signal(cfg.score, "; ".join(over), sends_last_hour=last_hour,
                           sends_last_day=last_day, per_hour=cfg.per_hour, per_day=cfg.per_day)


@hookimpl
def inmail_guard_detectors() -> list[type[Detector]]:
    return [VolumeDetector]
