"""What detectors need the store to keep and read back across sends, declared per detector.

The store fills some :class:`~inmail_guard.engine.types.Facts` fields from history: abuse
reports against the sender (``abuse_reports``) and the sender's recent bodies
(``recent_bodies``). How far back it reads, and what it keeps of each accepted send for later
comparison (a body fingerprint), is the business of the detectors that read those fields, not
of the service. A detector says so by returning a :class:`History` from
:meth:`~inmail_guard.Detector.history`; the engine merges the enabled detectors' answers once,
when it is built, into :class:`SendHistory` (``Engine.history``), and hands out what a send must
store with :meth:`~inmail_guard.Engine.send_annotations`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

#: Used when no enabled detector declares an abuse-report window or threshold: the service
#: still counts reports for ``spam.restriction.on_abuse_report`` (the abuse_reports defaults).
DEFAULT_ABUSE_WINDOW = timedelta(days=30)
DEFAULT_ABUSE_THRESHOLD = 3

Fingerprinter = Callable[[str], tuple[int, ...]]


@dataclass(frozen=True, slots=True)
class History:
    """One detector's needs; every field is optional (None: this detector has no need).

    ``abuse_reports_window``: ``Facts.abuse_reports`` counts reports made within this long.
    ``abuse_reports_threshold``: this many reports in that window restrict the sender when a
    report comes in (with ``spam.restriction.on_abuse_report``).
    ``bodies_window``: ``Facts.recent_bodies`` holds the sender's bodies of at least this long.
    ``fingerprint``: what to keep of each accepted send's body (a MinHash signature), with its
    ``fingerprint_version`` (stored fingerprints of another version are never read back).
    """

    abuse_reports_window: timedelta | None = None
    abuse_reports_threshold: int | None = None
    bodies_window: timedelta | None = None
    fingerprint: Fingerprinter | None = None
    fingerprint_version: int = 1


@dataclass(frozen=True, slots=True)
class SendHistory:
    """The enabled detectors' :class:`History`, merged: the longest window, the lowest
    threshold, one fingerprint function (two detectors that declare different ones are a
    configuration error)."""

    abuse_reports_window: timedelta = DEFAULT_ABUSE_WINDOW
    abuse_reports_threshold: int = DEFAULT_ABUSE_THRESHOLD
    bodies_window: timedelta | None = None
    fingerprint: Fingerprinter | None = None
    fingerprint_version: int = 0

    @classmethod
    def merge(cls, needs: Iterable[tuple[str, History]]) -> SendHistory:
        windows, thresholds, bodies = [], [], []
        fingerprint: tuple[str, Fingerprinter, int] | None = None
        for name, need in needs:
            if need.abuse_reports_window is not None:
                windows.append(need.abuse_reports_window)
            if need.abuse_reports_threshold is not None:
                thresholds.append(need.abuse_reports_threshold)
            if need.bodies_window is not None:
                bodies.append(need.bodies_window)
            if need.fingerprint is not None:
                if fingerprint is not None and (fingerprint[1], fingerprint[2]) != (
                        need.fingerprint, need.fingerprint_version):
                    raise ValueError(f"detectors {fingerprint[0]!r} and {name!r} both declare a"
                                     " body fingerprint; the store keeps one per send")
                fingerprint = (name, need.fingerprint, need.fingerprint_version)
        return cls(
            abuse_reports_window=max(windows, default=DEFAULT_ABUSE_WINDOW),
            abuse_reports_threshold=min(thresholds, default=DEFAULT_ABUSE_THRESHOLD),
            # Bodies are only worth reading back if they were fingerprinted when stored.
            bodies_window=max(bodies) if bodies and fingerprint is not None else None,
            fingerprint=None if fingerprint is None else fingerprint[1],
            fingerprint_version=0 if fingerprint is None else fingerprint[2])


@dataclass(frozen=True, slots=True)
class SendAnnotations:
    """What the store keeps of one accepted send for the detectors (``Engine.send_annotations``):
    the body's fingerprint and its version, or None when no detector asked for one."""

    fingerprint: tuple[int, ...] | None = None
    fingerprint_version: int = 0


NO_ANNOTATIONS = SendAnnotations()

__all__ = ["DEFAULT_ABUSE_THRESHOLD", "DEFAULT_ABUSE_WINDOW", "NO_ANNOTATIONS", "History",
           "SendAnnotations", "SendHistory"]
