"""InMailService: facts from the store -> Engine -> one atomic commit -> outbox events.

A thin façade over collaborators that share one
:class:`~inmail_guard.service.context.ServiceContext` (store, clock, recorder, and the active
policy: the engine with the terms compiled from it):

=====================  ====================================================================
``send.py``            ``send``/``send_nowait``: check, lock the account, facts, evaluate, write
``credits.py``         credit accounts and restrictions (``credits``, ``restriction``, lifting)
``inbox.py``           inbox, open, retract, reply and conversations, report, expiry
``members.py``         member profiles, connections, blocks
``events.py``          the outbox dispatcher
``analytics.py``       counts over stored InMail
``errors.py``          :class:`ServiceError` and its codes; lower layers' errors mapped
``results.py``         the frozen result types (the public contract)
``recording.py``       opt-in replay records of evaluated sends
=====================  ====================================================================

Every state change runs in one write transaction that also queues its events in the outbox, so
a change and its events commit or vanish together. See docs/service.md for the contract.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from pathlib import Path

from inmail_guard.engine.evaluator import Engine
from inmail_guard.engine.types import Credits, Member, Message
from inmail_guard.plugins.manager import Plugins
from inmail_guard.policies.schema import Policy
from inmail_guard.service import analytics as _analytics
from inmail_guard.service.context import ActivePolicy, ServiceContext, Terms, new_id, utc_now
from inmail_guard.service.credits import Accounts
from inmail_guard.service.errors import (
    ERROR_CODES,
    DatabaseUnavailable,
    PlanNotDeclared,
    ServiceError,
    check_service_policy,
    check_text,
    refusals,
)
from inmail_guard.service.events import EventDispatcher
from inmail_guard.service.inbox import EXPIRE_BATCH, Inbox
from inmail_guard.service.members import Members
from inmail_guard.service.recording import Recorder, RecordingSettings
from inmail_guard.service.results import (
    GROUP_BY,
    Analytics,
    Conversation,
    ConversationMessage,
    ConversationSummary,
    Counts,
    GroupBy,
    InboxItem,
    InMail,
    InMailStatus,
    ManualClock,
    ReportResult,
    Restriction,
    RetractResult,
    SenderCard,
    SendResult,
    decision_from_dict,
    inmail_event_fields,
    iso,
)
from inmail_guard.service.send import SEND_TEXT_LIMITS, Sends, request_hash
from inmail_guard.store import Store, outbox


class InMailService:
    """The InMail system around the engine's decision. Thread-safe; one per process is enough.

    ``store`` is a :class:`~inmail_guard.store.Store`, a SQLAlchemy URL or a SQLite file path
    (default ``./inmail-guard.db``). ``clock`` returns aware UTC datetimes; inject a
    :class:`ManualClock` to move time in tests and the demo.
    """

    def __init__(
        self,
        policy: Policy,
        store: Store | str | Path | None = None,
        *,
        engine: Engine | None = None,
        plugins: Plugins | None = None,
        clock: Callable[[], datetime] = utc_now,
        dispatch_in_background: bool = False,
        recorder: Recorder | None = None,
        event_retention: timedelta | object | None = outbox.FROM_ENV,
    ) -> None:
        """``event_retention``: how long delivered events stay in the outbox before
        :meth:`purge_events` (run by the dispatcher) deletes them; None keeps them forever.
        Default: ``INMAIL_GUARD_EVENTS_RETENTION`` (``30d`` when unset)."""
        retention = (outbox.retention_from_env() if event_retention is outbox.FROM_ENV
                     else event_retention)
        _check_retention(retention)
        if recorder is None:
            settings = RecordingSettings.from_env()
            recorder = Recorder(settings) if settings is not None else None
        self._owns_store = not isinstance(store, Store)
        engine = engine if engine is not None else Engine(policy, plugins)
        #: What the collaborators share: store, clock, recorder, the active policy.
        self.ctx = ServiceContext(store if isinstance(store, Store) else Store(store), engine,
                                  clock, recorder)
        self.members = Members(self.ctx)
        self.accounts = Accounts(self.ctx)
        self.sends = Sends(self.ctx)
        self.inmails = Inbox(self.ctx, self.accounts)
        self.events = EventDispatcher(self.ctx, self.inmails.expire_due,
                                      retention)  # type: ignore[arg-type]
        if dispatch_in_background:
            self.start_dispatcher()

    # --- the shared state, as attributes -------------------------------------------------------

    @property
    def store(self) -> Store:
        return self.ctx.store

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.ctx.clock

    @property
    def recorder(self) -> Recorder | None:
        """Opt-in: every evaluated send written as a replay record (service.recording)."""
        return self.ctx.recorder

    @property
    def active(self) -> ActivePolicy:
        """The engine and the terms compiled from it, as one object (read it once)."""
        return self.ctx.active

    @property
    def engine(self) -> Engine:
        return self.ctx.active.engine

    @property
    def policy(self) -> Policy:
        return self.ctx.active.policy

    @property
    def plugins(self) -> Plugins:
        return self.ctx.active.plugins

    @property
    def terms(self) -> Terms:
        return self.ctx.active.terms

    @property
    def expire_after(self) -> timedelta:
        return self.ctx.active.terms.expire_after

    @property
    def retract_within(self) -> timedelta:
        return self.ctx.active.terms.retract_within

    @property
    def preview_chars(self) -> int:
        return self.ctx.active.terms.preview_chars

    @property
    def abuse_window(self) -> timedelta:
        return self.ctx.active.terms.abuse_window

    @property
    def abuse_threshold(self) -> int:
        return self.ctx.active.terms.abuse_threshold

    @property
    def event_retention(self) -> timedelta | None:
        """Delivered events older than this are purged; None: kept forever."""
        return self.events.retention

    @event_retention.setter
    def event_retention(self, value: timedelta | None) -> None:
        _check_retention(value)
        self.events.retention = value

    def swap_engine(self, engine: Engine) -> None:
        """Use ``engine`` (and its policy) from the next request on: a policy reload. The
        engine and the terms compiled from it replace the old ones in one assignment;
        requests in flight finish with what they started with. A policy the service cannot
        run raises ``ValueError`` and changes nothing."""
        self.ctx.swap(engine)

    # --- members ---------------------------------------------------------------------------

    @refusals
    def put_member(self, member: Member) -> Member:
        return self.members.put(member)

    @refusals
    def patch_member(self, member_id: str, changes: Mapping[str, object]) -> Member:
        """Change only the attributes in ``changes`` (``PATCH``'s merge patch) of an existing
        member and return it as stored. One ``UPDATE`` of the named columns, so two patches of
        different attributes never undo each other. Raises ``member_not_found``."""
        return self.members.patch(member_id, changes)

    @refusals
    def get_member(self, member_id: str) -> Member:
        return self.members.get(member_id)

    @refusals
    def connect(self, member_id: str, other_id: str) -> None:
        self.members.connect(member_id, other_id)

    @refusals
    def disconnect(self, member_id: str, other_id: str) -> None:
        self.members.disconnect(member_id, other_id)

    @refusals
    def block(self, blocker_id: str, blocked_id: str) -> None:
        self.members.block(blocker_id, blocked_id)

    @refusals
    def unblock(self, blocker_id: str, blocked_id: str) -> None:
        self.members.unblock(blocker_id, blocked_id)

    # --- send ------------------------------------------------------------------------------

    @refusals
    def send(self, message: Message) -> SendResult:
        """Evaluate and, when accepted, spend one credit, store the InMail and queue
        ``inmail.sent``, all in one transaction. A rejection only writes the decision log (and,
        if the decision restricts the sender, the restriction and ``sender.restricted``)."""
        return self.sends.send(message)

    @refusals
    def send_nowait(self, message: Message) -> SendResult | None:
        """:meth:`send`, if it can run without waiting: SQLite, and no other thread or process
        writing at this moment. Otherwise None, having done nothing: call :meth:`send` where
        it may wait. For callers on an event loop (the HTTP route): a send that would wait on
        a lock (or on the network, as on PostgreSQL) must not hold the loop."""
        return self.sends.send_nowait(message)

    # --- credits, restrictions -------------------------------------------------------------

    @refusals
    def credits(self, member_id: str) -> Credits:
        return self.accounts.credits(member_id)

    @refusals
    def restriction(self, member_id: str) -> Restriction | None:
        return self.accounts.restriction(member_id)

    @refusals
    def restricted_until(self, member_id: str) -> tuple[datetime | None, int]:
        """(until when the member is restricted, or None; restrictions they ever had)."""
        return self.accounts.restricted_until(member_id)

    @refusals
    def lift_restriction(self, member_id: str, *, by: str = "operator", note: str = "") -> int:
        """End the member's restrictions in force now; returns how many were lifted. History is
        kept: a later restriction still escalates."""
        return self.accounts.lift_restriction(member_id, by=by, note=note)

    # --- InMail after the send -------------------------------------------------------------

    @refusals
    def get_inmail(self, inmail_id: str, member_id: str) -> InMail:
        """Read one InMail as its sender or recipient, without opening it. The recipient gets
        the body only once they opened it (``open`` shows the full text, counts the open and
        refuses an expired InMail): before that, ``body`` is None."""
        return self.inmails.get_inmail(inmail_id, member_id)

    @refusals
    def inbox(self, member_id: str, *, limit: int = 50) -> list[InboxItem]:
        """The recipient's InMail inbox, newest first: not retracted, not reported, and opened
        or not yet expired. Each item: sender card, subject, preview (rendered text)."""
        return self.inmails.inbox(member_id, limit=limit)

    @refusals
    def sent(self, member_id: str, *, limit: int = 50) -> list[InMail]:
        """The sender's InMail, newest first, each with its current status."""
        return self.inmails.sent(member_id, limit=limit)

    @refusals
    def open(self, inmail_id: str, member_id: str) -> InMail:
        """The recipient opens an InMail: the full text. The first open emits inmail.opened."""
        return self.inmails.open(inmail_id, member_id)

    @refusals
    def retract(self, inmail_id: str, member_id: str) -> RetractResult:
        """The sender retracts within ``lifecycle.retract_within``: the InMail leaves the
        recipient's inbox (unopened) or their list (opened) alike."""
        return self.inmails.retract(inmail_id, member_id)

    @refusals
    def reply(self, inmail_id: str, member_id: str, body: str) -> Conversation:
        """The recipient replies: a conversation opens (no credit spent), ``inmail.replied`` is
        emitted, and under ``credits.refund_on_response_within`` the sender gets the credit
        back. Replying again continues the same conversation."""
        return self.inmails.reply(inmail_id, member_id, body)

    @refusals
    def conversation(self, conversation_id: str, member_id: str) -> Conversation:
        return self.inmails.conversation(conversation_id, member_id)

    @refusals
    def conversations(self, member_id: str, *, limit: int = 50) -> list[ConversationSummary]:
        """``member_id``'s conversations, latest activity first: the other participant, the
        InMail's subject, a preview of the latest message and the member's unread count. A
        reply to a member's InMail appears here, for both of them."""
        return self.inmails.conversations(member_id, limit=limit)

    @refusals
    def mark_read(self, conversation_id: str, member_id: str) -> ConversationSummary:
        """Every message of the conversation so far is read by ``member_id``."""
        return self.inmails.mark_read(conversation_id, member_id)

    @refusals
    def post(self, conversation_id: str, member_id: str, body: str) -> ConversationMessage:
        """Either participant continues the conversation with a regular message (no credit)."""
        return self.inmails.post(conversation_id, member_id, body)

    @refusals
    def report(self, inmail_id: str, member_id: str, reason: str = "") -> ReportResult:
        """The recipient reports an InMail as abuse: it leaves their inbox, ``inmail.reported``
        is emitted, and when the sender's reports within the abuse window reach the threshold
        (and ``spam.restriction.on_abuse_report``) the sender is restricted. Reporting the same
        InMail twice changes nothing."""
        return self.inmails.report(inmail_id, member_id, reason)

    @refusals
    def expire_due(self) -> int:
        """Emit ``inmail.expired`` for every InMail that expired unopened and has not had its
        event yet; returns how many. Safe to run from several processes: each event once."""
        return self.inmails.expire_due()

    # --- analytics -------------------------------------------------------------------------

    @refusals
    def analytics(
        self,
        *,
        sender_id: str | None = None,
        tag: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        group_by: GroupBy | None = None,
    ) -> Analytics:
        return _analytics.analytics(self.ctx, sender_id=sender_id, tag=tag, since=since,
                                    until=until, group_by=group_by)

    # --- events ----------------------------------------------------------------------------

    @refusals
    def dispatch_events(self, batch: int = 100) -> int:
        """Deliver due outbox events to the ``inmail_guard_event`` hook; returns how many were
        delivered. A sink that raises leaves its event queued with exponential backoff."""
        return self.events.dispatch(batch)

    @refusals
    def purge_events(self) -> int:
        """Delete events delivered more than ``event_retention`` ago (never an undelivered
        one); returns how many. Nothing is purged when the retention is None."""
        return self.events.purge()

    def start_dispatcher(self, interval: float = 1.0, *, expire_every: float = 60.0) -> None:
        """Deliver events from a daemon thread every ``interval`` seconds until stopped, and
        every ``expire_every`` seconds run :meth:`expire_due` and :meth:`purge_events`, so
        ``inmail.expired`` events and the outbox's upkeep need no cron either."""
        self.events.start(interval, expire_every=expire_every)

    def stop_dispatcher(self, timeout: float = 10.0) -> None:
        self.events.stop(timeout)

    def close(self) -> None:
        self.stop_dispatcher()
        if self.ctx.recorder is not None:
            self.ctx.recorder.close()
        if self._owns_store:
            self.ctx.store.close()

    def __enter__(self) -> InMailService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_retention(value: object) -> None:
    if value is not None and (not isinstance(value, timedelta) or value <= timedelta(0)):
        raise ValueError(f"event_retention must be a positive timedelta or None, found"
                         f" {value!r}")


__all__ = [
    "ERROR_CODES",
    "EXPIRE_BATCH",
    "GROUP_BY",
    "SEND_TEXT_LIMITS",
    "ActivePolicy",
    "Analytics",
    "Conversation",
    "ConversationMessage",
    "ConversationSummary",
    "Counts",
    "Credits",
    "DatabaseUnavailable",
    "GroupBy",
    "InMail",
    "InMailService",
    "InMailStatus",
    "InboxItem",
    "ManualClock",
    "PlanNotDeclared",
    "Recorder",
    "RecordingSettings",
    "ReportResult",
    "Restriction",
    "RetractResult",
    "SendResult",
    "SenderCard",
    "ServiceContext",
    "ServiceError",
    "Terms",
    "check_service_policy",
    "check_text",
    "decision_from_dict",
    "inmail_event_fields",
    "iso",
    "new_id",
    "request_hash",
    "utc_now",
]
