"""What happens to an InMail after it is sent (docs/service.md): inbox, open, expiry, retraction,
reply and conversation, abuse report.

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

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError

from inmail_guard.engine.content import SOURCE_LIMIT_FACTOR, parse_body, preview
from inmail_guard.engine.types import photo_url_problem
from inmail_guard.service.context import ActivePolicy, ServiceContext, Terms, new_id
from inmail_guard.service.credits import Accounts
from inmail_guard.service.errors import ServiceError, check_text
from inmail_guard.service.members import member_row
from inmail_guard.service.results import (
    Conversation,
    ConversationMessage,
    ConversationSummary,
    InboxItem,
    InMail,
    ReportResult,
    RetractResult,
    SenderCard,
    inmail_event_fields,
    inmail_from_row,
    inmail_status,
    iso,
)
from inmail_guard.store import conversations as conversation_store
from inmail_guard.store import inmails as inmail_store
from inmail_guard.store import outbox
from inmail_guard.store.db import SADb
from inmail_guard.store.facts import count_reports, refund_credit, restriction_state

EXPIRE_BATCH = inmail_store.EXPIRE_BATCH


def _shown_photo(url: str | None) -> str | None:
    """A stored photo URL as other members may see it: one stored before ``put_member``
    refused all but http(s) URLs (a ``javascript:`` one) is not shown."""
    return url if url is None or photo_url_problem(url) is None else None


def _to_inmail(row: Any, now: datetime, terms: Terms) -> InMail:
    return inmail_from_row(row, now, terms.expire_after, terms.retract_within)


def _row(conn: Connection, inmail_id: str, *, lock: bool = False) -> Row[Any]:
    """The InMail's row; with ``lock``, locked until the transaction ends (a transition
    decides on what it read, so nobody may change it in between)."""
    row = inmail_store.by_id(conn, inmail_id, lock=lock)
    if row is None:
        raise ServiceError("inmail_not_found", f"no InMail {inmail_id!r}", field="inmail_id")
    return row


def _as_recipient(conn: Connection, inmail_id: str, member_id: str, action: str) -> Row[Any]:
    """The InMail's row, locked, if ``member_id`` is its recipient and can still see it."""
    row = _row(conn, inmail_id, lock=True)
    if row.recipient_id != member_id:
        raise ServiceError("not_allowed", f"only the recipient can {action} this InMail",
                           field="member_id")
    if row.retracted_at is not None:
        raise ServiceError("inmail_not_found", "this InMail was retracted by its sender",
                           field="inmail_id")
    return row


def _check_unexpired(row: Any, now: datetime, terms: Terms) -> None:
    # expired_event_at: another instance (whose clock is a little ahead) expired it.
    if row.opened_at is None and (row.sent_at + terms.expire_after <= now
                                  or row.expired_event_at is not None):
        raise ServiceError("inmail_expired", "this InMail expired unopened on"
                           f" {iso(row.sent_at + terms.expire_after)}", field="inmail_id")


def _check_not_blocked(conn: Connection, author_id: str, other_id: str) -> None:
    """A member who blocked the author takes no more messages from them, in a conversation
    too (a block refuses new InMail through the policy's eligibility rules)."""
    if inmail_store.blocked(conn, other_id, author_id):
        raise ServiceError("not_allowed", "this member does not take messages from you",
                           field="member_id")


def _post(conn: Connection, conversation_id: str, author_id: str, body: str,
          now: datetime) -> ConversationMessage:
    mid = new_id("msg")
    conversation_store.record_message(conn, conversation_id, mid, author_id, body, now)
    return ConversationMessage(mid, conversation_id, author_id, body, now)


def _conversation_row(conn: Connection, conversation_id: str,
                      member_id: str | None = None) -> Any:
    """The conversation's row; ``member_id``, if given, must be one of its participants."""
    row = conversation_store.by_id(conn, conversation_id)
    if row is None:
        raise ServiceError("conversation_not_found", f"no conversation {conversation_id!r}",
                           field="conversation_id")
    if member_id is not None and member_id not in (row.sender_id, row.recipient_id):
        raise ServiceError("not_allowed", "only its two participants can use this"
                           " conversation", field="member_id")
    return row


