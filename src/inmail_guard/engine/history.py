"""What detectors need the store to keep and read back across sends, declared per detector.

The store fills some :class:`~inmail_guard.engine.types.Facts` fields from history: abuse
reports against the sender (``abuse_reports``) and the sender's recent bodies
(``recent_bodies``). How far back it reads, and what it keeps of each accepted send for later
comparison (a body fingerprint), is the business of the detectors that read those fields, not
of the service. A detector says so by returning a :class:`History` from
:meth:`~inmail_guard.Detector.history`; the engine merges the enabled detectors' answers once,
when it is built, into :class:`SendHistory` (``Engine.history``), and hands out what a send must
store with :meth:`~inmail_guard.Engine.send_annotations`. A store hands the fingerprints it kept
back in the form it kept them, :func:`stored_fingerprint` (docs/detectors.md, "Two forms of a
BodyFingerprint").
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from dataclasses import FrozenInstanceError, dataclass
from datetime import datetime, timedelta

from inmail_guard.engine.types import BodyFingerprint

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

# Where a decoded stored fingerprint keeps its values: BodyFingerprint's own ``minhash`` slot.
_MINHASH = BodyFingerprint.__dict__["minhash"]
_RECIPIENT = BodyFingerprint.__dict__["recipient_id"].__set__
_SENT_AT = BodyFingerprint.__dict__["sent_at"].__set__
_BAD_LENGTH = "minhash_hex: expected 8 hex digits per value, found {} characters"


class _StoredFingerprint(BodyFingerprint):
    """A :class:`BodyFingerprint` as the store read it back: ``minhash_hex`` is the stored
    text, ``minhash`` is decoded from it the first time something reads it (then kept). A
    sender's read costs one string slice per recent body instead of ~1.4 µs of decoding
    64 ints; the bulk detector compares the text as it is and never decodes."""

    # ``size`` a slot, not BodyFingerprint's property: the bulk detector reads it per body.
    __slots__ = ("minhash_hex", "size")

    def __init__(self, recipient_id: str, sent_at: datetime, minhash_hex: str | None = None,
                 minhash: tuple[int, ...] | None = None) -> None:
        # ``minhash``: what dataclasses.replace() passes (it re-creates with every field).
        _RECIPIENT(self, recipient_id)
        _SENT_AT(self, sent_at)
        if minhash_hex is None:
            minhash = tuple(minhash or ())
            minhash_hex = struct.pack(f">{len(minhash)}I", *minhash).hex()
            _MINHASH.__set__(self, minhash)
        size, odd = divmod(len(minhash_hex), 8)
        if odd:
            raise ValueError(_BAD_LENGTH.format(len(minhash_hex)))
        _HEX(self, minhash_hex)
        _SIZE(self, size)

    @property  # type: ignore[override]
    def minhash(self) -> tuple[int, ...]:
        try:
            return _MINHASH.__get__(self)  # type: ignore[no-any-return]
        except AttributeError:  # not decoded yet
            text = self.minhash_hex
            values = struct.unpack(f">{len(text) // 8}I", bytes.fromhex(text))
            _MINHASH.__set__(self, values)
            return values

    def __eq__(self, other: object) -> bool:
        if isinstance(other, BodyFingerprint):  # either form: the same values are equal
            return ((self.recipient_id, self.sent_at, self.minhash)
                    == (other.recipient_id, other.sent_at, other.minhash))
        return NotImplemented

    __hash__ = BodyFingerprint.__hash__

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __reduce__(self) -> tuple[type, tuple[str, datetime, str]]:
        return _StoredFingerprint, (self.recipient_id, self.sent_at, self.minhash_hex)


_HEX = _StoredFingerprint.__dict__["minhash_hex"].__set__
_SIZE = _StoredFingerprint.__dict__["size"].__set__
_new = object.__new__


def stored_fingerprint(recipient_id: str, sent_at: datetime,
                       minhash_hex: str) -> BodyFingerprint:
    """The fingerprint of a recent send from the text the store keeps: ``minhash_hex`` is
    8 lowercase hex digits per value, as :attr:`BodyFingerprint.minhash_hex` gives.
    Only its length is checked (``ValueError``): text that is not hex raises ``ValueError``
    when ``minhash`` is read, and the bulk detector finds no value of it equal to another."""
    size, odd = divmod(len(minhash_hex), 8)
    if odd:
        raise ValueError(_BAD_LENGTH.format(len(minhash_hex)))
    # What __init__ does, without its frame: the store makes up to 200 of these per send.
    made = _new(_StoredFingerprint)
    _RECIPIENT(made, recipient_id)
    _SENT_AT(made, sent_at)
    _HEX(made, minhash_hex)
    _SIZE(made, size)
    return made


__all__ = ["DEFAULT_ABUSE_THRESHOLD", "DEFAULT_ABUSE_WINDOW", "NO_ANNOTATIONS", "History",
           "SendAnnotations", "SendHistory", "stored_fingerprint"]
