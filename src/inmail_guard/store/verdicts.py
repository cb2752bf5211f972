"""The platform's own verdicts on delivered InMails, as labelled training rows.

As SpamAssassin's ``sa-learn`` and Rspamd's ``learn_spam``/``learn_ham`` learn from what users
did with their mail, ``inmail-guard model train --from-db URL`` learns from what recipients did
with their InMails: one **reported** as abuse is spam; one that got a **reply** and was never
reported is ham. Everything else (unopened, opened and ignored) says nothing and is left out.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from inmail_guard.store import Store
from inmail_guard.store.tables import inmails


@dataclass(frozen=True, slots=True)
class Verdict:
    inmail_id: str
    spam: bool
    subject: str
    body: str


def verdicts(store: Store) -> list[Verdict]:
    """Every reported (spam) or replied-to and unreported (ham) InMail, oldest first."""
    stmt = (select(inmails.c.id, inmails.c.subject, inmails.c.body, inmails.c.reported_at,
                   inmails.c.replied_at)
            .where((inmails.c.reported_at.is_not(None)) | (inmails.c.replied_at.is_not(None)))
            .order_by(inmails.c.sent_at, inmails.c.id))
    with store.read() as conn:
        rows = conn.execute(stmt).all()
    return [Verdict(r.id, r.reported_at is not None, r.subject, r.body) for r in rows]