def _conversation(conn: Connection, conversation_id: str,
                  member_id: str | None = None) -> Conversation:
    row = _conversation_row(conn, conversation_id, member_id)
    messages = conversation_store.messages(conn, conversation_id)
    return Conversation(row.id, row.inmail_id, (row.sender_id, row.recipient_id),
                        row.created_at,
                        tuple(ConversationMessage(m.id, m.conversation_id, m.author_id,
                                                  m.body, m.created_at) for m in messages))


class Inbox:
    """Reading InMail, and the transitions of one: open, retract, reply, report, expiry."""

    def __init__(self, ctx: ServiceContext, accounts: Accounts) -> None:
        self.ctx = ctx
        self.accounts = accounts

    # --- reading ---------------------------------------------------------------------------

    def get_inmail(self, inmail_id: str, member_id: str) -> InMail:
        terms = self.ctx.active.terms
        now = self.ctx.now()
        with self.ctx.store.read() as conn:
            row = _row(conn, inmail_id)
            if member_id == row.recipient_id and row.retracted_at is not None:
                raise ServiceError("inmail_not_found", "this InMail was retracted by its sender",
                                   field="inmail_id")
            if member_id not in (row.sender_id, row.recipient_id):
                raise ServiceError("not_allowed", "only the sender and the recipient can read"
                                   " this InMail", field="member_id")
            inmail = _to_inmail(row, now, terms)
        if member_id == row.sender_id:
            return inmail
        seen = inmail.for_recipient()
        return seen if row.opened_at is not None else replace(seen, body=None)

    def inbox(self, member_id: str, *, limit: int = 50) -> list[InboxItem]:
        terms = self.ctx.active.terms
        now = self.ctx.now()
        with self.ctx.store.read() as conn:
            member_row(conn, member_id)
            rows = inmail_store.inbox(conn, member_id, now - terms.expire_after, limit)
        max_source = terms.body_max_chars * SOURCE_LIMIT_FACTOR
        return [InboxItem(
            inmail_id=r.id, sender=SenderCard(r.sender_id, r.name, _shown_photo(r.photo_url)),
            subject=r.subject,
            preview=preview(parse_body(r.body, max_source_chars=max_source).text,
                            terms.preview_chars),
            status=inmail_status(r, now, terms.expire_after), sent_at=r.sent_at,
            expires_at=r.sent_at + terms.expire_after, opened_at=r.opened_at,
            conversation_id=r.conversation_id) for r in rows]

    def sent(self, member_id: str, *, limit: int = 50) -> list[InMail]:
        terms = self.ctx.active.terms
        now = self.ctx.now()
        with self.ctx.store.read() as conn:
            member_row(conn, member_id)
            rows = inmail_store.sent_by(conn, member_id, limit)
        return [_to_inmail(r, now, terms) for r in rows]

    # --- open, retract ---------------------------------------------------------------------

    def open(self, inmail_id: str, member_id: str) -> InMail:
        terms = self.ctx.active.terms
        now = self.ctx.now()
        with self.ctx.store.write() as conn:
            row = _as_recipient(conn, inmail_id, member_id, "open")
            if row.opened_at is None:
                _check_unexpired(row, now, terms)
                inmail_store.change(conn, inmail_id, inmail_store.OPEN_GUARD, opened_at=now)
                row = _row(conn, inmail_id)
                outbox.add_event(conn, "inmail.opened", now, opened_at=iso(now),
                                 **inmail_event_fields(_to_inmail(row, now, terms)))
            return _to_inmail(row, now, terms).for_recipient()

    def retract(self, inmail_id: str, member_id: str) -> RetractResult:
        terms = self.ctx.active.terms
        now = self.ctx.now()
        with self.ctx.store.write() as conn:
            row = _row(conn, inmail_id, lock=True)
            if row.sender_id != member_id:
                raise ServiceError("not_allowed", "only the sender can retract this InMail",
                                   field="member_id")
            if row.retracted_at is not None:
                raise ServiceError("already_retracted", "this InMail was already retracted",
                                   field="inmail_id")
            if row.replied_at is not None:
                raise ServiceError("already_replied", "the recipient replied; the conversation"
                                   " can't be retracted", field="inmail_id")
            deadline = row.sent_at + terms.retract_within
            if now > deadline:
                raise ServiceError("retract_window_passed",
                                   f"InMail can be retracted until {iso(deadline)}",
                                   field="inmail_id")
            inmail_store.change(conn, inmail_id, inmail_store.RETRACT_GUARD, retracted_at=now)
            was_opened = row.opened_at is not None
            outbox.add_event(conn, "inmail.retracted", now, retracted_at=iso(now),
                             was_opened=was_opened,
                             **inmail_event_fields(_to_inmail(row, now, terms)))
        return RetractResult(inmail_id, now, was_opened)

    # --- reply, conversation ---------------------------------------------------------------

    def _check_body(self, body: str, terms: Terms) -> None:
        if not isinstance(body, str) or not body.strip():
            raise ServiceError("invalid_request", "write a message", field="body")
        check_text("body", body)
        limit = terms.body_max_chars
        length = parse_body(body, max_source_chars=limit * SOURCE_LIMIT_FACTOR).length
        if length > limit:
            raise ServiceError("invalid_request", f"message is {length} characters; at most"
                               f" {limit}", field="body")

    def reply(self, inmail_id: str, member_id: str, body: str) -> Conversation:
        active = self.ctx.active
        self._check_body(body, active.terms)
        try:
            return self._reply(active, inmail_id, member_id, body)
        except IntegrityError:  # a concurrent first reply created the conversation: continue
            return self._reply(active, inmail_id, member_id, body)

    def _reply(self, active: ActivePolicy, inmail_id: str, member_id: str,
               body: str) -> Conversation:
        terms = active.terms
        now = self.ctx.now()
        with self.ctx.store.write() as conn:
            row = _as_recipient(conn, inmail_id, member_id, "reply to")
            if row.conversation_id is not None:
                _check_not_blocked(conn, member_id, row.sender_id)
                _post(conn, row.conversation_id, member_id, body, now)
                return _conversation(conn, row.conversation_id)
            _check_unexpired(row, now, terms)
            refund = (terms.refund_within is not None and row.refunded_at is None
                      and now - row.sent_at <= terms.refund_within)
            if refund:  # after the InMail's row: the lock order of report()
                sender = member_row(conn, row.sender_id)
                start, prev = active.windows(now)
                refund_credit(SADb(conn), sender, start, prev, inmail_id, now,
                              plan_limit=active.plan_limit(sender.plan),
                              rollover_cap=terms.rollover_cap)
            cid = new_id("cv")
            conversation_store.create(conn, cid, inmail_id, row.sender_id, row.recipient_id,
                                      now)
            _post(conn, cid, member_id, body, now)
            opened = row.opened_at is None
            inmail_store.change(conn, inmail_id, inmail_store.REPLY_GUARD,
                                replied_at=now, conversation_id=cid,
                                opened_at=now if opened else row.opened_at,
                                refunded_at=now if refund else row.refunded_at)
            fields = inmail_event_fields(_to_inmail(row, now, terms))
            if opened:  # replying implies opening
                outbox.add_event(conn, "inmail.opened", now, opened_at=iso(now), **fields)
            outbox.add_event(conn, "inmail.replied", now, replied_at=iso(now),
                             conversation_id=cid, credit_refunded=refund, **fields)
            return _conversation(conn, cid)

    def conversation(self, conversation_id: str, member_id: str) -> Conversation:
        with self.ctx.store.read() as conn:
            return _conversation(conn, conversation_id, member_id)

    def conversations(self, member_id: str, *, limit: int = 50) -> list[ConversationSummary]:
        terms = self.ctx.active.terms
        with self.ctx.store.read() as conn:
            member_row(conn, member_id)
            rows = conversation_store.list_for_member(conn, member_id, limit=limit)
        return [self._summary(r, terms) for r in rows]

    def mark_read(self, conversation_id: str, member_id: str) -> ConversationSummary:
        terms = self.ctx.active.terms
        with self.ctx.store.write() as conn:
            _conversation_row(conn, conversation_id, member_id)
            conversation_store.mark_read(conn, conversation_id, member_id)
            row, = conversation_store.list_for_member(conn, member_id, limit=1,
                                                      only=conversation_id)
        return self._summary(row, terms)

    @staticmethod
    def _summary(row: conversation_store.ConversationRow, terms: Terms) -> ConversationSummary:
        max_source = terms.body_max_chars * SOURCE_LIMIT_FACTOR
        shown = "" if row.last_body is None else preview(
            parse_body(row.last_body, max_source_chars=max_source).text, terms.preview_chars)
        return ConversationSummary(
            row.id, row.inmail_id, row.subject,
            SenderCard(row.other_id, row.other_name, _shown_photo(row.other_photo_url)),
            row.created_at, row.last_message_at, row.last_author_id, shown, row.unread)

    def post(self, conversation_id: str, member_id: str, body: str) -> ConversationMessage:
        self._check_body(body, self.ctx.active.terms)
        now = self.ctx.now()
        with self.ctx.store.write() as conn:
            conv = _conversation(conn, conversation_id, member_id)
            other = conv.participants[1] if conv.participants[0] == member_id \
                else conv.participants[0]
            _check_not_blocked(conn, member_id, other)
            return _post(conn, conversation_id, member_id, body, now)

    # --- report ----------------------------------------------------------------------------

    def report(self, inmail_id: str, member_id: str, reason: str = "") -> ReportResult:
        check_text("reason", reason)
        active = self.ctx.active
        terms = active.terms
        now = self.ctx.now()
        with self.ctx.store.write() as conn:
            row = _as_recipient(conn, inmail_id, member_id, "report")
            _check_unexpired(row, now, terms)
            since = now - terms.abuse_window
            # Then the sender's lock: reports against one sender (and the restriction decision
            # they may trigger) are handled one at a time.
            self.accounts.lock_sender(conn, active, member_row(conn, row.sender_id), now)
            existing = inmail_store.report_of(conn, inmail_id, member_id)
            if existing is not None:
                return ReportResult(existing, inmail_id,
                                    count_reports(SADb(conn), row.sender_id, since))
            rid = new_id("rp")
            inmail_store.add_report(conn, rid, inmail_id, member_id, row.sender_id, reason, now)
            inmail_store.change(conn, inmail_id, inmail_store.REPORT_GUARD, reported_at=now)
            outbox.add_event(conn, "inmail.reported", now, reported_at=iso(now),
                             report_id=rid, **inmail_event_fields(_to_inmail(row, now, terms)))
            count = count_reports(SADb(conn), row.sender_id, since)
            restriction = None
            if terms.restrict_on_abuse and count >= terms.abuse_threshold:
                until, prior = restriction_state(SADb(conn), row.sender_id, now)
                if until is None:
                    restriction = self.accounts.restrict(
                        conn, row.sender_id, now,
                        now + active.engine.restriction_duration(prior), "abuse_reports", None,
                        prior)
            return ReportResult(rid, inmail_id, count, restriction)

    # --- expiry ----------------------------------------------------------------------------

    def expire_due(self) -> int:
        terms = self.ctx.active.terms
        now = self.ctx.now()
        total = 0
        while True:
            with self.ctx.store.write() as conn:
                rows = inmail_store.expired_unannounced(conn, now - terms.expire_after,
                                                        EXPIRE_BATCH)
                for row in rows:
                    if inmail_store.mark_expired(conn, row.id, now):
                        total += 1
                        outbox.add_event(conn, "inmail.expired", now,
                                         expired_at=iso(row.sent_at + terms.expire_after),
                                         **inmail_event_fields(_to_inmail(row, now, terms)))
            if len(rows) < EXPIRE_BATCH:
                return total


__all__ = ["EXPIRE_BATCH", "Inbox"]
