"""What happens to an InMail after it is sent (DESIGN §1): inbox, open, expiry, retraction,
reply and conversation, abuse report. Mixed into :class:`~inmail_guard.service.InMailService`.

Expiry is never stored as a state change: an unopened InMail older than
``lifecycle.expire_unopened_after`` *is* expired at read time, whatever ran or didn't.
``expire_due()`` only emits the ``inmail.expired`` events, each exactly once (a conditional
UPDATE on ``expired_event_at`` decides which caller emits it).

Every transition (open, reply, retract, report) first locks the InMail's row (``SELECT ... FOR
UPDATE`` on PostgreSQL; on SQLite the write transaction already holds the database's write
lock), then checks and changes what it locked: two transitions of one InMail run one after the
other on any instance, so of two conflicting ones exactly one wins and the other is refused as
if it had come second. Each UPDATE also carries the conditions it checked, and expiry's is a
conditional UPDATE on its own. Lock order: the InMail's row, then the sender's credit account
(reply's refund, report); a send takes only the account and inserts new rows, so no cycle.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from inmail_guard.engine.content import SOURCE_LIMIT_FACTOR, parse_body, preview
from inmail_guard.engine.types import photo_url_problem
from inmail_guard.service_types import (
    Conversation,
    ConversationMessage,
    ConversationSummary,
    InboxItem,
    InMail,
    InMailStatus,
    ReportResult,
    RetractResult,
    SenderCard,
    ServiceError,
    check_text,
    iso,
)
from inmail_guard.store import conversations as conversation_store
from inmail_guard.store import outbox
from inmail_guard.store import tables as t
from inmail_guard.store.db import SADb
from inmail_guard.store.facts import (
    StoredMember,
    count_reports,
    refund_credit,
    restriction_state,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from inmail_guard.engine.evaluator import Engine
    from inmail_guard.policies.schema import Policy
    from inmail_guard.service_types import Restriction
    from inmail_guard.store import Store
    from inmail_guard.store.db import Db

EXPIRE_BATCH = 500


def new_id(prefix: str) -> str:
    """``prefix_`` + 16 hex digits of wall-clock nanoseconds + 16 random hex digits: unique,
    and roughly time-ordered, so new rows land at the right edge of each index (locality) and
    ties between equal ``sent_at`` break newest-first."""
    return f"{prefix}_{time.time_ns():016x}{secrets.token_hex(8)}"


def inmail_event_fields(inmail: InMail) -> dict[str, Any]:
    """What every ``inmail.*`` event carries: ids, tags, CRM references, times. No body."""
    return {"inmail_id": inmail.id, "sender_id": inmail.sender_id,
            "recipient_id": inmail.recipient_id, "tags": list(inmail.tags),
            "crm": dict(inmail.crm), "decision_id": inmail.decision_id,
            "sent_at": iso(inmail.sent_at)}


def _changed(conn: Connection, inmail_id: str, guard: tuple[Any, ...], **values: Any) -> None:
    """Apply a transition to the InMail's locked row, on the conditions its caller checked.
    The lock makes them true; should they not be, nothing may change (rolled back whole)."""
    done = conn.execute(t.inmails.update().where(t.inmails.c.id == inmail_id, *guard)
                        .values(**values)).rowcount
    if done != 1:
        raise RuntimeError(f"InMail {inmail_id!r} changed under its row lock")


def _shown_photo(url: str | None) -> str | None:
    """A stored photo URL as other members may see it: one stored before ``put_member``
    refused all but http(s) URLs (a ``javascript:`` one) is not shown."""
    return url if url is None or photo_url_problem(url) is None else None


class Lifecycle:
    # Provided by InMailService.
    policy: Policy
    engine: Engine
    store: Store
    clock: Callable[[], datetime]
    expire_after: timedelta
    retract_within: timedelta
    preview_chars: int
    abuse_window: timedelta
    abuse_threshold: int
    _restrict_on_abuse: bool
    _refund_within: timedelta | None
    _rollover_cap: int

    if TYPE_CHECKING:
        def _now(self) -> datetime: ...
        def _member_row(self, conn: Connection | Db, member_id: str,
                        field: str = "member_id") -> StoredMember: ...
        def _lock_sender(self, conn: Connection | Db, member: StoredMember,
                         now: datetime) -> Any: ...
        def _windows(self, now: datetime) -> tuple[datetime, datetime]: ...
        def _plan_limit(self, plan: str) -> int: ...
        def _restrict(self, conn: Connection | Db, member_id: str, now: datetime, until: datetime,
                      cause: str, decision_id: str | None, prior: int) -> Restriction: ...

    # --- reading ---------------------------------------------------------------------------

    def _status(self, row: Any, now: datetime) -> InMailStatus:
        if row.retracted_at is not None:
            return "retracted"
        if row.reported_at is not None:
            return "reported"
        if row.replied_at is not None:
            return "replied"
        if row.opened_at is not None:
            return "opened"
        if row.sent_at + self.expire_after <= now:
            return "expired"
        return "delivered"

    def _to_inmail(self, row: Any, now: datetime) -> InMail:
        return InMail(
            id=row.id, sender_id=row.sender_id, recipient_id=row.recipient_id,
            subject=row.subject, body=row.body, status=self._status(row, now),
            sent_at=row.sent_at, expires_at=row.sent_at + self.expire_after,
            retract_until=row.sent_at + self.retract_within,
            tags=tuple(json.loads(row.tags)), crm=json.loads(row.crm),
            decision_id=row.decision_id, opened_at=row.opened_at, replied_at=row.replied_at,
            retracted_at=row.retracted_at, reported_at=row.reported_at,
            conversation_id=row.conversation_id)

    def _row(self, conn: Connection, inmail_id: str, *, lock: bool = False) -> Row[Any]:
        """The InMail's row; with ``lock``, locked until the transaction ends (a transition
        decides on what it read, so nobody may change it in between)."""
        query = select(t.inmails).where(t.inmails.c.id == inmail_id)
        row = conn.execute(query.with_for_update() if lock else query).first()
        if row is None:
            raise ServiceError("inmail_not_found", f"no InMail {inmail_id!r}",
                               field="inmail_id")
        return row

    def _inmail(self, conn: Connection, inmail_id: str, now: datetime) -> InMail:
        return self._to_inmail(self._row(conn, inmail_id), now)

    def _as_recipient(self, conn: Connection, inmail_id: str, member_id: str,
                      action: str) -> Row[Any]:
        """The InMail's row, locked, if ``member_id`` is its recipient and can still see it."""
        row = self._row(conn, inmail_id, lock=True)
        if row.recipient_id != member_id:
            raise ServiceError("not_allowed", f"only the recipient can {action} this InMail",
                               field="member_id")
        if row.retracted_at is not None:
            raise ServiceError("inmail_not_found", "this InMail was retracted by its sender",
                               field="inmail_id")
        return row

    def _check_unexpired(self, row: Any, now: datetime) -> None:
        # expired_event_at: another instance (whose clock is a little ahead) expired it.
        if row.opened_at is None and (row.sent_at + self.expire_after <= now
                                      or row.expired_event_at is not None):
            raise ServiceError("inmail_expired", "this InMail expired unopened on"
                               f" {iso(row.sent_at + self.expire_after)}", field="inmail_id")

    def get_inmail(self, inmail_id: str, member_id: str) -> InMail:
        """Read one InMail as its sender or recipient, without opening it. The recipient gets
        the body only once they opened it (``open`` shows the full text, counts the open and
        refuses an expired InMail): before that, ``body`` is None."""
        now = self._now()
        with self.store.read() as conn:
            row = self._row(conn, inmail_id)
            if member_id == row.recipient_id and row.retracted_at is not None:
                raise ServiceError("inmail_not_found", "this InMail was retracted by its sender",
                                   field="inmail_id")
            if member_id not in (row.sender_id, row.recipient_id):
                raise ServiceError("not_allowed", "only the sender and the recipient can read"
                                   " this InMail", field="member_id")
            inmail = self._to_inmail(row, now)
        if member_id == row.sender_id:
            return inmail
        seen = inmail.for_recipient()
        return seen if row.opened_at is not None else replace(seen, body=None)

    def inbox(self, member_id: str, *, limit: int = 50) -> list[InboxItem]:
        """The recipient's InMail inbox, newest first: not retracted, not reported, and opened
        or not yet expired. Each item: sender card, subject, preview (rendered text)."""
        now = self._now()
        im, m = t.inmails.c, t.members.c
        with self.store.read() as conn:
            self._member_row(conn, member_id)
            rows = conn.execute(
                select(im.id, im.subject, im.body, im.sent_at, im.opened_at, im.replied_at,
                       im.retracted_at, im.reported_at, im.conversation_id, im.sender_id,
                       m.name, m.photo_url)
                .select_from(t.inmails.join(t.members, m.id == im.sender_id))
                .where(im.recipient_id == member_id, im.retracted_at.is_(None),
                       im.reported_at.is_(None),
                       (im.opened_at.is_not(None)) | (im.sent_at > now - self.expire_after))
                .order_by(im.sent_at.desc(), im.id.desc()).limit(limit)).all()
        max_source = self.policy.content.body.max_chars * 4
        return [InboxItem(
            inmail_id=r.id, sender=SenderCard(r.sender_id, r.name, _shown_photo(r.photo_url)),
            subject=r.subject,
            preview=preview(parse_body(r.body, max_source_chars=max_source).text,
                            self.preview_chars),
            status=self._status(r, now), sent_at=r.sent_at,
            expires_at=r.sent_at + self.expire_after, opened_at=r.opened_at,
            conversation_id=r.conversation_id) for r in rows]

    def sent(self, member_id: str, *, limit: int = 50) -> list[InMail]:
        """The sender's InMail, newest first, each with its current status."""
        now = self._now()
        im = t.inmails.c
        with self.store.read() as conn:
            self._member_row(conn, member_id)
            rows = conn.execute(select(t.inmails).where(im.sender_id == member_id)
                                .order_by(im.sent_at.desc(), im.id.desc()).limit(limit)).all()
        return [self._to_inmail(r, now) for r in rows]

    # --- open, retract ---------------------------------------------------------------------

    def open(self, inmail_id: str, member_id: str) -> InMail:
        """The recipient opens an InMail: the full text. The first open emits inmail.opened."""
        now = self._now()
        im = t.inmails.c
        with self.store.write() as conn:
            row = self._as_recipient(conn, inmail_id, member_id, "open")
            if row.opened_at is None:
                self._check_unexpired(row, now)
                _changed(conn, inmail_id, (im.opened_at.is_(None), im.retracted_at.is_(None),
                                           im.expired_event_at.is_(None)), opened_at=now)
                row = self._row(conn, inmail_id)
                outbox.add_event(conn, "inmail.opened", now, opened_at=iso(now),
                                 **inmail_event_fields(self._to_inmail(row, now)))
            return self._to_inmail(row, now).for_recipient()

    def retract(self, inmail_id: str, member_id: str) -> RetractResult:
        """The sender retracts within ``lifecycle.retract_within``: the InMail leaves the
        recipient's inbox (unopened) or their list (opened) alike."""
        now = self._now()
        im = t.inmails.c
        with self.store.write() as conn:
            row = self._row(conn, inmail_id, lock=True)
            if row.sender_id != member_id:
                raise ServiceError("not_allowed", "only the sender can retract this InMail",
                                   field="member_id")
            if row.retracted_at is not None:
                raise ServiceError("already_retracted", "this InMail was already retracted",
                                   field="inmail_id")
            if row.replied_at is not None:
                raise ServiceError("already_replied", "the recipient replied; the conversation"
                                   " can't be retracted", field="inmail_id")
            deadline = row.sent_at + self.retract_within
            if now > deadline:
                raise ServiceError("retract_window_passed",
                                   f"InMail can be retracted until {iso(deadline)}",
                                   field="inmail_id")
            _changed(conn, inmail_id, (im.retracted_at.is_(None), im.replied_at.is_(None)),
                     retracted_at=now)
            was_opened = row.opened_at is not None
            outbox.add_event(conn, "inmail.retracted", now, retracted_at=iso(now),
                             was_opened=was_opened,
                             **inmail_event_fields(self._to_inmail(row, now)))
        return RetractResult(inmail_id, now, was_opened)

    # --- reply, conversation ---------------------------------------------------------------

    def _check_body(self, body: str) -> None:
        if not isinstance(body, str) or not body.strip():
            raise ServiceError("invalid_request", "write a message", field="body")
        check_text("body", body)
        limit = self.policy.content.body.max_chars
        length = parse_body(body, max_source_chars=limit * 4).length
        if length > limit:
            raise ServiceError("invalid_request", f"message is {length} characters; at most"
                               f" {limit}", field="body")

    @staticmethod
    def _check_not_blocked(conn: Connection, author_id: str, other_id: str) -> None:
        """A member who blocked the author takes no more messages from them, in a conversation
        too (a block refuses new InMail through the policy's eligibility rules)."""
        b = t.blocks.c
        if conn.execute(select(b.blocker_id).where(b.blocker_id == other_id,
                                                   b.blocked_id == author_id)).first():
            raise ServiceError("not_allowed", "this member does not take messages from you",
                               field="member_id")

    def _post(self, conn: Connection, conversation_id: str, author_id: str, body: str,
              now: datetime) -> ConversationMessage:
        mid = new_id("msg")
        conversation_store.record_message(conn, conversation_id, mid, author_id, body, now)
        return ConversationMessage(mid, conversation_id, author_id, body, now)

    def reply(self, inmail_id: str, member_id: str, body: str) -> Conversation:
        """The recipient replies: a conversation opens (no credit spent), ``inmail.replied`` is
        emitted, and under ``credits.refund_on_response_within`` the sender gets the credit
        back. Replying again continues the same conversation."""
        self._check_body(body)
        try:
            return self._reply(inmail_id, member_id, body)
        except IntegrityError:  # a concurrent first reply created the conversation: continue
            return self._reply(inmail_id, member_id, body)

    def _reply(self, inmail_id: str, member_id: str, body: str) -> Conversation:
        now = self._now()
        im = t.inmails.c
        with self.store.write() as conn:
            row = self._as_recipient(conn, inmail_id, member_id, "reply to")
            if row.conversation_id is not None:
                self._check_not_blocked(conn, member_id, row.sender_id)
                self._post(conn, row.conversation_id, member_id, body, now)
                return self._conversation(conn, row.conversation_id)
            self._check_unexpired(row, now)
            refund = (self._refund_within is not None and row.refunded_at is None
                      and now - row.sent_at <= self._refund_within)
            if refund:  # after the InMail's row: the lock order of report()
                sender = self._member_row(conn, row.sender_id)
                start, prev = self._windows(now)
                refund_credit(SADb(conn), sender, start, prev, inmail_id, now,
                              plan_limit=self._plan_limit(sender.plan),
                              rollover_cap=self._rollover_cap)
            cid = new_id("cv")
            conn.execute(t.conversations.insert().values(
                id=cid, inmail_id=inmail_id, sender_id=row.sender_id,
                recipient_id=row.recipient_id, created_at=now, last_message_at=now))
            self._post(conn, cid, member_id, body, now)
            opened = row.opened_at is None
            _changed(conn, inmail_id, (im.replied_at.is_(None), im.retracted_at.is_(None),
                                       im.expired_event_at.is_(None) | im.opened_at.is_not(None)),
                     replied_at=now, conversation_id=cid,
                     opened_at=now if opened else row.opened_at,
                     refunded_at=now if refund else row.refunded_at)
            fields = inmail_event_fields(self._to_inmail(row, now))
            if opened:  # replying implies opening
                outbox.add_event(conn, "inmail.opened", now, opened_at=iso(now), **fields)
            outbox.add_event(conn, "inmail.replied", now, replied_at=iso(now),
                             conversation_id=cid, credit_refunded=refund, **fields)
            return self._conversation(conn, cid)

    def _conversation_row(self, conn: Connection, conversation_id: str,
                          member_id: str | None = None) -> Row[Any]:
        """The conversation's row; ``member_id``, if given, must be one of its participants."""
        c = t.conversations.c
        row = conn.execute(select(t.conversations).where(c.id == conversation_id)).first()
        if row is None:
            raise ServiceError("conversation_not_found", f"no conversation {conversation_id!r}",
                               field="conversation_id")
        if member_id is not None and member_id not in (row.sender_id, row.recipient_id):
            raise ServiceError("not_allowed", "only its two participants can use this"
                               " conversation", field="member_id")
        return row

    def _conversation(self, conn: Connection, conversation_id: str,
                      member_id: str | None = None) -> Conversation:
        cm = t.conversation_messages.c
        row = self._conversation_row(conn, conversation_id, member_id)
        messages = conn.execute(select(t.conversation_messages)
                                .where(cm.conversation_id == conversation_id)
                                .order_by(cm.seq)).all()
        return Conversation(row.id, row.inmail_id, (row.sender_id, row.recipient_id),
                            row.created_at,
                            tuple(ConversationMessage(m.id, m.conversation_id, m.author_id,
                                                      m.body, m.created_at) for m in messages))

    def conversation(self, conversation_id: str, member_id: str) -> Conversation:
        with self.store.read() as conn:
            return self._conversation(conn, conversation_id, member_id)

    def conversations(self, member_id: str, *, limit: int = 50) -> list[ConversationSummary]:
        """``member_id``'s conversations, latest activity first: the other participant, the
        InMail's subject, a preview of the latest message and the member's unread count. A
        reply to a member's InMail appears here, for both of them."""
        with self.store.read() as conn:
            self._member_row(conn, member_id)
            rows = conversation_store.list_for_member(conn, member_id, limit=limit)
        return [self._summary(r) for r in rows]

    def mark_read(self, conversation_id: str, member_id: str) -> ConversationSummary:
        """Every message of the conversation so far is read by ``member_id``."""
        with self.store.write() as conn:
            self._conversation_row(conn, conversation_id, member_id)
            conversation_store.mark_read(conn, conversation_id, member_id)
            row, = conversation_store.list_for_member(conn, member_id, limit=1,
                                                 only=conversation_id)
        return self._summary(row)

    def _summary(self, row: conversation_store.ConversationRow) -> ConversationSummary:
        max_source = self.policy.content.body.max_chars * SOURCE_LIMIT_FACTOR
        shown = "" if row.last_body is None else preview(
            parse_body(row.last_body, max_source_chars=max_source).text, self.preview_chars)
        return ConversationSummary(
            row.id, row.inmail_id, row.subject,
            SenderCard(row.other_id, row.other_name, _shown_photo(row.other_photo_url)),
            row.created_at, row.last_message_at, row.last_author_id, shown, row.unread)

    def post(self, conversation_id: str, member_id: str, body: str) -> ConversationMessage:
        """Either participant continues the conversation with a regular message (no credit)."""
        self._check_body(body)
        now = self._now()
        with self.store.write() as conn:
            conv = self._conversation(conn, conversation_id, member_id)
            other = conv.participants[1] if conv.participants[0] == member_id \
                else conv.participants[0]
            self._check_not_blocked(conn, member_id, other)
            return self._post(conn, conversation_id, member_id, body, now)

    # --- report ----------------------------------------------------------------------------

    def report(self, inmail_id: str, member_id: str, reason: str = "") -> ReportResult:
        """The recipient reports an InMail as abuse: it leaves their inbox, ``inmail.reported``
        is emitted, and when the sender's reports within the abuse window reach the threshold
        (and ``spam.restriction.on_abuse_report``) the sender is restricted. Reporting the same
        InMail twice changes nothing."""
        check_text("reason", reason)
        now = self._now()
        a, im = t.abuse_reports.c, t.inmails.c
        with self.store.write() as conn:
            row = self._as_recipient(conn, inmail_id, member_id, "report")
            self._check_unexpired(row, now)
            since = now - self.abuse_window
            # Then the sender's lock: reports against one sender (and the restriction decision
            # they may trigger) are handled one at a time.
            self._lock_sender(conn, self._member_row(conn, row.sender_id), now)
            existing = conn.execute(select(a.id).where(
                a.inmail_id == inmail_id, a.reporter_id == member_id)).first()
            if existing is not None:
                return ReportResult(existing.id, inmail_id,
                                    count_reports(SADb(conn), row.sender_id, since))
            rid = new_id("rp")
            conn.execute(t.abuse_reports.insert().values(
                id=rid, inmail_id=inmail_id, reporter_id=member_id, sender_id=row.sender_id,
                reason=reason[:500], created_at=now))
            _changed(conn, inmail_id, (im.retracted_at.is_(None),
                                       im.expired_event_at.is_(None) | im.opened_at.is_not(None)),
                     reported_at=now)
            outbox.add_event(conn, "inmail.reported", now, reported_at=iso(now),
                             report_id=rid, **inmail_event_fields(self._to_inmail(row, now)))
            count = count_reports(SADb(conn), row.sender_id, since)
            restriction = None
            if self._restrict_on_abuse and count >= self.abuse_threshold:
                until, prior = restriction_state(SADb(conn), row.sender_id, now)
                if until is None:
                    restriction = self._restrict(
                        conn, row.sender_id, now,
                        now + self.engine.restriction_duration(prior), "abuse_reports", None,
                        prior)
            return ReportResult(rid, inmail_id, count, restriction)

    # --- expiry ----------------------------------------------------------------------------

    def expire_due(self) -> int:
        """Emit ``inmail.expired`` for every InMail that expired unopened and has not had its
        event yet; returns how many. Safe to run from several processes: each event once."""
        now = self._now()
        im = t.inmails.c
        total = 0
        while True:
            with self.store.write() as conn:
                # A reported InMail is "reported", not "expired" (the status order): no event.
                rows = conn.execute(select(t.inmails).where(
                    im.opened_at.is_(None), im.retracted_at.is_(None), im.reported_at.is_(None),
                    im.expired_event_at.is_(None), im.sent_at <= now - self.expire_after)
                    .order_by(im.sent_at, im.id).limit(EXPIRE_BATCH)).all()
                for row in rows:
                    done = conn.execute(t.inmails.update().where(
                        im.id == row.id, im.expired_event_at.is_(None),
                        im.opened_at.is_(None), im.retracted_at.is_(None),
                        im.reported_at.is_(None))
                        .values(expired_event_at=now)).rowcount
                    if done:
                        total += 1
                        outbox.add_event(conn, "inmail.expired", now,
                                         expired_at=iso(row.sent_at + self.expire_after),
                                         **inmail_event_fields(self._to_inmail(row, now)))
            if len(rows) < EXPIRE_BATCH:
                return total
