"""Per-detector cost on a 100-word message: ``python benchmarks/bench_detectors.py``.

Prints, per detector, the p50
of single calls (``perf_counter_ns`` around each call after a warm-up) and the best-of-15 mean
CPU time of batches (``process_time``, less sensitive to other processes on the machine).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from _harness import cpu_best_us, machine
from bench_content import WORDS

from inmail_guard import Engine
from inmail_guard.engine.content import parse_body
from inmail_guard.engine.types import Client, Facts, Member, Message
from inmail_guard.plugins.abuse_reports import AbuseReportsDetector
from inmail_guard.plugins.advice import advise
from inmail_guard.plugins.automation import AutomationDetector
from inmail_guard.plugins.bulk import BulkDetector, fingerprint, record
from inmail_guard.plugins.keywords import KeywordsDetector
from inmail_guard.plugins.volume import VolumeDetector
from inmail_guard.policies.loader import load_policy_text

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
BODY = WORDS  # the 100 words of recruiter prose bench_content.py parses
UNICODE = BODY.replace("'", "\u2019").replace("Acme", "Acm\u00e9") + " \U0001f600"
SPAMMY = BODY + " CLICK HERE for 100% fr33 crypto investment!!! bit.ly/x w\u200bork fr0m home"


def measure(fn: Callable[[], object]) -> tuple[float, float]:
    for _ in range(300):
        fn()
    samples = []
    for _ in range(3000):
        start = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - start)
    return statistics.median(samples) / 1000, cpu_best_us(fn)


def main() -> None:
    sends = tuple(NOW - timedelta(minutes=3 * i + 1, seconds=17 * (i % 4)) for i in range(20))
    msg = Message("s1", "r1", subject="Platform engineer role at Acme", body=BODY,
                  client=Client(user_agent="Mozilla/5.0 Chrome/120.0"))
    recent = tuple(record(Message("s1", f"r{i}", body=BODY.replace("Dana", f"N{i}")),
                          NOW - timedelta(minutes=i)) for i in range(12))
    facts = Facts(sender=Member("s1", plan="premium_business"), recipient=Member("r1",
                  name="Dana"), now=NOW, connection_degree=2, recent_sends=sends,
                  recent_bodies=recent)
    content = parse_body(BODY, max_source_chars=12000)
    uni_msg = Message("s1", "r1", subject="Platform engineer role at Acme", body=UNICODE)
    uni_content = parse_body(UNICODE, max_source_chars=12000)
    no_bodies = Facts(facts.sender, facts.recipient, NOW, 2, recent_sends=sends)
    spam_msg = Message("s1", "r1", subject="Platform engineer role", body=SPAMMY)
    spam_content = parse_body(SPAMMY, max_source_chars=12000)
    print(f"### Detectors, one call each: {len(BODY.split())} words, {len(BODY)} characters\n")
    print("| case | p50 wall µs | best CPU µs |\n|---|---:|---:|")
    rows = [
        ("volume (20 recent sends)", lambda: VOLUME.check(msg, facts, content)),
        ("keywords (clean)", lambda: KEYWORDS.check(msg, facts, content)),
        ("keywords (clean, curly quotes, accent, emoji)",
         lambda: KEYWORDS.check(uni_msg, facts, uni_content)),
        ("keywords (spammy: 6 hits, 2 obfuscated)",
         lambda: KEYWORDS.check(spam_msg, facts, spam_content)),
        ("abuse_reports", lambda: ABUSE.check(msg, facts, content)),
        ("automation (20 recent sends)", lambda: AUTOMATION.check(msg, facts, content)),
        ("bulk.fingerprint", lambda: fingerprint(BODY)),
        ("bulk (12 recent bodies, compares)", lambda: BULK.check(msg, facts, content)),
        ("bulk (no recent bodies: early exit)", lambda: BULK.check(msg, no_bodies, content)),
        ("advice", lambda: advise(msg, facts, content)),
        ("Engine.evaluate, 5 detectors + advice", lambda: ENGINE.evaluate(msg, no_bodies)),
        ("  same, bulk comparing 12 recent bodies", lambda: ENGINE.evaluate(msg, facts)),
        ("Engine.evaluate, no detectors", lambda: BARE.evaluate(msg, no_bodies)),
    ]
    for name, fn in rows:
        wall, cpu = measure(fn)
        print(f"| {name.strip()} | {wall:.1f} | {cpu:.1f} |")
    print(f"\nMachine: {machine()}")


VOLUME = VolumeDetector.from_settings({})
KEYWORDS = KeywordsDetector.from_settings({})
ABUSE = AbuseReportsDetector.from_settings({})
AUTOMATION = AutomationDetector.from_settings({})
BULK = BulkDetector.from_settings({})
ENGINE = Engine(load_policy_text("""
name: bench
plans: {premium_business: {monthly_credits: 10}}
spam:
  detectors: {volume: {}, keywords: {}, abuse_reports: {}, automation: {}, bulk: {}}
"""))
BARE = Engine(load_policy_text("""
name: bare
plans: {premium_business: {monthly_credits: 10}}
"""))

if __name__ == "__main__":
    main()
