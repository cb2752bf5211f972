"""The lifecycle behind tests/fixtures/events/recorded-events.jsonl: every event type, with CRM
references (a Salesforce lead, a contact with its account, none) and campaign tags.

``python -m tests.service.crm_scenario > tests/fixtures/events/recorded-events.jsonl``
records it again (new event ids); test_crm_mapping.py checks that the recording still has the
shape of what the service emits today."""

from __future__ import annotations

import json
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from typing import Any

import inmail_guard as ig
from inmail_guard import hookimpl
from inmail_guard.service import InMailService
from inmail_guard.service.results import ManualClock

LEAD = "00QDn000003VdXaMAK"      # a Salesforce Lead id (prefix 00Q)
CONTACT = "003Dn00000B1cDeIAJ"   # a Contact (003) ...
ACCOUNT = "001Dn00000AcmeXIAR"   # ... at this Account (001)


class _Recorder:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    @hookimpl
    def inmail_guard_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)


def record() -> list[dict[str, Any]]:
    clock = ManualClock(datetime(2026, 11, 2, 9, 30, tzinfo=UTC))
    with tempfile.TemporaryDirectory() as tmp:
        svc = InMailService(ig.default_policy(), f"sqlite:///{tmp}/crm.db", clock=clock)
        recorder = _Recorder()
        svc.plugins.pm.register(recorder)
        try:
            svc.put_member(ig.Member("rep-ana", plan="sales_navigator_team", name="Ana Rep"))
            for member in [f"prospect-{i}" for i in range(1, 8)]:
                svc.put_member(ig.Member(member))

            def send(to: str, **kw: Any) -> str:
                clock.advance(timedelta(minutes=10))
                result = svc.send(ig.Message("rep-ana", to, subject="Quick question",
                                             body="Hi! Could we talk about your **Q1** plans?",
                                             **kw))
                assert result.inmail is not None, result.decision.codes
                return result.inmail.id

            replied = send("prospect-1", tags=("q4-outreach",), crm={"lead_id": LEAD})
            opened = send("prospect-2", tags=("q4-outreach", "fintech"),
                          crm={"lead_id": CONTACT, "account_id": ACCOUNT})
            retracted = send("prospect-3", crm={"account_id": ACCOUNT})
            reported = send("prospect-4", tags=("q4-outreach",), crm={"lead_id": LEAD})
            send("prospect-5", tags=("fintech",), crm={"lead_id": LEAD})  # expires
            # no CRM reference; reported too, which restricts the sender
            more = [send(f"prospect-{i}") for i in (6, 7)]
            clock.advance(timedelta(hours=2))
            svc.reply(replied, "prospect-1", "Sure, call me Tuesday.")
            svc.open(opened, "prospect-2")
            svc.retract(retracted, "rep-ana")
            svc.report(reported, "prospect-4", "spam")
            for i, inmail_id in zip((6, 7), more, strict=True):
                svc.report(inmail_id, f"prospect-{i}", "spam")
            clock.advance(timedelta(days=8))
            svc.expire_due()
            while svc.dispatch_events():
                pass
        finally:
            svc.close()
    return recorder.events


if __name__ == "__main__":
    for event in record():
        sys.stdout.write(json.dumps(event, sort_keys=True) + "\n")
