"""Engine benchmark: static evaluation latency and throughput, flat in blocklist size.

    .venv/bin/python benchmarks/bench_engine.py

Compares, in the same run: the default policy's static rules (no detectors) with an empty
banned-senders list vs a 1,000,000-id list; single ``evaluate`` vs ``evaluate_many``; and the
shipped default policy with every detector enabled.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from _harness import machine, table, time_calls

from inmail_guard import Engine, Facts, Member, Message, default_policy, load_policy
from inmail_guard.models.features import INMAIL_PREFIX
from inmail_guard.models.scorer import CompiledScorer

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
_TEXT = ("Hi Dana, I lead platform hiring at Acme. Your work on distributed queues caught my "
          "eye and I think our staff engineer opening could be a great fit. Would you be open "
          "to a short call next week? Happy to share details on the team, the scope and the "
          "package. We run a small group that owns the event pipeline, the storage layer and "
          "the tooling around them, and we care about careful reviews, calm on-call rotations "
          "and shipping in small steps.")
_PROSE = _TEXT.split()


def body(words: int) -> str:
    """A recruiter's message of exactly ``words`` words (the prose repeated as needed)."""
    return " ".join(_PROSE[i % len(_PROSE)] for i in range(words))


BODY = body(100)


def static_policy(tmp: Path, ids: int) -> Engine:
    ids_file = tmp / f"banned-{ids}.txt"
    with ids_file.open("w") as f:
        for i in range(ids):
            f.write(f"member-{i:08d}\n")
    # The shipped policy with every detector switched off (an overlay's detectors merge with
    # the parent's, so each is disabled explicitly) and banned_senders read from the file.
    off = "".join(f"    {name}: {{enabled: false}}\n" for name in default_policy().spam.detectors)
    policy = tmp / f"static-{ids}.yaml"
    policy.write_text(
        "name: bench-static\nextends: builtin:default\n"
        "blocklists:\n"
        f"  - {{name: banned_senders, applies_to: sender, file: {ids_file.name},"
        " code: sender_banned}\n"
        f"spam:\n  detectors:\n{off}")
    engine = Engine(load_policy(policy))
    assert engine.detectors == [], engine.detectors
    return engine


def main() -> None:
    message = Message("s-1", "r-1", "Staff engineer role at Acme", BODY)
    facts = Facts(sender=Member("s-1", "recruiter_lite"), recipient=Member("r-1"), now=NOW,
                  connection_degree=2, credits_used=3)
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    with tempfile.TemporaryDirectory() as tmp:
        empty = static_policy(Path(tmp), 0)
        big = static_policy(Path(tmp), 1_000_000)
    assert empty.evaluate(message, facts).outcome == "accepted"
    banned = Facts(sender=Member("member-00999999", "recruiter_lite"), recipient=Member("r-1"),
                   now=NOW, connection_degree=2)
    assert big.evaluate(message, banned).codes == ("sender_banned",)
    full = Engine(default_policy())
    batch = [(message, facts)] * 1000
    timings = [
        time_calls("static, empty blocklist, evaluate", lambda: empty.evaluate(message, facts), n),
        time_calls("static, 1,000,000-id blocklist, evaluate",
                   lambda: big.evaluate(message, facts), n),
        time_calls("static, 1,000,000-id blocklist, sender on it",
                   lambda: big.evaluate(message, banned), n),
        time_calls("static, empty blocklist, evaluate_many(1000)",
                   lambda: empty.evaluate_many(batch), max(n // 1000, 20), 5, 1000),
        time_calls("default policy (all detectors), evaluate",
                   lambda: full.evaluate(message, facts), n // 4),
        time_calls("default policy (all detectors), evaluate_many(1000)",
                   lambda: full.evaluate_many(batch), max(n // 4000, 10), 3, 1000),
    ]
    # The same, with the classifier's pure-Python scorer instead of its C accelerator (what an
    # install without a C compiler runs): the detector's model is the shared, cached one.
    model = next(s.detector.model for s in full.detectors if s.detector.name == "classifier")
    accelerated = model.scorer
    model.scorer = CompiledScorer.from_pipeline(model.pipeline, channels=(INMAIL_PREFIX,),
                                                accelerated=False)
    timings.append(time_calls("default policy (all detectors), evaluate, pure-Python scorer",
                              lambda: full.evaluate(message, facts), n // 4))
    model.scorer = accelerated
    for words in (20, 500):
        sized = Message("s-1", "r-1", "Staff engineer role at Acme", body(words))
        sized_batch = [(sized, facts)] * 1000
        timings += [
            time_calls(f"default policy, {words} words, evaluate",
                       lambda m=sized: full.evaluate(m, facts), n // 4),
            time_calls(f"default policy, {words} words, evaluate_many(1000)",
                       lambda b=sized_batch: full.evaluate_many(b), max(n // 4000, 10), 3, 1000),
        ]
    ratio = timings[1].p50_us / timings[0].p50_us
    print(table("Engine: 100-word message unless stated", timings))
    print(f"\n1,000,000-id / empty blocklist p50 ratio: {ratio:.2f}")
    print(f"\nMachine: {machine()}")


if __name__ == "__main__":
    main()
