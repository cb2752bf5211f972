"""The automation detector: bots and scripts sending InMail.

Four sub-signals, each reported in the signal's data under its own key when it fires:

``declared_automated``
    the client says so (``message.client.automated``).
``headless_user_agent``
    ``message.client.user_agent`` names a headless browser, automation framework, HTTP library
    or bot (HeadlessChrome, PhantomJS, Selenium, Puppeteer, Playwright, python-requests, curl,
    ``*bot``...), or one of the policy's ``user_agents`` substrings. Data: the matched text.
``too_fast``
    less than ``min_interval`` since the sender's latest send (``Facts.recent_sends`` before
    ``facts.now``). Data: ``seconds_since_last``, ``min_interval``.
``regular_intervals``
    the gaps between the last ``regular_window`` recent sends are machine-regular: at least
    ``regular_min_intervals`` gaps whose coefficient of variation (population standard deviation
    / mean) is below ``regular_max_cv``. People do not send every 60.0 seconds. Data:
    ``intervals``, ``mean_seconds``, ``cv``.

They are evidence of one thing, so they do not add up sub-signal by sub-signal; instead the
evidence is graded (``data["evidence"]``):

``strong``, scoring ``strong_score``
    the client declares itself automated, or a scripted/headless user agent sends at machine
    cadence (too fast or machine-regular). The default, 15, is the shipped policy's
    ``restrict_at``: rejected (``spam_detected``) and the sender restricted, escalating like
    every restriction. This is what the product brief means by "automation triggers the spam
    filter and a temporary limit".
``weak``, scoring ``score``
    any other sub-signal or pair: one too-fast send, machine-regular gaps from a browser, a
    scripted user agent at human pace. Below the shipped ``reject_at`` alone; with other
    signals it can still reject.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from datetime import timedelta
from itertools import pairwise
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from inmail_guard.engine.types import Facts, Message, Signal
from inmail_guard.plugins.base import Detector, DetectorConfig
from inmail_guard.plugins.hookspecs import hookimpl
from inmail_guard.policies.schema import Duration, format_duration

if TYPE_CHECKING:
    from inmail_guard.engine.content import Content

#: User-agent fragments of headless browsers, automation frameworks, HTTP libraries and bots.
HEADLESS_AGENTS = (
    "headlesschrome", "headless", "phantomjs", "selenium", "webdriver", "puppeteer",
    "playwright", "python-requests", "python-urllib", "python-httpx", "aiohttp", "httpx",
    "curl/", "wget/", "scrapy", "go-http-client", "okhttp", "libwww-perl", "node-fetch",
    "axios/", "java/", "apache-httpclient", "postmanruntime", "crawler", "spider",
)
# "...bot" as a word (Googlebot, MyBot/1.0, bot) but not the Cubot phone brand.
_BOT = re.compile(r"\b(?!cubot\b)\w*bot\b", re.IGNORECASE)


class AutomationDetector(Detector):
    name = "automation"
    needs_body: ClassVar[bool] = False  # the client and send times only

    class Config(DetectorConfig):
        score: float = Field(
            6.0, ge=0,
            description="Weak evidence: any sub-signal that is not strong evidence (one too-fast "
                        "send, regular gaps, a scripted user agent alone).",
        )
        strong_score: float | None = Field(
            15.0, ge=0,
            description="Strong evidence: a declared automated client, or a scripted/headless "
                        "user agent with machine cadence (too fast or regular gaps). The "
                        "default is the shipped restrict_at; null scores it like weak evidence.",
        )
        min_interval: Duration = Field(
            timedelta(seconds=5), description="A send sooner than this after the last is too fast."
        )
        regular_min_intervals: int = Field(
            5, ge=2, description="Gaps needed before their regularity is judged."
        )
        regular_max_cv: float = Field(
            0.1, ge=0, description="Gaps whose coefficient of variation is below this are regular."
        )
        regular_window: int = Field(
            20, ge=3, description="How many of the latest recent sends the regularity test reads."
        )
        user_agents: list[str] = Field(
            default_factory=list,
            description="More user-agent substrings (case-insensitive) that mean automation.",
        )

    config: Config

    def __init__(self, config: DetectorConfig, policy: Any = None) -> None:
        super().__init__(config, policy)
        extra = (ua.lower() for ua in self.config.user_agents)
        self._fragments = tuple(dict.fromkeys([*HEADLESS_AGENTS, *extra]))

    @property
    def ceiling(self) -> float:
        """Strong evidence can score more than ``score``; ``max_score`` still caps both."""
        cap = self.config.max_score
        if cap is not None:
            return cap
        return max(self.config.score, self.config.strong_score or 0.0)

    def _agent(self, user_agent: str) -> str | None:
        """The automation fragment in a user agent, as written there, or None."""
        lower = user_agent.lower()
        # Plain substring tests: a real user agent is ~120 characters and this runs per send.
        for fragment in self._fragments:
            at = lower.find(fragment)
            if at >= 0:
                return user_agent[at:at + len(fragment)] if len(lower) == len(user_agent) \
                    else fragment
        if "bot" in lower:
            found = _BOT.search(user_agent)
            if found:
                return found.group()
        return None

    def check(self, message: Message, facts: Facts, content: Content) -> Signal | None:
        cfg = self.config
        data: dict[str, Any] = {}
        details: list[str] = []
        client = message.client
        if client is not None:
            if client.automated:
                data["declared_automated"] = True
                details.append("the client says it is automated")
            agent = self._agent(client.user_agent) if client.user_agent else None
            if agent:
                data["headless_user_agent"] = agent
                details.append(f"user agent {agent!r}")

        now = facts.now
        # Seconds since each of the latest regular_window sends, most recent first; sends after
        # now (clock skew) are ignored. Only those are converted: a heavy sender has hundreds,
        # and sorting them as datetimes runs in C (one pass over the store's, already sorted).
        sends = sorted(facts.recent_sends)
        end = bisect_right(sends, now)  # sends[:end] are at or before now
        ages = [(now - sent).total_seconds()
                for sent in reversed(sends[max(end - cfg.regular_window, 0):end])]
        if ages and ages[0] < cfg.min_interval.total_seconds():
            minimum = format_duration(cfg.min_interval)
            data["too_fast"] = {"seconds_since_last": ages[0], "min_interval": minimum}
            details.append(f"{ages[0]:g}s since the last send (minimum {minimum})")

        window = ages[:cfg.regular_window]
        if len(window) > cfg.regular_min_intervals:
            gaps = [older - newer for newer, older in pairwise(window)]
            mean = sum(gaps) / len(gaps)
            spread = math.sqrt(sum((g - mean) ** 2 for g in gaps) / len(gaps))
            cv = spread / mean if mean > 0 else 0.0
            if cv < cfg.regular_max_cv:
                data["regular_intervals"] = {
                    "intervals": len(gaps), "mean_seconds": round(mean, 3), "cv": round(cv, 4)}
                details.append(f"{len(gaps)} gaps of ~{mean:g}s between sends (CV {cv:.3f})")

        if not data:
            return None
        strong = "declared_automated" in data or (
            "headless_user_agent" in data and ("too_fast" in data or "regular_intervals" in data))
        if strong and cfg.strong_score is not None:
            data["evidence"] = "strong"
            return self.signal(cfg.strong_score, "automation (strong evidence): "
                               + "; ".join(details), **data)
        data["evidence"] = "weak"
        return self.signal(cfg.score, "automation: " + "; ".join(details), **data)


@hookimpl
def inmail_guard_detectors() -> list[type[Detector]]:
    return [AutomationDetector]
