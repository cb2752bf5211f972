"""The data that flows through the engine: plain, frozen, slotted dataclasses.

They are validated once, at the edge (YAML, JSON, HTTP), with pydantic ``TypeAdapter`` s built
from these very classes (see :mod:`inmail_guard.engine.io`), so there is one definition of each
field. Inside the engine they are trusted and cheap to pass around.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    ConfigDict,
    Strict,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from inmail_guard.bounds import Count

_STRICT = ConfigDict(extra="forbid")
# Strict types at the edge: a value of the wrong JSON type is an error naming the field, never
# coerced ("yes" is not true, "5" not 5, 5.0 not 5, true not 1, 253402300800 not a date).
# Per field, not ``strict=True`` in the config: that would also refuse a dict for a nested
# dataclass, and a list for a tuple, which is all JSON and YAML can give.
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]")


def _iso_8601(value: Any) -> Any:
    """A datetime, or a string that starts like an ISO 8601 date and time: never a number,
    which pydantic would read as seconds or milliseconds since 1970."""
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_DATE.match(value)):
        return value
    raise PydanticCustomError(
        "datetime_iso_8601", "Input should be an ISO 8601 date and time with a time zone,"
        " such as 2026-11-27T09:00:00Z")


def _whole_number(value: Any) -> Any:
    # JSON-mode Literal[1, 2, 3] takes 2.0 and true (== 1) even when strict.
    if type(value) is int:
        return value
    raise PydanticCustomError("literal_error", "Input should be 1, 2 or 3")


#: How far the recipient is in the sender's network: 1 (a connection), 2 or 3.
Degree = Annotated[Literal[1, 2, 3], BeforeValidator(_whole_number)]

#: A time as the JSON edges accept it: ISO 8601 with a time zone (or a datetime in Python).
WireDatetime = Annotated[AwareDatetime, BeforeValidator(_iso_8601)]
#: ``true`` or ``false`` only.
Flag = Annotated[bool, Strict()]


Outcome = Literal["accepted", "rejected"]


@dataclass(frozen=True, slots=True)
class Attachment:
    __pydantic_config__ = _STRICT
    filename: str
    content_type: str = "application/octet-stream"
    size_bytes: Count = 0


@dataclass(frozen=True, slots=True)
class Client:
    """What the sending client says about itself."""

    __pydantic_config__ = _STRICT
    automated: Flag = False
    user_agent: str = ""


@dataclass(frozen=True, slots=True)
class Message:
    """One InMail as composed: there are no drafts, so this is also the send request."""

    __pydantic_config__ = _STRICT
    sender_id: str
    recipient_id: str
    subject: str = ""
    body: str = ""
    attachments: tuple[Attachment, ...] = ()
    tags: tuple[str, ...] = ()
    crm: Mapping[str, str] = field(default_factory=dict)
    idempotency_key: str | None = None
    client: Client | None = None


#: The longest ``photo_url`` (the store's column holds no more).
PHOTO_URL_MAX_CHARS = 2000
# The scheme, "://" and a host's first character; nothing a browser would skip or reinterpret
# (spaces, control characters, backslashes) anywhere.
_PHOTO_URL = re.compile(r"https?://[^\s/\\?#@][^\s\\]*", re.IGNORECASE | re.ASCII)
_UNSAFE = re.compile(r"[\x00-\x20\x7f-\x9f\\]")


def photo_url_problem(value: str) -> str | None:
    """Why ``value`` may not be a member's photo URL, or None. Clients put it in an ``<img
    src>``: only ``http://`` and ``https://`` URLs with a host, at most
    :data:`PHOTO_URL_MAX_CHARS` characters. Never repeats the value."""
    if not isinstance(value, str):
        return "must be a string or null"
    if len(value) > PHOTO_URL_MAX_CHARS:
        return f"is {len(value)} characters long; at most {PHOTO_URL_MAX_CHARS}"
    if _UNSAFE.search(value):
        return "must not contain spaces, control characters or backslashes"
    if not _PHOTO_URL.fullmatch(value):
        return "must be an http:// or https:// URL with a host"
    return None


def _photo_url(value: str) -> str:
    problem = photo_url_problem(value)
    if problem is not None:
        raise PydanticCustomError("photo_url", problem)
    return value


# The same rule as :func:`photo_url_problem`, for the JSON schema (ECMA 262: no flags, so the
# scheme's letters are spelt in both cases, and no \\s, which there also means Unicode spaces
# the server accepts). ``tests/engine/test_photo_url.py`` checks that the two agree.
_PHOTO_URL_UNSAFE = r"\x00-\x20\x7f-\x9f\\"
PHOTO_URL_PATTERN = (rf"^[Hh][Tt][Tt][Pp][Ss]?://[^{_PHOTO_URL_UNSAFE}/?#@]"
                     rf"[^{_PHOTO_URL_UNSAFE}]*$")

#: A ``photo_url`` as the JSON edges accept it (see :func:`photo_url_problem`). Its JSON schema
#: says the same, so OpenAPI clients and schemathesis know what is accepted.
PhotoUrl = Annotated[str, AfterValidator(_photo_url), WithJsonSchema({
    "type": "string", "minLength": 8, "maxLength": PHOTO_URL_MAX_CHARS,
    "pattern": PHOTO_URL_PATTERN,
    "description": "An http:// or https:// URL with a host, at most 2,000 characters; no"
                   " spaces, control characters or backslashes."})]


@dataclass(frozen=True, slots=True)
class Member:
    __pydantic_config__ = _STRICT
    id: str
    plan: str = "basic"
    profile_public: Flag = True
    accepts_inmail: Flag = True
    is_employee: Flag = False
    name: str | None = None
    photo_url: PhotoUrl | None = None
    # Profile details the advice reads ("profile_specifics"); optional.
    headline: str | None = None
    company: str | None = None
    role: str | None = None


@dataclass(frozen=True, slots=True)
class BodyFingerprint:
    """A recent send's body, reduced to a MinHash signature (see plugins/bulk.py).

    Callers give ``minhash`` as ints. The store hands the engine the form it keeps instead
    (:func:`inmail_guard.engine.history.stored_fingerprint`: the values as hex text, decoded
    into ``minhash`` only when something reads it), because a heavy sender's 200 fingerprints
    would otherwise cost more to decode on every send than the bulk detector spends comparing
    them. Both forms compare equal, hash alike and serialise the same; the detector reads
    :attr:`size` and :attr:`minhash_hex`, which neither form decodes for.
    """

    __pydantic_config__ = _STRICT
    recipient_id: str
    sent_at: WireDatetime
    minhash: tuple[Annotated[int, Strict()], ...]

    @property
    def size(self) -> int:
        """How many MinHash values there are (``len(minhash)``, without decoding)."""
        return len(self.minhash)

    @property
    def minhash_hex(self) -> str:
        """The values as 8 lowercase hex digits each (unsigned 32-bit, big-endian): the text
        the store keeps. A value outside ``[0, 2**32)`` raises ``struct.error``."""
        return struct.pack(f">{len(self.minhash)}I", *self.minhash).hex()


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything the engine may know beyond the message. ``now`` is the engine's only clock.

    Fields beyond the basic facts (all optional, defaults keep old callers working):
    ``credits_extra`` credits added to this window's plan allowance (roll-over, refunds);
    ``prior_restrictions`` how many times the sender was restricted before (escalation);
    ``pending_to_recipient`` the sender already has an unanswered InMail pending to this
    recipient; ``recent_bodies`` fingerprints of the sender's recent bodies (bulk detector);
    ``shared_connections`` how many 1st-degree connections sender and recipient have in common;
    ``prior_conversation`` the two already have a conversation (a reply to an earlier InMail).
    The last two only feed advice.
    """

    __pydantic_config__ = _STRICT
    sender: Member
    recipient: Member
    now: WireDatetime
    connection_degree: Degree | None = None
    blocked_by_recipient: Flag = False
    credits_used: Count = 0
    recent_sends: tuple[WireDatetime, ...] = ()
    abuse_reports: Count = 0
    restricted_until: WireDatetime | None = None
    credits_extra: Count = 0
    prior_restrictions: Count = 0
    pending_to_recipient: Flag = False
    recent_bodies: tuple[BodyFingerprint, ...] = ()
    shared_connections: Count = 0
    prior_conversation: Flag = False


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    rule: str
    detail: str
    sender_message: str

    def to_dict(self) -> dict[str, str]:
        return {
            "code": self.code,
            "rule": self.rule,
            "detail": self.detail,
            "sender_message": self.sender_message,
        }


