"""What a policy does, for a person: one :class:`Section` per policy area.

Detector settings are shown after validation by the detector's own ``Config`` (defaults filled
in) when the detector is installed; long lists are summarised by their size.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from inmail_guard.engine.rules import rule_names
from inmail_guard.policies.schema import Policy
from inmail_guard.workflow.detectors import CORE_SETTINGS, detector_settings
from inmail_guard.workflow.render import Section

_ELIGIBILITY = {
    "out_of_network_only": ("recipient_is_connection",
                            "only members outside the sender's network (1st-degree connections"
                            " use regular messaging)"),
    "require_public_profile": ("recipient_profile_not_public",
                               "the recipient's profile must be public"),
    "honor_opt_out": ("recipient_opted_out",
                      "members who opted out of InMail can't be contacted"),
    "honor_blocks": ("sender_blocked_by_recipient",
                     "a recipient who blocked the sender can't be contacted"),
    "one_pending_per_recipient": ("recipient_has_pending_inmail",
                                  "at most one unanswered InMail per sender and recipient"),
}


def human_duration(value: timedelta) -> str:
    """``7 days``, ``24 hours``, ``90 minutes``: the unit a person would say."""
    seconds = int(value.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0 and (unit != "day" or seconds >= 2 * size):
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def summarize(value: Any, key: str = "") -> str:
    """A setting as a person reads it: lists of more than five become ``N <key>``."""
    if isinstance(value, list):
        if len(value) > 5:
            return f"{len(value)} {key or 'items'}"
        return "[" + ", ".join(summarize(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {summarize(v, k)}" for k, v in value.items()) + "}"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "null" if value is None else str(value)


def mode_of(policy: Policy, name: str) -> str:
    return policy.rules_mode.get(name, "enforce")


def explain_policy(policy: Policy) -> list[Section]:
    return [
        _overview(policy),
        _plans(policy),
        _eligibility(policy),
        _blocklists(policy),
        _content(policy),
        _lifecycle(policy),
        _spam(policy),
        _shadow(policy),
    ]


def _overview(policy: Policy) -> Section:
    notes = [f"Policy {policy.name}" + (f": {policy.description}" if policy.description else "")]
    notes.append(f"version {policy.version}")
    if policy.source:
        notes.append(f"loaded from {policy.source}")
    if policy.extends:
        notes.append(f"extends {policy.extends}")
    return Section("Overview", tuple(notes))


def _plans(policy: Policy) -> Section:
    c = policy.credits
    notes = [f"Credits renew each calendar month ({c.timezone}); a send spends one credit."]
    notes.append(f"Unused credits roll over: up to {c.rollover_cap}." if c.rollover_cap
                 else "Unused credits do not roll over.")
    if c.refund_on_response_within is not None:
        notes.append("A credit is refunded when the recipient responds within "
                     f"{human_duration(c.refund_on_response_within)}.")
    rows = []
    for name, plan in policy.plans.items():
        rows.append((name, str(plan.monthly_credits),
                     "cannot send InMail (plan_has_no_credits)" if plan.monthly_credits == 0
                     else ""))
    return Section("Plans and credits", tuple(notes), ("plan", "monthly credits", "note"),
                   tuple(rows), frozenset({1}))


def _eligibility(policy: Policy) -> Section:
    rows = []
    for key, (code, meaning) in _ELIGIBILITY.items():
        on = getattr(policy.eligibility, key)
        rule = f"eligibility.{key}"
        rows.append((rule, "on" if on else "off", meaning if on else "not checked",
                     code if on else "", mode_of(policy, rule) if on else ""))
    notes = ("Senders are never told whether a recipient blocked them or opted out.",)
    return Section("Eligibility", notes, ("rule", "setting", "effect", "code", "mode"),
                   tuple(rows))


def _blocklists(policy: Policy) -> Section:
    rows = []
    for b in policy.blocklists:
        ids = policy.blocklist_ids(b.name)
        matches = ", ".join(f"{k}={summarize(v)}" for k, v in (b.match or {}).items())
        source = f"{len(ids)} ids" + (f" (file {b.file})" if b.file else "")
        rows.append((b.name, b.applies_to, source, matches or "", b.code,
                     mode_of(policy, f"blocklists.{b.name}")))
    notes = () if rows else ("No blocklists.",)
    return Section("Blocklists", notes, ("list", "applies to", "size", "matches", "code", "mode"),
                   tuple(rows))


def _content(policy: Policy) -> Section:
    c = policy.content
    allowed = ", ".join(c.formatting) or "none"
    rows = (
        ("subject", f"{'required, ' if c.subject.required else 'optional, '}"
                    f"at most {c.subject.max_chars:,} characters", mode_of(policy,
                                                                           "content.subject")),
        ("body", f"{'required, ' if c.body.required else 'optional, '}at most"
                 f" {c.body.max_chars:,} characters of rendered text (markup not counted)",
         mode_of(policy, "content.body")),
        ("formatting", f"allowed: {allowed}", mode_of(policy, "content.formatting")),
        ("images", "allowed" if c.images else "not allowed", mode_of(policy, "content.images")),
        ("attachments", "allowed" if c.attachments else "not allowed",
         mode_of(policy, "content.attachments")),
    )
    return Section("Content limits", (), ("what", "limit", "mode"), rows)


def _lifecycle(policy: Policy) -> Section:
    lc = policy.lifecycle
    notes = (
        f"Unopened InMail expires after {human_duration(lc.expire_unopened_after)}.",
        f"The sender may retract within {human_duration(lc.retract_within)} of sending.",
        f"The inbox preview shows the first {lc.preview_chars} characters.",
    )
    return Section("Lifecycle", notes)


def _spam(policy: Policy) -> Section:
    spam = policy.spam
    durations = ", then ".join(human_duration(d) for d in spam.restriction.durations)
    notes = [
        f"A send whose spam score reaches {summarize(spam.reject_at)} is rejected"
        " (spam_detected).",
        f"At {summarize(spam.restrict_at)} the sender is also restricted: {durations}"
        " (the last repeats).",
    ]
    if spam.restriction.on_abuse_report:
        notes.append("Reaching the abuse-report threshold restricts the sender on its own.")
    rows = []
    for name, raw in spam.detectors.items():
        settings, known = detector_settings(name, raw or {})
        extra = {k: v for k, v in settings.items() if k not in CORE_SETTINGS}
        score = summarize(settings.get("score", ""))
        if settings.get("max_score") is not None:
            score += f" (max {summarize(settings['max_score'])})"
        rows.append((
            name,
            "on" if settings.get("enabled", True) else "off",
            mode_of(policy, name),
            score,
            str(settings.get("on_error", "fail_open")),
            ", ".join(f"{k}: {summarize(v, k)}" for k, v in extra.items())
            + ("" if known else " (detector not installed)"),
        ))
    if not rows:
        notes.append("No spam detectors are enabled.")
    return Section("Spam detectors and thresholds", tuple(notes),
                   ("detector", "enabled", "mode", "score", "on error", "settings"), tuple(rows))


def _shadow(policy: Policy) -> Section:
    shadowed = sorted(n for n, m in policy.rules_mode.items() if m == "shadow")
    if not shadowed:
        return Section("Shadowed rules", ("None: every rule and detector enforces.",))
    known = set(rule_names(policy)) | set(policy.spam.detectors)
    rows = tuple((n, "detector" if n in policy.spam.detectors else "rule",
                  "" if n in known else "unknown name") for n in shadowed)
    return Section("Shadowed rules",
                   ("Evaluated and reported under `shadow`, never rejecting.",),
                   ("name", "kind", "note"), rows)
