"""Rendering a :class:`ReplayReport`: rich text, Markdown or JSON."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from inmail_guard.workflow.replay import DIRECTIONS, ReplayReport


def summary_lines(report: ReplayReport) -> list[str]:
    lines = [
        f"replayed {report.lines:,} lines ({report.evaluated:,} evaluated) in"
        f" {report.seconds:.2f}s: {report.lines_per_second:,.0f} lines/s",
        f"new policy: {report.new_policy}; baseline: {report.baseline}",
    ]
    base = ", ".join(f"{n:,} {o}" for o, n in sorted(report.outcomes.items()))
    if base:
        lines.append(f"baseline outcomes: {base}")
    lines.append(f"flipped: {report.flipped:,}"
                 + "".join(f"; {d}: {report.flips[d]:,}" for d in DIRECTIONS))
    if report.codes_changed:
        lines.append(f"still rejected with different reason codes: {report.codes_changed:,}")
    if report.hashed:
        lines.append(
            f"{report.hashed:,} records stored the body only as a hash: content rules and"
            f" detectors skipped for them ({', '.join(report.skipped_rules) or 'none'})")
    if report.invalid:
        lines.append(f"{report.invalid:,} invalid lines skipped")
        lines += [f"  line {n}: {problem}" for n, problem in report.invalid_shown]
        if report.invalid > len(report.invalid_shown):
            lines.append(f"  ... and {report.invalid - len(report.invalid_shown):,} more")
    return lines


def breakdown_rows(report: ReplayReport, direction: str) -> list[tuple[str, str, int]]:
    rows = [("reason code", code, n)
            for code, n in report.by_code[direction].most_common()]
    rows += [("plan", plan, n) for plan, n in report.by_plan[direction].most_common()]
    return rows


def example_lines(report: ReplayReport, direction: str) -> list[str]:
    return [
        f"line {e.line}: sender {e.sender_id} ({e.plan}): {e.baseline.outcome}"
        f" [{', '.join(e.baseline.codes)}] → {e.new.outcome} [{', '.join(e.new.codes)}]"
        for e in report.examples[direction]
    ]


def print_replay(report: ReplayReport, console: Console) -> None:
    for line in summary_lines(report):
        console.print(escape(line))
    for direction in DIRECTIONS:
        if not report.flips[direction]:
            continue
        console.print(f"\n[bold]{direction}: {report.flips[direction]:,}[/bold]")
        table = Table("by", "value", "flips", box=None, header_style="bold")
        for by, value, n in breakdown_rows(report, direction):
            table.add_row(by, escape(value), f"{n:,}")
        console.print(table)
        for line in example_lines(report, direction):
            console.print(f"  e.g. {escape(line)}")


def replay_markdown(report: ReplayReport) -> str:
    out = ["### Replay", ""] + [f"- {line}" for line in summary_lines(report)] + [""]
    for direction in DIRECTIONS:
        if not report.flips[direction]:
            continue
        out += [f"#### {direction}: {report.flips[direction]:,}", "",
                "| by | value | flips |", "|---|---|---:|"]
        out += [f"| {by} | {value} | {n:,} |" for by, value, n in breakdown_rows(report, direction)]
        out += [""] + [f"- e.g. {line}" for line in example_lines(report, direction)] + [""]
    return "\n".join(out)


def replay_json(report: ReplayReport) -> str:
    data: dict[str, Any] = {
        "new_policy": report.new_policy,
        "baseline": report.baseline,
        "lines": report.lines,
        "evaluated": report.evaluated,
        "invalid": report.invalid,
        "invalid_shown": [{"line": n, "problem": p} for n, p in report.invalid_shown],
        "hashed_bodies": report.hashed,
        "skipped_for_hashed_bodies": list(report.skipped_rules),
        "baseline_outcomes": dict(report.outcomes),
        "flips": {d: report.flips[d] for d in DIRECTIONS},
        "codes_changed": report.codes_changed,
        "by_code": {d: dict(report.by_code[d]) for d in DIRECTIONS},
        "by_plan": {d: dict(report.by_plan[d]) for d in DIRECTIONS},
        "examples": {d: [{"line": e.line, "sender_id": e.sender_id, "plan": e.plan,
                          "baseline": e.baseline.to_dict(), "new": e.new.to_dict()}
                         for e in report.examples[d]] for d in DIRECTIONS},
        "seconds": round(report.seconds, 3),
        "lines_per_second": round(report.lines_per_second),
    }
    return json.dumps(data, indent=2, ensure_ascii=False)
