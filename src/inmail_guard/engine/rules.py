"""The built-in rules: one small function per policy key, in a registry.

A rule is *compiled* once per policy: its factory reads the policy and returns a checker (or
``None`` when the policy turns it off). The checker takes a :class:`Context` and returns the
reasons it rejects the send for (an empty tuple when it has nothing to say). Adding a rule is
one factory here plus data-driven cases in ``tests/engine/cases``; the evaluation loop never
changes for it.

Rule names are the policy paths they enforce (``eligibility.honor_opt_out``,
``blocklists.platform_employees``...). They are what ``rules_mode`` keys refer to and what a
reason's ``rule`` says.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING

from inmail_guard.engine.content import PRODUCT_FORMATTING
from inmail_guard.engine.plans import PlanLimits, UnknownPlanError
from inmail_guard.engine.types import Facts, Member, Message, Reason
from inmail_guard.reasons import SENDER_MESSAGES

if TYPE_CHECKING:
    from inmail_guard.engine.content import Content
    from inmail_guard.policies.schema import Policy

NOTHING: tuple[Reason, ...] = ()

__all__ = ["RULES", "Context", "RuleSpec", "UnknownPlanError", "compile_rules", "reason", "rule",
           "rule_names"]


@dataclass(slots=True)
class Context:
    message: Message
    facts: Facts
    content: Content
    #: The engine's compiled plan limits (``Engine.plans``): one compilation per policy.
    plans: PlanLimits


Checker = Callable[[Context], tuple[Reason, ...]]
Factory = Callable[["Policy"], "Checker | None"]


@dataclass(frozen=True, slots=True)
class RuleSpec:
    name: str
    codes: tuple[str, ...]
    factory: Factory
    # Rules over the body need the parsed content; replay with hashed bodies skips them.
    needs_body: bool = False
    # A rule the policy instantiates several times (one per blocklist) names each instance.
    expand: Callable[[Policy], Iterable[tuple[str, Checker]]] | None = None


RULES: dict[str, RuleSpec] = {}


def rule(name: str, *codes: str, needs_body: bool = False) -> Callable[[Factory], Factory]:
    def register(factory: Factory) -> Factory:
        if name in RULES:
            raise ValueError(f"rule {name!r} registered twice")
        RULES[name] = RuleSpec(name, codes, factory, needs_body)
        return factory

    return register


def reason(code: str, rule_name: str, detail: str, sender_message: str | None = None) -> Reason:
    return Reason(code, rule_name, detail, sender_message or SENDER_MESSAGES[code])


def compile_rules(policy: Policy) -> list[tuple[str, Checker]]:
    """The checkers this policy enables, in registry order, blocklists expanded one per list."""
    compiled: list[tuple[str, Checker]] = []
    for spec in RULES.values():
        if spec.expand is not None:
            compiled.extend(spec.expand(policy))
            continue
        checker = spec.factory(policy)
        if checker is not None:
            compiled.append((spec.name, checker))
    return compiled


def rule_names(policy: Policy) -> list[str]:
    """Every rule name this policy can put in ``rules_mode``."""
    names = [n for n, spec in RULES.items() if spec.expand is None]
    names += [f"blocklists.{b.name}" for b in policy.blocklists]
    return names


# --- restriction -----------------------------------------------------------------------------


@rule("spam.restriction", "sender_restricted")
def _restricted(policy: Policy) -> Checker:
    name = "spam.restriction"

    def check(ctx: Context) -> tuple[Reason, ...]:
        until = ctx.facts.restricted_until
        if until is None or until <= ctx.facts.now:
            return NOTHING
        when = until.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")  # one zone for everyone
        return (
            reason(
                "sender_restricted",
                name,
                f"sender {ctx.message.sender_id} is restricted until {until.isoformat()}",
                f"Your ability to send InMail is temporarily limited until {when}.",
            ),
        )

    return check


# --- credits ---------------------------------------------------------------------------------


@rule("credits", "plan_has_no_credits", "credits_exhausted")
def _credits(policy: Policy) -> Checker:
    def check(ctx: Context) -> tuple[Reason, ...]:
        facts = ctx.facts
        plan = facts.sender.plan
        limit = ctx.plans.limit(plan)
        if limit == 0:
            return (
                reason("plan_has_no_credits", "credits",
                       f"plan {plan!r} has no monthly InMail credits"),
            )
        total = limit + facts.credits_extra
        if facts.credits_used >= total:
            return (
                reason("credits_exhausted", "credits",
                       f"{facts.credits_used} of {total} credits used this window"),
            )
        return NOTHING

    return check


# --- who may be contacted --------------------------------------------------------------------


@rule("self_message", "self_message")
def _self_message(policy: Policy) -> Checker:
    def check(ctx: Context) -> tuple[Reason, ...]:
        if ctx.message.sender_id == ctx.message.recipient_id:
            return (reason("self_message", "self_message", "sender and recipient are the same"),)
        return NOTHING

    return check


@rule("eligibility.out_of_network_only", "recipient_is_connection")
def _out_of_network(policy: Policy) -> Checker | None:
    if not policy.eligibility.out_of_network_only:
        return None
    name = "eligibility.out_of_network_only"

    def check(ctx: Context) -> tuple[Reason, ...]:
        if ctx.facts.connection_degree == 1:
            return (reason("recipient_is_connection", name,
                           "recipient is a 1st-degree connection"),)
        return NOTHING

    return check


@rule("eligibility.require_public_profile", "recipient_profile_not_public")
def _public_profile(policy: Policy) -> Checker | None:
    if not policy.eligibility.require_public_profile:
        return None
    name = "eligibility.require_public_profile"

    def check(ctx: Context) -> tuple[Reason, ...]:
        if not ctx.facts.recipient.profile_public:
            return (reason("recipient_profile_not_public", name,
                           "recipient's profile is not public"),)
        return NOTHING

    return check


@rule("eligibility.honor_opt_out", "recipient_opted_out")
def _opt_out(policy: Policy) -> Checker | None:
    if not policy.eligibility.honor_opt_out:
        return None
    name = "eligibility.honor_opt_out"

    def check(ctx: Context) -> tuple[Reason, ...]:
        if not ctx.facts.recipient.accepts_inmail:
            return (reason("recipient_opted_out", name, "recipient opted out of InMail"),)
        return NOTHING

    return check


@rule("eligibility.honor_blocks", "sender_blocked_by_recipient")
def _blocks(policy: Policy) -> Checker | None:
    if not policy.eligibility.honor_blocks:
        return None
    name = "eligibility.honor_blocks"

    def check(ctx: Context) -> tuple[Reason, ...]:
        if ctx.facts.blocked_by_recipient:
            return (reason("sender_blocked_by_recipient", name,
                           "recipient has blocked the sender"),)
        return NOTHING

    return check


@rule("eligibility.one_pending_per_recipient", "recipient_has_pending_inmail")
def _one_pending(policy: Policy) -> Checker | None:
    if not policy.eligibility.one_pending_per_recipient:
        return None
    name = "eligibility.one_pending_per_recipient"

    def check(ctx: Context) -> tuple[Reason, ...]:
        if ctx.facts.pending_to_recipient:
            return (reason("recipient_has_pending_inmail", name,
                           "an earlier InMail to this recipient is still unanswered"),)
        return NOTHING

    return check


def _compile_blocklists(policy: Policy) -> Iterator[tuple[str, Checker]]:
    for item in policy.blocklists:
        yield f"blocklists.{item.name}", _blocklist_checker(
            f"blocklists.{item.name}", item.applies_to, item.code,
            policy.blocklist_ids(item.name), dict(item.match or {}),
        )


RULES["blocklists"] = RuleSpec(
    "blocklists", ("recipient_protected", "sender_banned", "recipient_opted_out"),
    lambda policy: None, expand=_compile_blocklists,
)


def _blocklist_checker(
    name: str, applies_to: str, code: str, ids: frozenset[str], match: dict[str, object]
) -> Checker:
    """Ids are a frozenset: a million-id list costs one hash lookup per send."""
    is_sender = applies_to == "sender"
    attrs = tuple(match.items())

    def member_of(ctx: Context) -> Member:
        return ctx.facts.sender if is_sender else ctx.facts.recipient

    def check(ctx: Context) -> tuple[Reason, ...]:
        member = member_of(ctx)
        if member.id in ids:
            return (reason(code, name, f"{applies_to} {member.id} is on blocklist {name}"),)
        if attrs and all(getattr(member, k) == v for k, v in attrs):
            shown = ", ".join(f"{k}={v}" for k, v in attrs)
            return (reason(code, name, f"{applies_to} {member.id} matches {shown} ({name})"),)
        return NOTHING

    return check


# --- content ---------------------------------------------------------------------------------


@rule("content.subject", "subject_missing", "subject_too_long")
def _subject(policy: Policy) -> Checker:
    limit = policy.content.subject
    name = "content.subject"

    def check(ctx: Context) -> tuple[Reason, ...]:
        subject = ctx.message.subject.strip()
        if not subject:
            if limit.required:
                return (reason("subject_missing", name, "subject is empty"),)
            return NOTHING
        if len(subject) > limit.max_chars:
            return (reason("subject_too_long", name,
                           f"subject has {len(subject)} characters, limit {limit.max_chars}",
                           f"Shorten the subject line to {limit.max_chars} characters."),)
        return NOTHING

    return check


@rule("content.body", "body_missing", "body_too_long", needs_body=True)
def _body(policy: Policy) -> Checker:
    limit = policy.content.body
    name = "content.body"

    def check(ctx: Context) -> tuple[Reason, ...]:
        length = ctx.content.length
        if length == 0:
            if limit.required:
                return (reason("body_missing", name, "body is empty"),)
            return NOTHING
        if length > limit.max_chars:
            return (reason("body_too_long", name,
                           f"body has {length} characters, limit {limit.max_chars}",
                           f"Shorten your message to {limit.max_chars:,} characters"
                           f" (it has {length:,})."),)
        return NOTHING

    return check


@rule("content.formatting", "formatting_not_allowed", needs_body=True)
def _formatting(policy: Policy) -> Checker | None:
    allowed = frozenset(policy.content.formatting)
    reject_html = policy.content.raw_html == "reject"
    if allowed >= PRODUCT_FORMATTING and not reject_html:
        return None  # everything the body reader reports is allowed: nothing to check
    name = "content.formatting"

    def check(ctx: Context) -> tuple[Reason, ...]:
        content = ctx.content
        used = content.formatting - allowed
        html = content.raw_html if reject_html else ()
        if not used and not html:
            return NOTHING
        found = sorted(used) + [f"HTML {tag}" for tag in html]
        shown = sorted(_FORMAT_LABELS[f] for f in used)
        if html:
            shown.append("HTML")
        return (reason("formatting_not_allowed", name,
                       f"formatting not allowed: {', '.join(found)}",
                       f"InMail doesn't support {_join(shown)}. Remove it and try again."),)

    return check


_FORMAT_LABELS = {
    "bold": "bold text", "italic": "italics", "strikethrough": "strikethrough",
    "bullet_list": "bullet lists", "numbered_list": "numbered lists", "link": "links",
}


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


@rule("content.images", "image_not_allowed", needs_body=True)
def _images(policy: Policy) -> Checker | None:
    if policy.content.images:
        return None
    name = "content.images"

    def check(ctx: Context) -> tuple[Reason, ...]:
        if ctx.content.images:
            return (reason("image_not_allowed", name,
                           f"body contains {ctx.content.images} image(s)"),)
        return NOTHING

    return check


@rule("content.attachments", "attachment_not_allowed")
def _attachments(policy: Policy) -> Checker | None:
    if policy.content.attachments:
        return None
    name = "content.attachments"

    def check(ctx: Context) -> tuple[Reason, ...]:
        if ctx.message.attachments:
            names = ", ".join(a.filename for a in ctx.message.attachments)
            return (reason("attachment_not_allowed", name, f"attachments: {names}"),)
        return NOTHING

    return check

