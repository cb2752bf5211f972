"""What :class:`~inmail_guard.service.InMailService` returns and raises (a public contract).

Plain frozen dataclasses, each with ``to_dict()`` giving the JSON the HTTP API returns. Message
bodies appear only where a member is entitled to read them (:class:`InMail` after ``open``,
:class:`ConversationMessage`); never in events, logs or analytics.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from inmail_guard.engine.types import Credits, Decision, iso_z

if TYPE_CHECKING:
    from inmail_guard.policies.schema import Policy

InMailStatus = Literal["delivered", "opened", "replied", "expired", "retracted", "reported"]

#: Every error code the service raises, with the HTTP status the API maps it to.
ERROR_CODES: dict[str, int] = {
    "invalid_request": 422,  # a field is missing or malformed (``field`` says which)
    "unknown_plan": 422,  # a member's plan is not declared in the policy
    "member_not_found": 404,
    "inmail_not_found": 404,  # also: the acting recipient can no longer see it (retracted)
    "conversation_not_found": 404,
    "not_allowed": 403,  # the acting member may not do this to this InMail/conversation
    "idempotency_conflict": 409,  # same idempotency key, different message
    "retract_window_passed": 409,  # retract after lifecycle.retract_within
    "already_retracted": 409,
    "already_replied": 409,  # retract after the recipient replied
    "inmail_expired": 410,  # open/reply/report an unopened InMail after it expired
    # the database is down or too slow (a bounded timeout ran out); nothing was changed, retry
    "database_unavailable": 503,
}


class ServiceError(Exception):
    """A request the service refuses. ``code`` is one of :data:`ERROR_CODES`; nothing changed."""

    def __init__(self, code: str, message: str, *, field: str | None = None) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown service error code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    @property
    def status(self) -> int:
        return ERROR_CODES[self.code]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.field is not None:
            out["field"] = self.field
        return out


def check_service_policy(policy: Policy) -> None:
    """Refuse, with a ``ValueError`` naming the key, a policy the InMail service cannot run:
    ``rules_mode.credits: shadow``. Every accepted send spends a credit, so here the credit
    rule cannot be advisory (a send it would have refused has no credit to spend)."""
    if policy.rules_mode.get("credits") == "shadow":
        raise ValueError("rules_mode.credits: expected enforce for the InMail service, found"
                         " shadow: every accepted send spends a credit. Shadow the credit rule"
                         " in replay or policy test instead")


def check_text(field: str, value: str | None, max_chars: int | None = None) -> None:
    """Refuse text the store cannot keep the same way on SQLite and PostgreSQL, before anything
    is written: a NUL character (PostgreSQL's text types cannot hold one), or more than
    ``max_chars`` characters (the column's size, which SQLite would not enforce). Raises
    ``ServiceError("invalid_request")`` naming ``field``; never repeats the value."""
    if value is None:
        return
    if "\x00" in value:
        raise ServiceError("invalid_request", f"{field} contains a NUL character (U+0000);"
                           " remove it", field=field)
    if max_chars is not None and len(value) > max_chars:
        raise ServiceError("invalid_request", f"{field} is {len(value)} characters long; at"
                           f" most {max_chars}", field=field)


class ManualClock:
    """A clock tests and the demo can move: ``clock()`` returns the current (aware, UTC) time."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = (start or datetime.now(UTC)).astimezone(UTC)
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when.astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    """A time as ISO 8601 in UTC with ``Z``; shares :func:`~inmail_guard.engine.types.iso_z`'s
    memory of recent UTC times (a send formats its "now" several times)."""
    if value is not None and value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return iso_z(value)


@dataclass(frozen=True, slots=True)
class InMail:
    """One InMail as its sender or recipient sees it. ``body`` is the Markdown source; None
    where the reader may not see it yet (the recipient, before opening it)."""

    id: str
    sender_id: str
    recipient_id: str
    subject: str
    body: str | None
    status: InMailStatus
    sent_at: datetime
    expires_at: datetime
    retract_until: datetime
    tags: tuple[str, ...] = ()
    crm: dict[str, str] = field(default_factory=dict)
    decision_id: str | None = None
    opened_at: datetime | None = None
    replied_at: datetime | None = None
    retracted_at: datetime | None = None
    reported_at: datetime | None = None
    conversation_id: str | None = None

    def for_recipient(self) -> InMail:
        """The InMail as its recipient may see it: the sender's campaign ``tags`` and CRM
        references (``crm``: leads, accounts) belong to the sender's sales pipeline."""
        return replace(self, tags=(), crm={})

    def to_dict(self, *, include_body: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "sender_id": self.sender_id,
            "recipient_id": self.recipient_id,
            "subject": self.subject,
            "status": self.status,
            "tags": list(self.tags),
            "crm": dict(self.crm),
            "decision_id": self.decision_id,
            "sent_at": iso(self.sent_at),
            "expires_at": iso(self.expires_at),
            "retract_until": iso(self.retract_until),
            "opened_at": iso(self.opened_at),
            "replied_at": iso(self.replied_at),
            "retracted_at": iso(self.retracted_at),
            "reported_at": iso(self.reported_at),
            "conversation_id": self.conversation_id,
        }
        if include_body and self.body is not None:
            out["body"] = self.body
        return out


@dataclass(frozen=True, slots=True)
class SendResult:
    """``decision`` always; ``inmail`` when accepted; ``replayed`` when the idempotency key had
    already been used with this same message (the first decision and InMail, nothing spent)."""

    decision: Decision
    inmail: InMail | None
    replayed: bool = False

    @property
    def accepted(self) -> bool:
        return self.decision.accepted

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision.to_dict(),
            "inmail": self.inmail.to_dict(include_body=False) if self.inmail else None,
            "replayed": self.replayed,
        }


@dataclass(frozen=True, slots=True)
class SenderCard:
    id: str
    name: str | None
    photo_url: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "photo_url": self.photo_url}


