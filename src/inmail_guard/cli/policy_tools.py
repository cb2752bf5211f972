"""``inmail-guard policy test|explain|diff|qa``: the policy owner's workflow commands.

They are added to the ``policy`` group by :func:`register`; the work itself lives in
:mod:`inmail_guard.workflow`, imported only when a command runs.

Exit codes (docs/workflow.md): 0 success / no difference; 1 a case failed, the policies differ,
or coverage was required and incomplete; 2 bad input (unreadable suite, invalid policy or CSV).
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from inmail_guard.cli import BadInput, OutputPath, load_policy_or_exit

FORMATS = click.Choice(["text", "markdown", "json"])


def _console() -> Console:
    # soft_wrap: report lines stay whole when piped into files, CI logs and tests.
    return Console(soft_wrap=True, highlight=False)


@click.command("test")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--policy", "policy_ref", metavar="POLICY",
              help="Run the suites against this policy instead of their own policy:.")
@click.option("--junit", type=OutputPath(),
              help="Also write a JUnit XML report here (for CI; its directory must exist).")
@click.option("--require-coverage", is_flag=True,
              help="Fail (exit 1) when a rule or reason code is exercised by no case.")
@click.option("-q", "--quiet", is_flag=True, help="List failed cases only.")
def test_command(paths: tuple[str, ...], policy_ref: str | None, junit: str | None,
                 require_coverage: bool, quiet: bool) -> None:
    """Run policy test suites (YAML files, or directories of them).

    Exit 0 when every case passes, 1 when one fails, 2 when a suite cannot be read.
    """
    from inmail_guard.workflow.suite import SuiteError, find_suites, load_suite, run_suite
    from inmail_guard.workflow.suite_report import print_report, write_junit

    policy = load_policy_or_exit(policy_ref) if policy_ref else None
    files = [f for p in paths for f in find_suites(p)]
    if not files:
        raise BadInput(f"no suite files (*.yaml) found in {', '.join(paths)}")
    try:
        results = [run_suite(load_suite(f, policy=policy)) for f in files]
    except SuiteError as exc:
        raise BadInput(str(exc)) from None
    print_report(results, _console(), show_passed=not quiet)
    if junit:
        write_junit(results, junit)
    failed = any(r.failed for r in results)
    uncovered = require_coverage and any(
        r.coverage is not None and not r.coverage.complete for r in results)
    if failed or uncovered:
        raise SystemExit(1)


@click.command("explain")
@click.argument("policy_ref", metavar="POLICY")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True,
              help="text: terminal tables; markdown: for a pull-request description.")
def explain_command(policy_ref: str, fmt: str) -> None:
    """Explain what a policy does, for a person (POLICY: a file or builtin:default)."""
    from inmail_guard.workflow.explain import explain_policy
    from inmail_guard.workflow.render import print_sections, sections_json, sections_markdown

    sections = explain_policy(load_policy_or_exit(policy_ref, runnable=False))
    if fmt == "markdown":
        click.echo(sections_markdown(sections), nl=False)
    elif fmt == "json":
        click.echo(sections_json(sections))
    else:
        print_sections(sections, _console())


@click.command("diff")
@click.argument("old_ref", metavar="OLD")
@click.argument("new_ref", metavar="NEW")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True,
              help="text: one line per change; markdown: a bullet list for a pull request;"
                   " json: a list of {path, summary, details}.")
def diff_command(old_ref: str, new_ref: str, fmt: str) -> None:
    """Meaningful differences between two policies, from their validated models.

    Exit 0 when they are equivalent, 1 when they differ, 2 when one is invalid.
    """
    import json

    from inmail_guard.workflow.diff import diff_policies

    old = load_policy_or_exit(old_ref, runnable=False)
    new = load_policy_or_exit(new_ref, runnable=False)
    changes = diff_policies(old, new)
    if fmt == "json":
        click.echo(json.dumps([c.to_dict() for c in changes], indent=2))
    elif fmt == "markdown":
        click.echo(f"### Policy changes: `{old_ref}` → `{new_ref}`\n")
        for c in changes:
            click.echo(f"- {c.summary}")
            for d in c.details:
                click.echo(f"  - {d}")
        if not changes:
            click.echo("No meaningful differences.")
    else:
        console = _console()
        for c in changes:
            console.print(f"[yellow]~[/yellow] {c.summary}", markup=True)
            for d in c.details:
                console.print(f"    {d}", markup=False)
        if not changes:
            console.print("no meaningful differences")
    if changes:
        raise SystemExit(1)


@click.command("qa")
@click.argument("corpus", type=click.Path(exists=True, dir_okay=False))
@click.option("--policy", "policy_ref", default="builtin:default", show_default=True,
              help="The policy whose detectors and rules check the corpus (a file or"
                   " builtin:default).")
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True,
              help="text: terminal tables; markdown: for a pull-request description;"
                   " json: the report as data.")
def qa_command(corpus: str, policy_ref: str, fmt: str) -> None:
    """Mass-check a labelled corpus (CSV id,label,text) against a policy's detectors and rules.

    Exit 0 on success, 2 on a bad CSV or policy.
    """
    from inmail_guard.cli.progress import progress_bar
    from inmail_guard.workflow.qa import CorpusError, read_corpus, run_qa
    from inmail_guard.workflow.qa_report import print_qa, qa_json, qa_markdown

    policy = load_policy_or_exit(policy_ref)
    try:
        # Counting the rows first (a CSV read, far cheaper than the checks) gives the bar a
        # total, so it can show the time left.
        total = sum(1 for _ in read_corpus(Path(corpus)))
        with progress_bar("checking", total=total, unit="messages") as bar:
            report = run_qa(Path(corpus), policy, bar.advance)
    except CorpusError as exc:
        raise BadInput(str(exc)) from None
    if fmt == "json":
        click.echo(qa_json(report))
    elif fmt == "markdown":
        click.echo(qa_markdown(report), nl=False)
    else:
        print_qa(report, _console())


COMMANDS = (test_command, explain_command, diff_command, qa_command)


def register(group: click.Group) -> None:
    """Add ``test``, ``explain``, ``diff`` and ``qa`` to the ``policy`` group."""
    for command in COMMANDS:
        group.add_command(command)
