"""InMailService: facts from the store -> Engine -> one atomic commit -> outbox events.

(Interface first: the HTTP API is written against these signatures; bodies are being filled in.)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from inmail_guard.engine.evaluator import Engine
from inmail_guard.engine.types import Credits, Member, Message
from inmail_guard.plugins.manager import Plugins
from inmail_guard.policies.schema import Policy
from inmail_guard.service_types import (
    ERROR_CODES,
    Analytics,
    Conversation,
    ConversationMessage,
    Counts,
    GroupBy,
    InboxItem,
    InMail,
    ManualClock,
    ReportResult,
    Restriction,
    RetractResult,
    SendResult,
    ServiceError,
)

__all__ = [
    "ERROR_CODES",
    "Analytics",
    "Conversation",
    "ConversationMessage",
    "Counts",
    "InMail",
    "InMailService",
    "InboxItem",
    "ManualClock",
    "ReportResult",
    "Restriction",
    "RetractResult",
    "SendResult",
    "ServiceError",
]


def utc_now() -> datetime:
    return datetime.now(UTC)


class InMailService:
    """The InMail system around the engine's decision. Thread-safe; one per process is enough.

    ``store`` is a :class:`~inmail_guard.store.Store`, a SQLAlchemy URL or a SQLite file path
    (default ``./inmail-guard.db``). ``clock`` returns aware UTC datetimes; inject a
    :class:`ManualClock` to move time in tests and the demo.
    """

    def __init__(
        self,
        policy: Policy,
        store: object | str | None = None,
        *,
        engine: Engine | None = None,
        plugins: Plugins | None = None,
        clock: Callable[[], datetime] = utc_now,
        dispatch_in_background: bool = False,
    ) -> None:
        raise NotImplementedError

    # --- members (admin) -------------------------------------------------------------------
    def put_member(self, member: Member) -> Member:
        raise NotImplementedError

    def get_member(self, member_id: str) -> Member:
        raise NotImplementedError

    def connect(self, member_id: str, other_id: str) -> None:
        raise NotImplementedError

    def disconnect(self, member_id: str, other_id: str) -> None:
        raise NotImplementedError

    def block(self, blocker_id: str, blocked_id: str) -> None:
        raise NotImplementedError

    def unblock(self, blocker_id: str, blocked_id: str) -> None:
        raise NotImplementedError

    # --- InMail lifecycle ------------------------------------------------------------------
    def send(self, message: Message) -> SendResult:
        raise NotImplementedError

    def get_inmail(self, inmail_id: str, member_id: str) -> InMail:
        raise NotImplementedError

    def open(self, inmail_id: str, member_id: str) -> InMail:
        raise NotImplementedError

    def retract(self, inmail_id: str, member_id: str) -> RetractResult:
        raise NotImplementedError

    def reply(self, inmail_id: str, member_id: str, body: str) -> Conversation:
        raise NotImplementedError

    def post(self, conversation_id: str, member_id: str, body: str) -> ConversationMessage:
        raise NotImplementedError

    def conversation(self, conversation_id: str, member_id: str) -> Conversation:
        raise NotImplementedError

    def report(self, inmail_id: str, member_id: str, reason: str = "") -> ReportResult:
        raise NotImplementedError

    def inbox(self, member_id: str, *, limit: int = 50) -> list[InboxItem]:
        raise NotImplementedError

    def sent(self, member_id: str, *, limit: int = 50) -> list[InMail]:
        raise NotImplementedError

    def expire_due(self) -> int:
        raise NotImplementedError

    # --- credits, restrictions -------------------------------------------------------------
    def credits(self, member_id: str) -> Credits:
        raise NotImplementedError

    def restriction(self, member_id: str) -> Restriction | None:
        raise NotImplementedError

    def lift_restriction(self, member_id: str, *, by: str = "operator", note: str = "") -> int:
        raise NotImplementedError

    # --- analytics -------------------------------------------------------------------------
    def analytics(
        self,
        *,
        sender_id: str | None = None,
        tag: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        group_by: GroupBy | None = None,
    ) -> Analytics:
        raise NotImplementedError

    # --- events ----------------------------------------------------------------------------
    def dispatch_events(self, batch: int = 100) -> int:
        raise NotImplementedError

    def start_dispatcher(self, interval: float = 1.0) -> None:
        raise NotImplementedError

    def stop_dispatcher(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError
