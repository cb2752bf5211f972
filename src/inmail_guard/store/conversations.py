"""Conversations as their participants list them: by latest activity, with read marks.

Each conversation keeps, per participant, the ``seq`` of the last message they have read
(``sender_read_seq`` / ``recipient_read_seq``); a message is unread for a member when the other
participant wrote it after that mark. Writing a message marks everything up to it read for its
author. Three queries list a page of conversations whatever its length: the page, the last
message of each, and the unread counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, case, func, select

from inmail_guard.store import tables as t

__all__ = ["ConversationRow", "by_id", "create", "list_for_member", "mark_read", "messages",
           "record_message"]


@dataclass(frozen=True, slots=True)
class ConversationRow:
    """One conversation as ``member_id`` sees it in their list."""

    id: str
    inmail_id: str
    subject: str
    other_id: str
    other_name: str | None
    other_photo_url: str | None
    created_at: datetime
    last_message_at: datetime
    last_author_id: str | None
    last_body: str | None
    unread: int


def create(conn: Connection, conversation_id: str, inmail_id: str, sender_id: str,
           recipient_id: str, now: datetime) -> None:
    """Open the conversation a reply to an InMail begins (unique per InMail: a concurrent
    first reply makes this raise ``IntegrityError``)."""
    conn.execute(t.conversations.insert().values(
        id=conversation_id, inmail_id=inmail_id, sender_id=sender_id,
        recipient_id=recipient_id, created_at=now, last_message_at=now))


def by_id(conn: Connection, conversation_id: str) -> Any:
    """The conversation's row, or None."""
    c = t.conversations.c
    return conn.execute(select(t.conversations).where(c.id == conversation_id)).first()


def messages(conn: Connection, conversation_id: str) -> list[Any]:
    """The conversation's message rows, oldest first."""
    cm = t.conversation_messages.c
    return list(conn.execute(select(t.conversation_messages)
                             .where(cm.conversation_id == conversation_id)
                             .order_by(cm.seq)).all())


def record_message(conn: Connection, conversation_id: str, message_id: str, author_id: str,
                   body: str, now: datetime) -> int:
    """Insert a message, move the conversation's activity time, and mark it read for its
    author; returns its ``seq``."""
    c = t.conversations.c
    seq = conn.execute(t.conversation_messages.insert().values(
        id=message_id, conversation_id=conversation_id, author_id=author_id, body=body,
        created_at=now)).inserted_primary_key[0]
    conn.execute(t.conversations.update().where(c.id == conversation_id).values(
        last_message_at=now,
        sender_read_seq=case((c.sender_id == author_id, seq), else_=c.sender_read_seq),
        recipient_read_seq=case((c.recipient_id == author_id, seq),
                                else_=c.recipient_read_seq)))
    return int(seq)


def mark_read(conn: Connection, conversation_id: str, member_id: str) -> None:
    """Every message of the conversation so far is read by ``member_id`` (a participant)."""
    c, cm = t.conversations.c, t.conversation_messages.c
    latest = (select(func.coalesce(func.max(cm.seq), 0))
              .where(cm.conversation_id == conversation_id).scalar_subquery())
    conn.execute(t.conversations.update().where(c.id == conversation_id).values(
        sender_read_seq=case((c.sender_id == member_id, latest), else_=c.sender_read_seq),
        recipient_read_seq=case((c.recipient_id == member_id, latest),
                                else_=c.recipient_read_seq)))


def list_for_member(conn: Connection, member_id: str, *, limit: int,
                    only: str | None = None) -> list[ConversationRow]:
    """``member_id``'s conversations, latest activity first (``only``: that one)."""
    c, cm, im, m = (t.conversations.c, t.conversation_messages.c, t.inmails.c,
                    t.members.c)
    other = case((c.sender_id == member_id, c.recipient_id), else_=c.sender_id)
    read_seq = case((c.sender_id == member_id, c.sender_read_seq), else_=c.recipient_read_seq)
    query = (select(c.id, c.inmail_id, c.created_at, c.last_message_at, im.subject,
                    other.label("other_id"), read_seq.label("read_seq"))
             .select_from(t.conversations.join(t.inmails, im.id == c.inmail_id))
             .where((c.sender_id == member_id) | (c.recipient_id == member_id)))
    if only is not None:
        query = query.where(c.id == only)
    rows = conn.execute(query.order_by(c.last_message_at.desc(), c.id.desc())
                        .limit(limit)).all()
    if not rows:
        return []
    ids = [r.id for r in rows]
    last_seq = (select(func.max(cm.seq)).where(cm.conversation_id.in_(ids))
                .group_by(cm.conversation_id))
    last = {r.conversation_id: r for r in conn.execute(
        select(cm.conversation_id, cm.author_id, cm.body).where(cm.seq.in_(last_seq)))}
    unread = dict(conn.execute(
        select(cm.conversation_id, func.count())
        .select_from(t.conversation_messages.join(t.conversations,
                                                  c.id == cm.conversation_id))
        .where(cm.conversation_id.in_(ids), cm.author_id != member_id, cm.seq > read_seq)
        .group_by(cm.conversation_id)).all())
    others = {r.id: r for r in conn.execute(
        select(m.id, m.name, m.photo_url).where(m.id.in_({r.other_id for r in rows})))}
    out = []
    for r in rows:
        message, person = last.get(r.id), others.get(r.other_id)
        out.append(ConversationRow(
            r.id, r.inmail_id, r.subject, r.other_id,
            person.name if person else None, person.photo_url if person else None,
            r.created_at, r.last_message_at,
            message.author_id if message else None, message.body if message else None,
            int(unread.get(r.id, 0))))
    return out
