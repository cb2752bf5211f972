"""``inmail-guard demo``: a guided tour of every rule, on a fresh database.

It builds a database (a temporary SQLite file unless ``--db``), creates one member per plan
plus recipients who are a connection, a blocker, opted out, an employee and private, then walks
through the brief: sending, credits, each eligibility rejection, content limits, the inbox,
open, retraction (unopened, opened, too late), reply and conversation, abuse reports and the
restriction they trigger, its lift, the spam test marker, and expiry (the clock is moved, not
waited for). Each step prints its decision, reason code and the sender-facing message; the
tour ends with analytics.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

import inmail_guard as ig
from inmail_guard.cli import BadInput, OutputPath, load_policy_or_exit
from inmail_guard.plugins.teststring import MARKER
from inmail_guard.service import InMailService, ManualClock, SendResult, ServiceError

BODY = ("Hi {name}, I lead the data platform team at Acme. Your work on **stream processing**"
        " caught my eye: would you be open to a short call about a staff engineer role?")

MEMBERS = (
    ig.Member("basil", plan="basic", name="Basil (basic)"),
    ig.Member("jess", plan="job_seeker", name="Jess (job seeker)"),
    ig.Member("alice", plan="premium_business", name="Alice (premium business)",
              photo_url="https://img.example/alice.jpg"),
    ig.Member("sam", plan="sales_navigator_team", name="Sam (sales navigator)"),
    ig.Member("sara", plan="sales_navigator_team_advanced", name="Sara (sales nav. advanced)"),
    ig.Member("rick", plan="recruiter_lite", name="Rick (recruiter lite)"),
    ig.Member("rita", plan="recruiter_corporate", name="Rita (recruiter corporate)"),
    ig.Member("bob", name="Bob"),
    ig.Member("carol", name="Carol (Alice's connection)"),
    ig.Member("dave", name="Dave (blocks Alice)"),
    ig.Member("olive", accepts_inmail=False, name="Olive (opted out)"),
    ig.Member("emma", is_employee=True, name="Emma (platform employee)"),
    ig.Member("pat", profile_public=False, name="Pat (private profile)"),
    *(ig.Member(f"m{i}", name=f"Member {i}") for i in range(1, 8)),
)


@dataclass
class Tour:
    svc: InMailService
    clock: ManualClock
    steps: Table = field(default_factory=lambda: _table(
        "#", "step", "who", "outcome", "code", "what the sender sees / detail"))

    def row(self, step: str, who: str, outcome: str, code: str = "", text: str = "") -> None:
        style = {"accepted": "green", "rejected": "red", "error": "yellow"}.get(outcome, "")
        self.steps.add_row(str(self.steps.row_count + 1), step, who,
                           f"[{style}]{outcome}[/]" if style else outcome, code, text)

    def send(self, step: str, sender: str, recipient: str, **kw: Any) -> SendResult:
        kw.setdefault("subject", "A staff engineer role at Acme")
        kw.setdefault("body", BODY.format(name=recipient.capitalize()))
        self.clock.advance(timedelta(seconds=1))  # distinct send times: a readable order
        result = self.svc.send(ig.Message(sender, recipient, **kw))
        d = result.decision
        if d.accepted:
            c = d.credits
            text = f"sent; {c.remaining - 1} of {c.limit} credits left" if c else "sent"
            self.row(step, f"{sender} → {recipient}", "accepted", "", text)
        else:
            r = d.reasons[0]
            self.row(step, f"{sender} → {recipient}", "rejected", r.code, r.sender_message)
        return result

    def act(self, step: str, who: str, fn: Callable[[], Any], ok: str) -> Any:
        try:
            value = fn()
        except ServiceError as exc:
            self.row(step, who, "error", exc.code, exc.message)
            return None
        self.row(step, who, "ok", "", ok.format(value=value))
        return value

    def inmail_id(self, result: SendResult) -> str:
        """The id of a send the rest of the tour builds on; :class:`TourRejected` if the
        policy refused it (a policy stricter than the shipped one)."""
        if result.inmail is None:
            raise TourRejected(result.decision.codes)
        return result.inmail.id


class TourRejected(Exception):
    """A send the tour needs was rejected by the policy: ``codes`` say why."""

    def __init__(self, codes: tuple[str, ...]) -> None:
        super().__init__(", ".join(codes))
        self.codes = codes


def missing_plans(policy: ig.Policy) -> list[str]:
    """The plans the demo's members have that ``policy`` does not declare."""
    return sorted({m.plan for m in MEMBERS} - set(policy.plans))


