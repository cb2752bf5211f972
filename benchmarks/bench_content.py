"""Body reading: ``parse_body`` against the Markdown parsers it replaced or could have used.

Run: ``.venv/bin/python benchmarks/bench_content.py`` (or via ``benchmarks/run.py``); prints a
markdown table. Per-call latency with ``time.perf_counter_ns`` (see ``_harness.py``).

The comparison rows time only the other parser's own parse (a token stream, an event list or
HTML), not the walk that would turn it into a ``Content``: they are lower bounds on what reading a
body with them would cost. markdown-it-py is what ``parse_body`` used before (its ``commonmark``
preset plus strikethrough); cmarkgfm, pyromark and markdown-it-pyrs are the compiled CommonMark
parsers on PyPI. They are not dependencies: ``pip install markdown-it-py cmarkgfm pyromark
markdown-it-pyrs`` to get their rows; a missing one is reported as such.
"""

from __future__ import annotations

from collections.abc import Callable

from _harness import machine, table, time_calls

from inmail_guard.engine.content import SOURCE_LIMIT_FACTOR, parse_body

WORDS = (
    "Hi Dana, I noticed your work on distributed systems at Acme and wanted to reach out. "
    "We are building a small platform team in Berlin and your experience with Kafka, "
    "PostgreSQL and Kubernetes looks like a great fit. The role is remote friendly, the "
    "team is eight people, and we ship weekly. Would you be open to a short call next week? "
    "I can share the job description, salary range and interview steps beforehand. "
    "Either way, thanks for reading, and congratulations on the recent conference talk. "
    "Best regards, Sam from the Acme hiring team in Berlin, Germany, and Lisbon, Portugal."
)
PLAIN = WORDS  # 100 words of prose, nothing to interpret
FORMATTED = (  # 100 words using all six supported constructs
    "Hi **Dana**, I noticed your work on _distributed systems_ at Acme and wanted to reach "
    "out.\n\nWe are building a small platform team in Berlin:\n\n"
    "- your experience with Kafka, PostgreSQL and Kubernetes looks like a great fit\n"
    "- the role is ~~office only~~ remote friendly\n"
    "- the team is eight people, and we ship weekly\n\n"
    "Would you be open to a short call next week? I can share the "
    "[job description](https://example.com/jobs/42), salary range and interview steps "
    "beforehand.\n\n1. a call\n2. a chat\n\nEither way, thanks for reading, and "
    "congratulations on the recent conference talk. Best regards, Sam Lee"
)
# 400 words shaped like forwarded business e-mail: banners, quotes, a signature, indentation.
EMAIL = (
    "- - - - - - forwarded by jane doe / hou / ect on 01 / 02 / 2001 09 : 14 am - - - - - -\n\n"
    + "\n".join(
        f"> {WORDS[:200]}" if i % 3 == 0 else f"    {WORDS[200:]}" if i % 3 == 1 else WORDS
        for i in range(6)
    )
    + "\n\nthanks ,\nsam\n- - -\nsam lee | head of data | acme <sam@acme.example>\n"
)
MAX_SOURCE = SOURCE_LIMIT_FACTOR * 3000
OVERSIZED = "x" * (MAX_SOURCE + 1)


def _others() -> list[tuple[str, Callable[[str], object] | None]]:
    """Each comparison parser's parse function, or None where it is not installed."""
    found: list[tuple[str, Callable[[str], object] | None]] = []
    try:
        from markdown_it import MarkdownIt

        md = MarkdownIt("commonmark", {"html": True}).enable("strikethrough")
        found.append(("markdown-it-py (replaced)", md.parse))
    except ImportError:
        found.append(("markdown-it-py (replaced)", None))
    try:
        import cmarkgfm

        found.append(("cmarkgfm (C, to HTML)", cmarkgfm.github_flavored_markdown_to_html))
    except ImportError:
        found.append(("cmarkgfm (C, to HTML)", None))
    try:
        import pyromark

        # events() returns a Rust-side sequence; reading it (as any use must) builds the
        # Python objects, which is most of its cost.
        found.append(("pyromark (Rust, events read)", lambda body: list(pyromark.events(body))))
    except ImportError:
        found.append(("pyromark (Rust, events read)", None))
    try:
        from markdown_it_pyrs import MarkdownIt as RustMarkdownIt

        rs = RustMarkdownIt("commonmark").enable("strikethrough")
        found.append(("markdown-it-pyrs (Rust, tree)", rs.tree))
    except ImportError:
        found.append(("markdown-it-pyrs (Rust, tree)", None))
    return found


def main() -> None:
    bodies = [
        (f"plain, 100 words ({len(PLAIN)} chars)", PLAIN),
        (f"formatted, 100 words, all six constructs ({len(FORMATTED)} chars)", FORMATTED),
        (f"e-mail shaped, 400 words ({len(EMAIL)} chars)", EMAIL),
    ]
    others = _others()
    timings = []
    missing = []
    for label, body in bodies:
        timings.append(time_calls(
            f"{label}: parse_body",
            lambda body=body: parse_body(body, max_source_chars=MAX_SOURCE)))
        for name, fn in others:
            if fn is None:
                missing.append(name)
                continue
            timings.append(time_calls(f"{label}: {name}", lambda fn=fn, body=body: fn(body),
                                      n=3_000, warmup=300))
    timings.append(time_calls(
        f"over the guard ({len(OVERSIZED):,} chars): not parsed",
        lambda: parse_body(OVERSIZED, max_source_chars=MAX_SOURCE)))
    print(table("Content: parse_body and the Markdown parsers", timings, unit="bodies/s"))
    if missing:
        print(f"\nNot installed, no row: {', '.join(sorted(set(missing)))}.")
    print(f"\nMachine: {machine()}")


if __name__ == "__main__":
    main()
