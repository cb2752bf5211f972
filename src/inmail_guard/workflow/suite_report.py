"""Rendering suite results: a readable terminal report and JUnit XML for CI."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from inmail_guard.workflow.suite import CaseResult, SuiteResult


def print_report(results: Sequence[SuiteResult], console: Console, *,
                 show_passed: bool = True) -> None:
    for result in results:
        suite = result.suite
        console.print(f"[bold]{escape(suite.path)}[/bold]  policy {escape(suite.policy_ref)}"
                      f" ({escape(suite.policy.version[:19])})")
        for r in result.results:
            if r.passed:
                if show_passed:
                    console.print(f"  [green]PASS[/green] {escape(r.case.name)}")
                continue
            console.print(f"  [red]FAIL[/red] {escape(r.case.name)}"
                          f"  [dim]{escape(suite.path)}:{r.case.line}[/dim]")
            for line in failure_lines(r):
                console.print(f"       {escape(line)}")
        console.print(f"  {result.passed} passed, {result.failed} failed")
        if result.coverage is not None:
            style = "green" if result.coverage.complete else "yellow"
            console.print(f"  [{style}]{escape(result.coverage.line())}[/{style}]")
    if len(results) > 1:
        passed = sum(r.passed for r in results)
        failed = sum(r.failed for r in results)
        console.print(f"[bold]total: {passed} passed, {failed} failed"
                      f" in {len(results)} suites[/bold]")


def failure_lines(r: CaseResult) -> list[str]:
    """Expected vs actual for one failed case, then what the decision actually said."""
    if r.error is not None:
        return [f"error: {r.error}"]
    lines = [f"{m.what}: expected {m.expected}, got {m.actual}" for m in r.mismatches]
    decision = r.decision
    if decision is not None:
        for reason in decision.reasons:
            lines.append(f"  reason {reason.code} ({reason.rule}): {reason.detail}")
        for hit in decision.shadow:
            lines.append(f"  shadow {hit.code} ({hit.rule}): {hit.detail}")
        for s in decision.spam.signals:
            if s.score or s.error:
                lines.append(f"  signal {s.detector} {s.score:g}: {s.error or s.detail}")
    return lines


def write_junit(results: Sequence[SuiteResult], path: str | Path) -> None:
    root = ET.Element("testsuites", name="inmail-guard policy test")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for result in results:
        suite = result.suite
        errors = sum(r.error is not None for r in result.results)
        failures = result.failed - errors
        elem = ET.SubElement(root, "testsuite", name=suite.path, tests=str(len(result.results)),
                             failures=str(failures), errors=str(errors),
                             time=f"{sum(r.seconds for r in result.results):.6f}")
        props = ET.SubElement(elem, "properties")
        ET.SubElement(props, "property", name="policy", value=suite.policy_ref)
        ET.SubElement(props, "property", name="policy_version", value=suite.policy.version)
        if result.coverage is not None:
            ET.SubElement(props, "property", name="coverage", value=result.coverage.line())
        classname = Path(suite.path).stem
        for r in result.results:
            case = ET.SubElement(elem, "testcase", classname=classname, name=r.case.name,
                                 file=suite.path, line=str(r.case.line),
                                 time=f"{r.seconds:.6f}")
            if r.error is not None:
                node = ET.SubElement(case, "error", message=r.error)
                node.text = r.error
            elif not r.passed:
                first = r.mismatches[0]
                node = ET.SubElement(case, "failure", message=(
                    f"{first.what}: expected {first.expected}, got {first.actual}"))
                node.text = "\n".join(failure_lines(r))
        if result.coverage is not None:
            ET.SubElement(elem, "system-out").text = result.coverage.line()
        totals["tests"] += len(result.results)
        totals["failures"] += failures
        totals["errors"] += errors
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