def _table(*columns: str, title: str | None = None) -> Table:
    table = Table(title=title, show_lines=False, title_justify="left")
    for name in columns:
        table.add_column(name, overflow="fold")
    return table


def run_tour(svc: InMailService, clock: ManualClock) -> tuple[Tour, Table, Table]:
    for member in MEMBERS:
        svc.put_member(member)
    svc.connect("alice", "carol")
    svc.block("dave", "alice")
    tour = Tour(svc, clock)

    # Credits and plans.
    credits = svc.credits("alice").limit
    bob_inmail = tour.inmail_id(tour.send(
        f"send (premium business, {credits} credits)", "alice", "bob", tags=("q3-hiring",),
        crm={"lead_id": "L-1001", "account_id": "A-77"}))
    tour.send("basic plan has no InMail credits", "basil", "bob")
    for i in range(5):
        svc.send(ig.Message("jess", f"m{i + 1}", subject="Referral?", body="Hi! Could we talk?"))
    tour.row("job seeker sends 5 InMail", "jess → m1..m5", "accepted", "", "5 of 5 credits used")
    tour.send("6th send in the month", "jess", "m6", subject="Referral?", body="Hi!")
    # Who may be contacted.
    tour.send("1st-degree connection", "alice", "carol")
    tour.send("recipient blocked the sender", "alice", "dave")
    tour.send("recipient opted out of InMail", "alice", "olive")
    tour.send("protected list (employees)", "alice", "emma")
    tour.send("recipient's profile is private", "alice", "pat")
    tour.send("to oneself", "alice", "alice")
    # Content.
    tour.send("no subject line", "rita", "bob", subject="")
    tour.send("subject over 200 characters", "rita", "bob", subject="Role " * 41)
    tour.send("body over 3,000 characters", "rita", "bob", body="x" * 3001)
    tour.send("an image", "rita", "bob", body="See ![logo](https://acme.example/logo.png)")
    tour.send("an attachment", "rita", "bob", attachments=(ig.Attachment("jd.pdf"),))
    tour.send("'#', '>' and '---' are text as typed", "rita", "m7",
              body="# of years on the team: 6\n> you wrote: ping me in May\n\nThanks,\nRita\n---\n"
                   "Rita Diaz <Head of Talent>")
    tour.send("bold, lists and a link are fine", "rita", "m7",
              body="**Hi** m7,\n\n- remote\n- equity\n\n[The role](https://acme.example/jobs/1)")

    # Inbox and open.
    inbox = svc.inbox("bob")
    tour.row("Bob's inbox", "bob", "ok", "",
             f"{len(inbox)} InMail: {inbox[0].sender.name}, “{inbox[0].subject}”,"
             f" preview “{inbox[0].preview[:60]}…”")
    tour.act("only the recipient opens", "carol", lambda: svc.open(bob_inmail, "carol"), "")
    tour.act("Bob opens the InMail", "bob", lambda: svc.open(bob_inmail, "bob"),
             "full text: {value.body:.70}…")

    # Retraction.
    first = tour.inmail_id(tour.send("send to be retracted unopened", "rick", "m1"))
    tour.act("retract unopened", "rick", lambda: svc.retract(first, "rick"),
             "gone from m1's inbox (was opened: {value.was_opened})")
    second = tour.inmail_id(tour.send("send to be retracted after open", "rick", "m2"))
    svc.open(second, "m2")
    tour.act("retract opened", "rick", lambda: svc.retract(second, "rick"),
             "removed from m2's list too")
    tour.act("only the sender retracts", "m2", lambda: svc.retract(second, "m2"), "")
    late = tour.inmail_id(tour.send("send to be retracted too late", "rick", "m3"))

    # Reply and conversation.
    conv = tour.act("Bob replies", "bob", lambda: svc.reply(bob_inmail, "bob",
                                                             "Happy to talk. Tuesday?"),
                    "conversation {value.id:.10}… opened")
    if conv is not None:
        tour.act("conversation continues", "alice",
                 lambda: svc.post(conv.id, "alice", "Tuesday 10:00 works."),
                 "regular message, no credit")
        tour.act("credits after the conversation", "alice", lambda: svc.credits("alice"),
                 "{value.used} used, {value.remaining} left")

    # Abuse reports -> restriction -> lift.
    reported = []
    for name in ("m4", "m5", "m6"):
        # A sales pitch recipients do not want: sent (the classifier lets it through), then
        # reported. ("Buy our tool / Limited offer!" is now refused as spam outright.)
        sent = svc.send(ig.Message("sam", name, subject="Quick intro",
                                   body="Hi, could I show you our scheduling tool? Ten minutes "
                                   "this week?"))
        reported.append((name, tour.inmail_id(sent)))
    for name, inmail_id in reported:
        result = tour.act(f"{name} reports Sam's InMail", name,
                          lambda n=name, i=inmail_id: svc.report(i, n, "spam"),
                          "{value.sender_reports_in_window} report(s) in the window")
        if result is not None and result.restriction is not None:
            tour.row("threshold reached: Sam restricted", "sam", "ok", "sender.restricted",
                     f"until {result.restriction.until:%Y-%m-%d %H:%M} UTC")
    tour.send("send while restricted", "sam", "bob")
    tour.act("operator lifts the restriction", "operator",
             lambda: svc.lift_restriction("sam", by="demo", note="reviewed"),
             "{value} restriction lifted")
    tour.send("send after the lift", "sam", "bob")
    # Spam detection.
    tour.send("spam (test marker)", "sara", "bob", body=f"Act now! {MARKER}")
    tour.send("send while restricted for spam", "sara", "m7")

    # Time passes: expiry and the retraction window.
    expiring = tour.inmail_id(tour.send("send that will expire unopened", "rita", "m1"))
    clock.advance(timedelta(days=8))
    tour.row("8 days later", "clock", "ok", "", f"now {clock():%Y-%m-%d %H:%M} UTC")
    tour.act("unopened InMail expired", "m1", lambda: svc.open(expiring, "m1"), "")
    tour.act("the expired InMail left the inbox", "m1", lambda: len(svc.inbox("m1")),
             "m1's inbox holds {value} InMail")
    tour.act("expiry events", "system", svc.expire_due, "{value} inmail.expired event(s)")
    tour.act("retract after 7 days", "rick", lambda: svc.retract(late, "rick"), "")
    tour.act("dispatch events", "system", svc.dispatch_events,
             "{value} events delivered to sinks")

    inbox_table = _table("sender", "subject", "preview", "status",
                         title="Bob's inbox after the tour")
    for item in svc.inbox("bob"):
        inbox_table.add_row(item.sender.name or item.sender.id, item.subject,
                            item.preview[:60], item.status)
    stats = _table("sender", "sent", "delivered", "opened", "replied", "expired", "retracted",
                   "open rate", "response rate", title="Analytics by sender")
    report = svc.analytics(group_by="sender")
    for key, c in (*report.groups, ("all", report.total)):
        stats.add_row(key, str(c.sent), str(c.delivered), str(c.opened), str(c.replied),
                      str(c.expired), str(c.retracted), f"{c.open_rate:.0%}",
                      f"{c.response_rate:.0%}")
    return tour, inbox_table, stats


