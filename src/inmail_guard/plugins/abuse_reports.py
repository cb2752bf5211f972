"""The abuse-reports detector: recipients reported the sender too often.

The store counts the reports against the sender made within this detector's ``window`` into
``Facts.abuse_reports`` (the detector declares the window, and the ``threshold`` at which a new
report restricts the sender, through :meth:`AbuseReportsDetector.history`). The detector fires
when that count is at or over ``threshold``. Its default score (15) equals
the shipped ``restrict_at``, so reaching the threshold restricts the sender on its own.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, ClassVar

from pydantic import Field

from inmail_guard.engine.history import History
from inmail_guard.engine.types import Facts, Message, Signal
from inmail_guard.plugins.base import Detector, DetectorConfig
from inmail_guard.plugins.hookspecs import hookimpl
from inmail_guard.policies.schema import Duration, format_duration

if TYPE_CHECKING:
    from inmail_guard.engine.content import Content


class AbuseReportsDetector(Detector):
    name = "abuse_reports"
    needs_body: ClassVar[bool] = False  # a count only

    class Config(DetectorConfig):
        score: float = Field(15.0, ge=0)
        window: Duration = Field(
            timedelta(days=30),
            description="Reports made this long before now count (the store applies it).",
        )
        threshold: int = Field(3, ge=1, description="This many reports in the window score.")

    config: Config

    def history(self) -> History:
        return History(abuse_reports_window=self.config.window,
                       abuse_reports_threshold=self.config.threshold)

    def check(self, message: Message, facts: Facts, content: Content) -> Signal | None:
        cfg = self.config
        reports = facts.abuse_reports
        if reports < cfg.threshold:
            return None
        window = format_duration(cfg.window)
        return self.signal(
            cfg.score,
            f"{reports} abuse reports against the sender in the last {window}"
            f" (threshold {cfg.threshold})",
            reports=reports, threshold=cfg.threshold, window=window,
        )


@hookimpl
def inmail_guard_detectors() -> list[type[Detector]]:
    return [AbuseReportsDetector]