@dataclass(frozen=True, slots=True)
class Signal:
    """One detector's finding. ``score`` 0 means it looked and found nothing worth scoring."""

    detector: str
    score: float
    detail: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    shadow: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "detector": self.detector,
            "score": self.score,
            "detail": self.detail,
            "data": dict(self.data),
        }
        if self.error is not None:
            out["error"] = self.error
        if self.shadow:
            out["shadow"] = True
        return out


@dataclass(frozen=True, slots=True)
class Advice:
    code: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


@dataclass(frozen=True, slots=True)
class Credits:
    plan: str
    limit: int
    used: int
    remaining: int
    window_end: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan,
            "limit": self.limit,
            "used": self.used,
            "remaining": self.remaining,
            "window_end": iso_z(self.window_end),
        }


@dataclass(frozen=True, slots=True)
class SpamResult:
    score: float
    reject_at: float
    restrict_at: float
    signals: tuple[Signal, ...] = ()
    skipped: tuple[str, ...] = ()
    skipped_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "score": self.score,
            "reject_at": self.reject_at,
            "restrict_at": self.restrict_at,
            "signals": [s.to_dict() for s in self.signals],
        }
        if self.skipped:
            out["skipped"] = list(self.skipped)
            out["skipped_reason"] = self.skipped_reason
        return out