@click.command()
@click.option("--db", "db_path", type=OutputPath(), default=None,
              help="SQLite file to create, in an existing directory (default: a temporary"
                   " file).")
@click.option("--policy", "policy_path", default=None,
              help="Policy file (default: the shipped policy).")
def demo(db_path: str | None, policy_path: str | None) -> None:
    """Walk through every InMail rule on a fresh database and print each decision."""
    if db_path is not None and Path(db_path).exists():
        raise click.UsageError(f"{db_path} exists; the demo builds a fresh database,"
                               " pick a new path")
    policy_ref = policy_path or "builtin:default"
    policy = load_policy_or_exit(policy_ref)
    if missing := missing_plans(policy):
        raise BadInput(
            f"{policy_ref}: the demo's members are on plans this policy does not declare:"
            f" {', '.join(missing)}. Fix: declare them under plans:, or add"
            " `extends: builtin:default` to the policy.")
    db = (Path(db_path) if db_path is not None
          else Path(tempfile.mkdtemp(prefix="inmail-guard-demo-")) / "demo.db")
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    console = Console(width=None if sys.stdout.isatty() else 160)
    with InMailService(policy, db, clock=clock) as svc:
        try:
            tour, inbox, stats = run_tour(svc, clock)
        except TourRejected as exc:
            raise BadInput(
                f"{policy_ref}: this policy rejected a send the demo's tour builds on"
                f" ({', '.join(exc.codes)}); the tour follows the shipped rules. Fix: run"
                " the demo with builtin:default or a policy that extends it and keeps its"
                f" plans' credits and rules (database left at {db}).") from None
    console.print(f"[bold]inmail-guard demo[/] · policy {policy.name} ({policy.version[:19]}…)"
                  f" · database {db}")
    console.print(tour.steps)
    console.print(inbox)
    console.print(stats)
