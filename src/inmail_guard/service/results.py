"""What :class:`~inmail_guard.service.InMailService` returns (a public contract).

Plain frozen dataclasses, each with ``to_dict()`` giving the JSON the HTTP API returns. Message
bodies appear only where a member is entitled to read them (:class:`InMail` after ``open``,
:class:`ConversationMessage`); never in events, logs or analytics.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from inmail_guard.engine.types import Credits, Decision, iso_z
from inmail_guard.store.analytics import GROUP_BY, Analytics, Counts, GroupBy

InMailStatus = Literal["delivered", "opened", "replied", "expired", "retracted", "reported"]

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


__all__ = [
    "GROUP_BY",
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
    "decision_from_dict",
    "inmail_event_fields",
    "inmail_from_row",
    "inmail_status",
    "iso",
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


def inmail_status(row: Any, now: datetime, expire_after: timedelta) -> InMailStatus:
    """An InMail row's status at ``now``: expiry is never stored, an unopened InMail older than
    ``expire_after`` *is* expired."""
    if row.retracted_at is not None:
        return "retracted"
    if row.reported_at is not None:
        return "reported"
    if row.replied_at is not None:
        return "replied"
    if row.opened_at is not None:
        return "opened"
    if row.sent_at + expire_after <= now:
        return "expired"
    return "delivered"


def inmail_from_row(row: Any, now: datetime, expire_after: timedelta,
                    retract_within: timedelta) -> InMail:
    """An ``inmails`` row (attribute access) as the :class:`InMail` its sender sees."""
    return InMail(
        id=row.id, sender_id=row.sender_id, recipient_id=row.recipient_id,
        subject=row.subject, body=row.body, status=inmail_status(row, now, expire_after),
        sent_at=row.sent_at, expires_at=row.sent_at + expire_after,
        retract_until=row.sent_at + retract_within,
        tags=tuple(json.loads(row.tags)), crm=json.loads(row.crm),
        decision_id=row.decision_id, opened_at=row.opened_at, replied_at=row.replied_at,
        retracted_at=row.retracted_at, reported_at=row.reported_at,
        conversation_id=row.conversation_id)


def inmail_event_fields(inmail: InMail) -> dict[str, Any]:
    """What every ``inmail.*`` event carries: ids, tags, CRM references, times. No body."""
    return {"inmail_id": inmail.id, "sender_id": inmail.sender_id,
            "recipient_id": inmail.recipient_id, "tags": list(inmail.tags),
            "crm": dict(inmail.crm), "decision_id": inmail.decision_id,
            "sent_at": iso(inmail.sent_at)}