@dataclass(frozen=True, slots=True)
class ShadowHit:
    """A rule or detector in shadow mode that would have rejected."""

    code: str
    rule: str
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "rule": self.rule, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class PolicyRef:
    name: str
    version: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "version": self.version}


@dataclass(frozen=True, slots=True)
class Decision:
    decision_id: str
    outcome: Outcome
    reasons: tuple[Reason, ...]
    spam: SpamResult
    credits: Credits | None
    policy: PolicyRef
    evaluated_at: datetime
    duration_ms: float
    shadow: tuple[ShadowHit, ...] = ()
    restrict_sender_until: datetime | None = None
    restricted_until: datetime | None = None
    advice: tuple[Advice, ...] = ()

    @property
    def accepted(self) -> bool:
        return self.outcome == "accepted"

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision_id": self.decision_id,
            "outcome": self.outcome,
            "reasons": [r.to_dict() for r in self.reasons],
            "spam": self.spam.to_dict(),
            "credits": self.credits.to_dict() if self.credits else None,
            "shadow": [s.to_dict() for s in self.shadow],
            "restrict_sender_until": iso_z(self.restrict_sender_until),
            "restricted_until": iso_z(self.restricted_until),
            "advice": [a.to_dict() for a in self.advice],
            "policy": self.policy.to_dict(),
            "evaluated_at": iso_z(self.evaluated_at),
            "duration_ms": round(self.duration_ms, 4),
        }


# datetime.isoformat is slow (~2 µs) and a send formats the same few UTC times again and again
# (its "now", the credit window's end): remember the last ones. Only for UTC datetimes, where
# equal values always format alike (fold and other zones' offsets do not come into it).
_ISO_TEXTS: dict[datetime, str] = {}


def iso_z(value: datetime | None) -> str | None:
    """ISO 8601 with ``Z`` for UTC (offsets kept otherwise); remembered for UTC values."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        return value.isoformat().replace("+00:00", "Z")
    text = _ISO_TEXTS.get(value)
    if text is None:
        if len(_ISO_TEXTS) > 256:
            _ISO_TEXTS.clear()
        text = _ISO_TEXTS[value] = value.isoformat().replace("+00:00", "Z")
    return text
