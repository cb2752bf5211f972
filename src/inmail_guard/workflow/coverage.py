"""Which rules, detectors and reason codes of a policy a set of decisions exercised.

A rule counts as exercised when a decision carries one of its reasons (or a shadow hit, for a
rule in shadow mode); a detector when it produced a positive score. The reachable reason codes
are those the policy's enabled rules and detectors can produce.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from inmail_guard.engine.evaluator import Engine
from inmail_guard.engine.rules import RULES, compile_rules
from inmail_guard.engine.types import Decision
from inmail_guard.policies.schema import Policy


@dataclass(frozen=True, slots=True)
class Coverage:
    rules: tuple[str, ...]
    """Enabled rules and detectors (``spam.detectors.NAME``), in evaluation order."""
    codes: tuple[str, ...]
    """Reason codes this policy can produce, sorted."""
    rules_hit: frozenset[str]
    codes_hit: frozenset[str]

    @property
    def rules_missed(self) -> tuple[str, ...]:
        return tuple(r for r in self.rules if r not in self.rules_hit)

    @property
    def codes_missed(self) -> tuple[str, ...]:
        return tuple(c for c in self.codes if c not in self.codes_hit)

    @property
    def complete(self) -> bool:
        return not self.rules_missed and not self.codes_missed

    def line(self) -> str:
        """The one-line summary the test report ends with."""
        head = (f"coverage: {len(self.rules) - len(self.rules_missed)}/{len(self.rules)} rules,"
                f" {len(self.codes) - len(self.codes_missed)}/{len(self.codes)} reason codes")
        if self.complete:
            return head + " (complete)"
        missed = []
        if self.rules_missed:
            missed.append("rules not exercised: " + ", ".join(self.rules_missed))
        if self.codes_missed:
            missed.append("codes not exercised: " + ", ".join(self.codes_missed))
        return head + "; " + "; ".join(missed)


def enabled_rules(policy: Policy, engine: Engine) -> list[str]:
    """Rules that can fire: compiled ones, minus blocklists with no ids and nothing to match."""
    empty = {f"blocklists.{b.name}" for b in policy.blocklists
             if not b.match and not policy.blocklist_ids(b.name)}
    names = [name for name, _check in compile_rules(policy) if name not in empty]
    names += [f"spam.detectors.{slot.detector.name}" for slot in engine.detectors]
    return names


def reachable_codes(policy: Policy, engine: Engine) -> set[str]:
    codes: set[str] = set()
    blocklist_codes = {f"blocklists.{b.name}": b.code for b in policy.blocklists}
    for name in enabled_rules(policy, engine):
        if name.startswith("spam.detectors."):
            continue
        if name in blocklist_codes:
            codes.add(blocklist_codes[name])
        else:
            codes.update(RULES[name].codes)
    # Codes a rule declares but this policy's settings make impossible.
    if not policy.content.subject.required:
        codes.discard("subject_missing")
    if not policy.content.body.required:
        codes.discard("body_missing")
    if all(plan.monthly_credits > 0 for plan in policy.plans.values()):
        codes.discard("plan_has_no_credits")
    if engine.detectors:
        codes.add("spam_detected")
    if any(slot.fail_closed for slot in engine.detectors):
        codes.add("detector_failed")
    return codes


def measure_coverage(policy: Policy, engine: Engine, decisions: Iterable[Decision]) -> Coverage:
    rules_hit: set[str] = set()
    codes_hit: set[str] = set()
    for decision in decisions:
        for r in decision.reasons:
            rules_hit.add(r.rule)
            codes_hit.add(r.code)
        for s in decision.shadow:
            rules_hit.add(s.rule)
            codes_hit.add(s.code)
        for signal in decision.spam.signals:
            if signal.score > 0 or signal.error:
                rules_hit.add(f"spam.detectors.{signal.detector}")
    return Coverage(tuple(enabled_rules(policy, engine)), tuple(sorted(reachable_codes(
        policy, engine))), frozenset(rules_hit), frozenset(codes_hit))