@dataclass(frozen=True, slots=True)
class InboxItem:
    """One line of a recipient's inbox: no body, a preview of ``lifecycle.preview_chars``."""

    inmail_id: str
    sender: SenderCard
    subject: str
    preview: str
    status: InMailStatus
    sent_at: datetime
    expires_at: datetime
    opened_at: datetime | None = None
    conversation_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "inmail_id": self.inmail_id,
            "sender": self.sender.to_dict(),
            "subject": self.subject,
            "preview": self.preview,
            "status": self.status,
            "sent_at": iso(self.sent_at),
            "expires_at": iso(self.expires_at),
            "opened_at": iso(self.opened_at),
            "conversation_id": self.conversation_id,
        }


@dataclass(frozen=True, slots=True)
class ConversationMessage:
    id: str
    conversation_id: str
    author_id: str
    body: str
    sent_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "conversation_id": self.conversation_id,
            "author_id": self.author_id,
            "body": self.body,
            "sent_at": iso(self.sent_at),
        }


@dataclass(frozen=True, slots=True)
class Conversation:
    """The thread that a reply opens: the InMail's sender and recipient, regular messages."""

    id: str
    inmail_id: str
    participants: tuple[str, str]
    created_at: datetime
    messages: tuple[ConversationMessage, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "inmail_id": self.inmail_id,
            "participants": list(self.participants),
            "created_at": iso(self.created_at),
            "messages": [m.to_dict() for m in self.messages],
        }


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    """One line of a member's conversation list: who it is with, the InMail it began as, the
    latest message (a preview, as in the inbox) and how many messages the member has not read."""

    id: str
    inmail_id: str
    subject: str
    with_member: SenderCard
    created_at: datetime
    last_message_at: datetime
    last_message_author_id: str | None
    last_message_preview: str
    unread: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "inmail_id": self.inmail_id,
            "subject": self.subject,
            "with": self.with_member.to_dict(),
            "created_at": iso(self.created_at),
            "last_message_at": iso(self.last_message_at),
            "last_message": {"author_id": self.last_message_author_id,
                             "preview": self.last_message_preview},
            "unread": self.unread,
        }


@dataclass(frozen=True, slots=True)
class RetractResult:
    inmail_id: str
    retracted_at: datetime
    was_opened: bool

    def to_dict(self) -> dict[str, Any]:
        return {"inmail_id": self.inmail_id, "retracted_at": iso(self.retracted_at),
                "was_opened": self.was_opened}


@dataclass(frozen=True, slots=True)
class Restriction:
    id: str
    member_id: str
    starts_at: datetime
    until: datetime
    cause: Literal["spam", "abuse_reports"]
    lifted_at: datetime | None = None
    lifted_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "member_id": self.member_id, "starts_at": iso(self.starts_at),
                "until": iso(self.until), "cause": self.cause, "lifted_at": iso(self.lifted_at),
                "lifted_by": self.lifted_by}


