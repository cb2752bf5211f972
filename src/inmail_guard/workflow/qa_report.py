"""Rendering a :class:`QAReport` as terminal tables, Markdown or JSON."""

from __future__ import annotations

import json
from dataclasses import asdict

from rich.console import Console

from inmail_guard.workflow.qa import QAReport
from inmail_guard.workflow.render import Section, print_sections, sections_markdown


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2%}"


def so_ratio(spam_rate: float, ham_rate: float) -> float | None:
    """SpamAssassin's S/O: the share of a rule's hits that are spam, rates normalised."""
    total = spam_rate + ham_rate
    return spam_rate / total if total else None


def qa_sections(report: QAReport) -> list[Section]:
    notes = [f"policy {report.policy}",
             f"{report.n_spam:,} spam and {report.n_ham:,} ham messages"]
    if report.default_subjects:
        notes.append(f"{report.default_subjects:,} texts had no 'Subject:' line and were sent"
                     " with the default subject")
    for name, n in sorted(report.skipped.items()):
        notes.append(f"{name} was skipped on {n:,} messages (score already at restrict_at):"
                     " its hits there are not counted")
    rows = []
    # Detectors by name, then rules in evaluation order (the order report.hits has them in).
    ordered = sorted(report.hits.values(), key=lambda h: h.kind != "detector")
    for hits in ordered:
        spam_rate = hits.spam / report.n_spam if report.n_spam else 0.0
        ham_rate = hits.ham / report.n_ham if report.n_ham else 0.0
        so = so_ratio(spam_rate, ham_rate)
        rows.append((hits.name, hits.kind, str(hits.spam), pct(spam_rate), str(hits.ham),
                     pct(ham_rate), "-" if so is None else f"{so:.3f}"))
    overall = tuple((o.label, str(o.tp), str(o.fp), pct(o.precision), pct(o.recall),
                     pct(o.ham_fpr)) for o in report.overall)
    suggestions = tuple(
        (f"{s.target_fpr:.1%}", "-" if s.reject_at is None else f"{s.reject_at:g}",
         pct(s.fpr), pct(s.recall), s.note) for s in report.suggestions)
    return [
        Section("Corpus", tuple(notes)),
        Section("Hits by rule and detector", (), ("name", "kind", "spam hits", "spam %",
                                                  "ham hits", "ham %", "S/O"), tuple(rows),
                frozenset({2, 3, 4, 5, 6})),
        Section("At the policy's thresholds", (), ("verdict", "spam caught", "ham flagged",
                                                   "precision", "recall", "ham FP rate"),
                overall, frozenset({1, 2, 3, 4, 5})),
        Section(f"Suggested reject_at (currently {report.reject_at:g})",
                ("Lowest threshold whose ham false-positive rate on this corpus stays within"
                 " the target, from the spam-score distribution.",),
                ("target FP rate", "reject_at", "ham FP rate", "recall", "note"), suggestions,
                frozenset({1, 2, 3})),
    ]


def print_qa(report: QAReport, console: Console) -> None:
    print_sections(qa_sections(report), console)


def qa_markdown(report: QAReport) -> str:
    return sections_markdown(qa_sections(report), heading="###")


def qa_json(report: QAReport) -> str:
    data = {
        "policy": report.policy,
        "reject_at": report.reject_at,
        "n_spam": report.n_spam,
        "n_ham": report.n_ham,
        "default_subjects": report.default_subjects,
        "hits": [asdict(h) for h in report.hits.values()],
        "overall": [{"label": o.label, "tp": o.tp, "fp": o.fp, "precision": o.precision,
                     "recall": o.recall, "ham_fpr": o.ham_fpr} for o in report.overall],
        "suggestions": [asdict(s) for s in report.suggestions],
        "skipped": dict(report.skipped),
    }
    return json.dumps(data, indent=2, ensure_ascii=False)
