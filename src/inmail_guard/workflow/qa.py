"""Mass-check a labelled corpus against a policy, like SpamAssassin's ``mass-check``.

Each row of a CSV ``id,label,text`` (label ``ham`` or ``spam``) becomes a message sent with
neutral facts: an eligible sender on the plan with the most credits and none used, an eligible
recipient outside the sender's network, no history. The policy is evaluated with every static
rule in shadow mode, so every detector runs on every message and each rule's hits are still
seen; what the policy would really do is recomputed from the rules it enforces.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from inmail_guard.engine.rules import compile_rules, rule_names
from inmail_guard.engine.types import Decision, Facts, Member, Message
from inmail_guard.policies.schema import Policy
from inmail_guard.workflow.engines import what_if_engine

LABELS = ("ham", "spam")
DEFAULT_SUBJECT = "Hello"
TARGET_FPRS = (0.001, 0.005, 0.01)
NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)
CHUNK_SIZE = 1000


class CorpusError(ValueError):
    """A CSV that cannot be read as a corpus: ``str()`` names the file, line and field."""


@dataclass(frozen=True, slots=True)
class CorpusItem:
    id: str
    label: str
    subject: str
    body: str
    line: int


@dataclass(slots=True)
class Hits:
    name: str
    kind: str  # "rule" or "detector"
    spam: int = 0
    ham: int = 0


@dataclass(frozen=True, slots=True)
class Overall:
    label: str
    tp: int
    fp: int
    n_spam: int
    n_ham: int

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return self.tp / self.n_spam if self.n_spam else None

    @property
    def ham_fpr(self) -> float | None:
        return self.fp / self.n_ham if self.n_ham else None


@dataclass(frozen=True, slots=True)
class Suggestion:
    target_fpr: float
    reject_at: float | None
    fpr: float | None
    recall: float | None
    note: str = ""


@dataclass(slots=True)
class QAReport:
    policy: str
    reject_at: float
    n_spam: int = 0
    n_ham: int = 0
    default_subjects: int = 0
    hits: dict[str, Hits] = field(default_factory=dict)
    overall: list[Overall] = field(default_factory=list)
    suggestions: list[Suggestion] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    """Expensive detector -> messages on which it was skipped (score already >= restrict_at)."""


def split_text(text: str) -> tuple[str, str, bool]:
    """(subject, body, used the default subject): a first line ``Subject: ...`` is the subject."""
    first, _, rest = text.partition("\n")
    if first.lower().startswith("subject:"):
        return first[len("subject:"):].strip(), rest.lstrip("\r\n"), False
    return DEFAULT_SUBJECT, text, True


#: The fix for a row the csv module cannot parse; the same advice as the model commands give.
CSV_FIX = ('Fix: quote fields that contain commas, quotes or newlines ("..."), doubling quotes'
           " inside them.")


def _text_lines(name: str, handle: IO[bytes]) -> Iterator[str]:
    """The file's lines as text, read as the model commands read a CSV (UTF-8, a byte-order
    mark allowed), failing on the line that is not UTF-8 rather than at the start."""
    offset = 0
    for lineno, raw in enumerate(handle, start=1):
        try:
            yield raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise CorpusError(f"{name}:{lineno}: the file is not valid UTF-8 (byte"
                              f" {offset + exc.start}). Fix: save it as UTF-8 CSV.") from None
        offset += len(raw)


def read_corpus(path: Path) -> Iterator[CorpusItem]:
    """The rows of a CSV with the columns id, label and text (in any order; others ignored),
    streamed. Read as ``inmail_guard.models.data`` reads training data: UTF-8, strict CSV (an
    unterminated quote is an error), every error at file:line with its fix."""
    name = str(path)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise CorpusError(f"{name}: cannot read: {exc.strerror or exc}") from None
    with handle:
        reader = csv.reader(_text_lines(name, handle), strict=True)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            raise CorpusError(f"{name}:1: malformed CSV: {exc}. {CSV_FIX}") from None
        if header is None:
            raise CorpusError(f"{name}:1: the file is empty. Fix: start it with the header line"
                              " 'id,label,text'.")
        columns = [h.strip().lower() for h in header]
        missing = [c for c in ("id", "label", "text") if c not in columns]
        if missing:
            raise CorpusError(f"{name}:1: header: missing column(s) {', '.join(missing)};"
                              f" expected id,label,text, found {','.join(header)}. Fix: start"
                              " the file with the header line 'id,label,text'.")
        where = {c: columns.index(c) for c in ("id", "label", "text")}
        seen: dict[str, int] = {}
        line = reader.line_num + 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # reported where the broken row starts
                raise CorpusError(f"{name}:{line}: malformed CSV: {exc}. {CSV_FIX}") from None
            start, line = line, reader.line_num + 1
            if not row or all(not cell.strip() for cell in row):
                continue
            yield _item(name, start, row, where, seen)


def _item(name: str, line: int, row: list[str], where: dict[str, int],
          seen: dict[str, int]) -> CorpusItem:
    def field_value(column: str) -> str:
        index = where[column]
        if index >= len(row):
            raise CorpusError(f"{name}:{line}: field '{column}': missing (the row has"
                              f" {len(row)} fields, expected {len(where)}). Fix: quote a text"
                              ' that contains commas ("...") and give every row an id, a label'
                              " and a text.")
        return row[index]

    item_id = field_value("id").strip()
    if not item_id:
        raise CorpusError(f"{name}:{line}: field 'id': empty. Fix: give every row an id.")
    if item_id in seen:
        raise CorpusError(f"{name}:{line}: field 'id': duplicate id {item_id!r}"
                          f" (first on line {seen[item_id]}). Fix: give every row its own id.")
    seen[item_id] = line
    label = field_value("label").strip().lower()
    if label not in LABELS:
        raise CorpusError(f"{name}:{line}: field 'label': expected ham or spam,"
                          f" found {field_value('label')!r}. Fix: label the row ham or spam.")
    text = field_value("text")
    if not text.strip():
        raise CorpusError(f"{name}:{line}: field 'text': empty. Fix: remove the row or add the"
                          " message text.")
    subject, body, _ = split_text(text)
    return CorpusItem(item_id, label, subject, body, line)


def neutral_plan(policy: Policy) -> str:
    plan, limit = max(((n, p.monthly_credits) for n, p in policy.plans.items()),
                      key=lambda x: x[1])
    if limit <= 0:
        raise CorpusError(f"policy {policy.name}: no plan has InMail credits, nothing can send")
    return plan


def neutral_pair(item: CorpusItem, plan: str) -> tuple[Message, Facts]:
    sender, recipient = f"qa-sender-{item.id}", f"qa-recipient-{item.id}"
    return (Message(sender, recipient, item.subject, item.body),
            Facts(Member(sender, plan), Member(recipient), NOW, connection_degree=2))


def run_qa(path: Path, policy: Policy,
           advance: Callable[[int], Any] | None = None) -> QAReport:
    """Every row of the corpus at ``path`` through ``policy``'s rules and detectors, each in
    shadow mode so all of them report; ``advance(n)`` as each chunk of ``n`` is decided."""
    enforced = {n for n in rule_names(policy) if policy.rules_mode.get(n) != "shadow"}
    modes = dict(policy.rules_mode) | {n: "shadow" for n in rule_names(policy)}
    engine = what_if_engine(policy.model_copy(update={"rules_mode": modes}))
    plan = neutral_plan(policy)
    report = QAReport(f"{policy.name} ({policy.source or 'in memory'})", policy.spam.reject_at)
    for slot in engine.detectors:
        report.hits[f"spam.detectors.{slot.detector.name}"] = Hits(slot.detector.name, "detector")
    for name, _check in compile_rules(policy):
        report.hits[name] = Hits(name, "rule")
    scores: dict[str, list[float]] = {"ham": [], "spam": []}
    rejected = Counter[str]()
    spam_flagged = Counter[str]()
    chunk: list[CorpusItem] = []

    def flush() -> None:
        decisions = engine.evaluate_many(neutral_pair(i, plan) for i in chunk)
        for item, decision in zip(chunk, decisions, strict=True):
            _tally(report, item.label, decision, enforced, scores, rejected, spam_flagged)
        if advance is not None:
            advance(len(chunk))
        chunk.clear()

    for item in read_corpus(path):
        if item.subject == DEFAULT_SUBJECT:
            report.default_subjects += 1
        chunk.append(item)
        if len(chunk) >= CHUNK_SIZE:
            flush()
    if chunk:
        flush()
    report.n_ham, report.n_spam = len(scores["ham"]), len(scores["spam"])
    if not report.n_ham and not report.n_spam:
        raise CorpusError(f"{path}: no data rows after the header. Fix: add id,label,text"
                          " rows.")
    report.overall = [
        Overall(f"spam score ≥ reject_at ({policy.spam.reject_at:g})", spam_flagged["spam"],
                spam_flagged["ham"], report.n_spam, report.n_ham),
        Overall("rejected for any reason", rejected["spam"], rejected["ham"], report.n_spam,
                report.n_ham),
    ]
    report.suggestions = [suggest(scores["ham"], scores["spam"], t) for t in TARGET_FPRS]
    return report


def _tally(report: QAReport, label: str, decision: Decision, enforced: set[str],
           scores: dict[str, list[float]], rejected: Counter[str],
           spam_flagged: Counter[str]) -> None:
    fired: set[str] = set()
    for hit in decision.shadow:
        if not hit.rule.startswith("spam."):
            fired.add(hit.rule)
    for signal in decision.spam.signals:
        if signal.score > 0:
            fired.add(f"spam.detectors.{signal.detector}")
    for name in fired:
        hits = report.hits.get(name)
        if hits is None:
            hits = report.hits[name] = Hits(name, "detector" if name.startswith("spam.")
                                            else "rule")
        if label == "spam":
            hits.spam += 1
        else:
            hits.ham += 1
    for name in decision.spam.skipped:
        report.skipped[name] += 1
    score = decision.spam.score
    scores[label].append(score)
    flagged = score >= report.reject_at
    spam_flagged[label] += flagged
    rule_rejects = any(h.rule in enforced for h in decision.shadow)
    rejected[label] += flagged or rule_rejects or bool(decision.reasons)


def next_above(score: float) -> float:
    """The smallest multiple of 0.1 strictly above ``score`` (and above 0)."""
    return max(round(math.floor(score * 10 + 1e-9) / 10 + 0.1, 1), 0.1)


def suggest(ham: list[float], spam: list[float], target: float) -> Suggestion:
    """The lowest ``reject_at`` whose ham false-positive rate on this corpus is <= ``target``."""
    if not ham:
        return Suggestion(target, None, None, None, "no ham messages")
    ordered = sorted(ham, reverse=True)
    allowed = math.floor(target * len(ordered) + 1e-9)  # ham messages that may score >= t
    threshold = next_above(ordered[allowed]) if allowed < len(ordered) else 0.1
    fpr = sum(s >= threshold for s in ham) / len(ham)
    recall = sum(s >= threshold for s in spam) / len(spam) if spam else None
    note = ""
    if len(ham) < math.ceil(1 / target):
        note = (f"only {len(ham)} ham messages: {target:.1%} needs at least"
                f" {math.ceil(1 / target):,} to be measured; this allows no false positive")
    return Suggestion(target, threshold, fpr, recall, note)