@dataclass(frozen=True, slots=True)
class ReportResult:
    report_id: str
    inmail_id: str
    sender_reports_in_window: int
    restriction: Restriction | None = None  # set when this report restricted the sender

    def to_dict(self) -> dict[str, Any]:
        return {"report_id": self.report_id, "inmail_id": self.inmail_id,
                "sender_reports_in_window": self.sender_reports_in_window,
                "restriction": self.restriction.to_dict() if self.restriction else None}


@dataclass(frozen=True, slots=True)
class Counts:
    """Delivery is synchronous, so ``delivered == sent``; rates are over delivered InMail."""

    sent: int = 0
    delivered: int = 0
    opened: int = 0
    replied: int = 0
    expired: int = 0
    retracted: int = 0

    @property
    def open_rate(self) -> float:
        return self.opened / self.delivered if self.delivered else 0.0

    @property
    def response_rate(self) -> float:
        return self.replied / self.delivered if self.delivered else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "delivered": self.delivered, "opened": self.opened,
                "replied": self.replied, "expired": self.expired, "retracted": self.retracted,
                "open_rate": round(self.open_rate, 4),
                "response_rate": round(self.response_rate, 4)}


GroupBy = Literal["sender", "tag", "day", "week", "month"]


@dataclass(frozen=True, slots=True)
class Analytics:
    """Counts for the InMail sent in [since, until) matching the filters, and per group."""

    total: Counts
    groups: tuple[tuple[str, Counts], ...] = ()
    group_by: GroupBy | None = None
    since: datetime | None = None
    until: datetime | None = None
    sender_id: str | None = None
    tag: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "filters": {"sender_id": self.sender_id, "tag": self.tag,
                        "since": iso(self.since), "until": iso(self.until)},
            "total": self.total.to_dict(),
            "group_by": self.group_by,
            "groups": [{"key": key, **counts.to_dict()} for key, counts in self.groups],
        }


__all__ = [
    "ERROR_CODES",
    "Analytics",
    "Conversation",
    "ConversationMessage",
    "ConversationSummary",
    "Counts",
    "Credits",
    "GroupBy",
    "InMail",
    "InMailStatus",
    "InboxItem",
    "ManualClock",
    "ReportResult",
    "Restriction",
    "RetractResult",
    "SendResult",
    "SenderCard",
    "ServiceError",
]


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


def decision_from_dict(data: dict[str, Any]) -> Decision:
    """Rebuild a :class:`Decision` from ``Decision.to_dict()`` (the stored decision log)."""
    from inmail_guard.engine.types import (
        Advice,
        PolicyRef,
        Reason,
        ShadowHit,
        Signal,
        SpamResult,
    )

    spam = data["spam"]
    credits = data.get("credits")
    evaluated_at = _dt(data["evaluated_at"])
    assert evaluated_at is not None
    return Decision(
        decision_id=data["decision_id"],
        outcome=data["outcome"],
        reasons=tuple(Reason(**r) for r in data["reasons"]),
        spam=SpamResult(
            score=spam["score"], reject_at=spam["reject_at"], restrict_at=spam["restrict_at"],
            signals=tuple(Signal(detector=s["detector"], score=s["score"],
                                 detail=s.get("detail", ""), data=s.get("data", {}),
                                 error=s.get("error"), shadow=s.get("shadow", False))
                          for s in spam["signals"]),
            skipped=tuple(spam.get("skipped", ())), skipped_reason=spam.get("skipped_reason")),
        credits=None if credits is None else Credits(
            plan=credits["plan"], limit=credits["limit"], used=credits["used"],
            remaining=credits["remaining"], window_end=_dt(credits["window_end"])),  # type: ignore[arg-type]
        policy=PolicyRef(**data["policy"]),
        evaluated_at=evaluated_at,
        duration_ms=data["duration_ms"],
        shadow=tuple(ShadowHit(**s) for s in data.get("shadow", ())),
        restrict_sender_until=_dt(data.get("restrict_sender_until")),
        restricted_until=_dt(data.get("restricted_until")),
        advice=tuple(Advice(**a) for a in data.get("advice", ())),
    )
