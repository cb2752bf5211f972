"""Body parsing: the plain-text fast path vs the full markdown-it parse (p50/p99 per call).

Run: ``.venv/bin/python benchmarks/bench_content.py`` (or via ``benchmarks/run.py``); prints a
markdown table. Per-call latency with ``time.perf_counter_ns`` (see ``_harness.py``).
"""

from __future__ import annotations

from _harness import machine, table, time_calls

from inmail_guard.engine.content import SOURCE_LIMIT_FACTOR, _parse_full, parse_body

WORDS = (
    "Hi Dana, I noticed your work on distributed systems at Acme and wanted to reach out. "
    "We are building a small platform team in Berlin and your experience with Kafka, "
    "PostgreSQL and Kubernetes looks like a great fit. The role is remote friendly, the "
    "team is eight people, and we ship weekly. Would you be open to a short call next week? "
    "I can share the job description, salary range and interview steps beforehand. "
    "Either way, thanks for reading, and congratulations on the recent conference talk. "
    "Best regards, Sam from the Acme hiring team in Berlin, Germany, and Lisbon, Portugal."
)
PLAIN = WORDS  # 100 words of prose, no Markdown: takes the fast path
MARKDOWN = (
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
MAX_SOURCE = SOURCE_LIMIT_FACTOR * 3000
OVERSIZED = "x" * (MAX_SOURCE + 1)


def main() -> None:
    def plain() -> object:
        return parse_body(PLAIN, max_source_chars=MAX_SOURCE)

    def markdown() -> object:
        return parse_body(MARKDOWN, max_source_chars=MAX_SOURCE)

    def oversized() -> object:
        return parse_body(OVERSIZED, max_source_chars=MAX_SOURCE)

    assert parse_body(PLAIN, max_source_chars=MAX_SOURCE) == _parse_full(PLAIN)
    timings = [
        time_calls(f"plain, 100 words ({len(PLAIN)} chars): fast path", plain),
        time_calls(
            "plain, same body: full markdown-it parse",
            lambda: _parse_full(PLAIN),
            n=3_000,
            warmup=300,
        ),
        time_calls(
            f"Markdown, 100 words ({len(MARKDOWN)} chars): full parse",
            markdown,
            n=2_000,
            warmup=200,
        ),
        time_calls(f"over the guard ({len(OVERSIZED):,} chars): not parsed", oversized),
    ]
    print(table("Content: parse_body", timings, unit="bodies/s"))
    print(f"\nMachine: {machine()}")


if __name__ == "__main__":
    main()
