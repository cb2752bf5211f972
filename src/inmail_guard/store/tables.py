"""The schema, as SQLAlchemy Core tables. Portable SQL only: SQLite and PostgreSQL.

Times are stored as timezone-aware ``DateTime`` in UTC (SQLite keeps ISO text, which sorts
correctly because every value is UTC). JSON-shaped columns (tags list, CRM map, decision) are
``Text`` holding JSON, so no dialect-specific JSON operators are needed; tags are also
normalised into ``inmail_tags`` for analytics.

A change to this file needs a new migration in ``migrations.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, whatever the driver does with zones."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}; the store needs aware UTC datetimes")
        value = value.astimezone(UTC)
        # SQLite stores text: drop the zone so every value has the same sortable shape.
        return value.replace(tzinfo=None) if getattr(dialect, "name", "") == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None or value.tzinfo is UTC:  # psycopg on a UTC session: as loaded
            return value
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# SQLite only auto-increments an INTEGER PRIMARY KEY (rowid alias), not BIGINT.
AutoId = BigInteger().with_variant(Integer(), "sqlite")
Time = UTCDateTime
ID = String(64)

metadata = MetaData()

schema_version = Table(
    "schema_version", metadata,
    Column("version", Integer, primary_key=True),
    Column("description", String(200), nullable=False),
    Column("applied_at", Time, nullable=False),
)

members = Table(
    "members", metadata,
    Column("id", ID, primary_key=True),
    Column("plan", String(64), nullable=False),
    Column("profile_public", Boolean, nullable=False, default=True),
    Column("accepts_inmail", Boolean, nullable=False, default=True),  # False = opted out
    Column("is_employee", Boolean, nullable=False, default=False),
    Column("name", String(200)),
    Column("photo_url", String(2000)),
    # Profile details for advice (schema version 4).
    Column("headline", String(200)),
    Column("company", String(200)),
    Column("role", String(200)),
    Column("created_at", Time, nullable=False),
    Column("updated_at", Time, nullable=False),
)

# One row per direction, so "a is connected to b" and 2nd-degree joins are single lookups.
connections = Table(
    "connections", metadata,
    Column("member_id", ID, primary_key=True),
    Column("other_id", ID, primary_key=True),
    Column("created_at", Time, nullable=False),
)

blocks = Table(
    "blocks", metadata,
    Column("blocker_id", ID, primary_key=True),
    Column("blocked_id", ID, primary_key=True),
    Column("created_at", Time, nullable=False),
)

inmails = Table(
    "inmails", metadata,
    Column("id", ID, primary_key=True),
    Column("sender_id", ID, nullable=False),
    Column("recipient_id", ID, nullable=False),
    Column("subject", Text, nullable=False),
    Column("body", Text, nullable=False),  # shown on open; never logged nor put in events
    Column("tags", Text, nullable=False, default="[]"),  # JSON list
    Column("crm", Text, nullable=False, default="{}"),  # JSON object
    Column("lead_id", String(200)),
    Column("account_id", String(200)),
    Column("decision_id", ID, nullable=False),
    Column("window_start", Time, nullable=False),  # the credit window the send spent from
    # The bulk detector's MinHash, if any: "<version>x:<hex>" (older rows "<version>:<ints>").
    Column("fingerprint", Text),
    Column("sent_at", Time, nullable=False),
    Column("opened_at", Time),
    Column("replied_at", Time),
    Column("retracted_at", Time),
    Column("reported_at", Time),
    Column("expired_event_at", Time),  # when inmail.expired was emitted (exactly once)
    Column("refunded_at", Time),
    Column("conversation_id", ID),
    Index("ix_inmails_recipient_sent", "recipient_id", "sent_at"),
    Index("ix_inmails_sender_sent", "sender_id", "sent_at"),
    Index("ix_inmails_sender_recipient", "sender_id", "recipient_id"),
    Index("ix_inmails_sent", "sent_at"),
)

inmail_tags = Table(
    "inmail_tags", metadata,
    Column("inmail_id", ID, primary_key=True),
    Column("tag", String(200), primary_key=True),
    Index("ix_inmail_tags_tag", "tag"),
)

conversations = Table(
    "conversations", metadata,
    Column("id", ID, primary_key=True),
    Column("inmail_id", ID, nullable=False, unique=True),
    Column("sender_id", ID, nullable=False),  # the InMail's sender
    Column("recipient_id", ID, nullable=False),  # the InMail's recipient
    Column("created_at", Time, nullable=False),
    Column("last_message_at", Time, nullable=False),
    # The last conversation_messages.seq each participant has read (0: none); added in
    # schema version 3, with the indexes that list a member's conversations by activity.
    Column("sender_read_seq", BigInteger, nullable=False, default=0, server_default="0"),
    Column("recipient_read_seq", BigInteger, nullable=False, default=0, server_default="0"),
    Index("ix_conversations_sender", "sender_id", "last_message_at"),
    Index("ix_conversations_recipient", "recipient_id", "last_message_at"),
)

conversation_messages = Table(
    "conversation_messages", metadata,
    Column("seq", AutoId, primary_key=True, autoincrement=True),
    Column("id", ID, nullable=False, unique=True),
    Column("conversation_id", ID, nullable=False),
    Column("author_id", ID, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", Time, nullable=False),
    Index("ix_conversation_messages_conv", "conversation_id", "seq"),
)

# One row per (member, credit window): the row senders lock, and the running totals.
credit_accounts = Table(
    "credit_accounts", metadata,
    Column("member_id", ID, primary_key=True),
    Column("window_start", Time, primary_key=True),
    Column("used", Integer, nullable=False, default=0),
    Column("rollover", Integer, nullable=False, default=0),
    Column("refunds", Integer, nullable=False, default=0),
    Column("updated_at", Time, nullable=False),
)

# Every change to an account, for audit: spend -1, refund +1, rollover +n.
credit_ledger = Table(
    "credit_ledger", metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("member_id", ID, nullable=False),
    Column("window_start", Time, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("delta", Integer, nullable=False),
    Column("inmail_id", ID),
    Column("created_at", Time, nullable=False),
    Index("ix_credit_ledger_member", "member_id", "window_start"),
)

abuse_reports = Table(
    "abuse_reports", metadata,
    Column("id", ID, primary_key=True),
    Column("inmail_id", ID, nullable=False),
    Column("reporter_id", ID, nullable=False),
    Column("sender_id", ID, nullable=False),
    Column("reason", String(500), nullable=False, default=""),
    Column("created_at", Time, nullable=False),
    UniqueConstraint("inmail_id", "reporter_id", name="uq_abuse_reports_inmail_reporter"),
    Index("ix_abuse_reports_sender", "sender_id", "created_at"),
)

restrictions = Table(
    "restrictions", metadata,
    Column("id", ID, primary_key=True),
    Column("member_id", ID, nullable=False),
    Column("starts_at", Time, nullable=False),
    Column("until", Time, nullable=False),
    Column("cause", String(32), nullable=False),
    Column("decision_id", ID),
    Column("lifted_at", Time),
    Column("lifted_by", String(200)),
    Column("note", String(500)),
    Index("ix_restrictions_member", "member_id", "until"),
)

# Every decision taken by send(), accepted or not; the idempotency record. No body.
decision_log = Table(
    "decision_log", metadata,
    Column("decision_id", ID, primary_key=True),
    Column("sender_id", ID, nullable=False),
    Column("recipient_id", ID, nullable=False),
    Column("idempotency_key", String(200)),
    Column("request_hash", String(64), nullable=False),  # sha256 of the message; "" if no key
    Column("outcome", String(16), nullable=False),
    Column("codes", String(1000), nullable=False, default=""),
    Column("decision", Text, nullable=False),  # Decision.to_dict() as JSON
    Column("inmail_id", ID),
    Column("policy_version", String(80), nullable=False),
    Column("created_at", Time, nullable=False),
    # Also serves lookups by sender (its leading column); one index less to write per send.
    UniqueConstraint("sender_id", "idempotency_key", name="uq_decision_log_idempotency"),
)

outbox = Table(
    "outbox", metadata,
    Column("seq", AutoId, primary_key=True, autoincrement=True),
    Column("event_id", ID, nullable=False, unique=True),
    Column("type", String(64), nullable=False),
    Column("payload", Text, nullable=False),  # the event as JSON (never a body)
    Column("created_at", Time, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", Time, nullable=False),
    Column("delivered_at", Time),
    Column("last_error", String(1000)),
    Index("ix_outbox_due", "delivered_at", "next_attempt_at"),  # added by migration 2
)
