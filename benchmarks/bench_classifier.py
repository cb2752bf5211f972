"""Per-message and batch speed of the spam classifier: fast scorer vs sklearn predict_proba.

Run: ``.venv/bin/python benchmarks/bench_classifier.py [--model builtin:spam-v1] [--repeat N]``.
Prints a markdown table and the machine it ran on. Both paths score the same texts in the same
run; the fast path is ``SpamModel.spam_probability`` (the C accelerator where it is built, with
the pure-Python loop timed next to it), the baseline is the plain sklearn
``pipeline.predict_proba([text])`` the model was compiled from: the word pipeline for InMails,
the e-mail route (character n-grams too) for the e-mail row.
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import time
from collections.abc import Iterator

from _harness import machine, time_calls

from inmail_guard.models import load_model
from inmail_guard.models.features import INMAIL_PREFIX, inmail_text
from inmail_guard.models.scorer import CompiledScorer

_VOCABULARY = (
    "hi hello thanks team role engineer data product manager call week open chat interested "
    "experience hiring company platform customers growth remote hybrid python cloud sales "
    "opportunity free click offer now limited win cash prize money earn home account verify "
    "meeting schedule tuesday project budget proposal quarter review design research"
)
WORDS = tuple(_VOCABULARY.split())


def message(n_words: int, seed: int, kind: str = "InMail") -> str:
    rng = random.Random(seed)
    body = " ".join(rng.choice(WORDS) for _ in range(n_words))
    if kind == "e-mail":
        return f"Subject: quick question\n{body} ."
    return inmail_text("Quick question", body.capitalize() + ".")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="builtin:spam-v1")
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    model = load_model(args.model)
    rows = []
    cases = [("InMail", 20), ("InMail", 100), ("InMail", 500)]
    if "e:" in model.routes:
        cases.append(("e-mail", 100))
    for kind, n_words in cases:
        texts = [message(n_words, seed, kind) for seed in range(64)]
        pipeline = model.routes["e:"] if kind == "e-mail" else model.pipeline

        def fast(cycle: Iterator[str] = itertools.cycle(texts)) -> object:
            return model.spam_probability(next(cycle))

        def sklearn_one(cycle: Iterator[str] = itertools.cycle(texts),
                        pipeline: object = pipeline) -> object:
            return pipeline.predict_proba([next(cycle)])  # type: ignore[attr-defined]

        prefix = "e:" if kind == "e-mail" else INMAIL_PREFIX
        pure = CompiledScorer.from_pipeline(pipeline, channels=(prefix,), accelerated=False)

        def python_loop(cycle: Iterator[str] = itertools.cycle(texts),
                        pure: CompiledScorer = pure, prefix: str = prefix) -> object:
            return pure.probability(next(cycle), prefix)

        fast_t = time_calls("fast", fast, args.repeat, min(50, args.repeat))
        python_t = time_calls("python", python_loop, args.repeat, min(50, args.repeat))
        slow_t = time_calls("sklearn", sklearn_one, max(200, args.repeat // 10), 50)
        batch = texts * 16
        t0 = time.perf_counter()
        model.spam_probabilities(batch)
        batch_rate = len(batch) / (time.perf_counter() - t0)
        rows.append(
            f"| {kind} | {n_words} | {fast_t.p50_us:.1f} | {fast_t.p99_us:.1f} | "
            f"{fast_t.per_s:,.0f} | {python_t.p50_us:.1f} | {slow_t.p50_us:.1f} | "
            f"{slow_t.p99_us:.1f} | {slow_t.per_s:,.0f} | {batch_rate:,.0f} | "
            f"{fast_t.per_s / slow_t.per_s:.1f}x | {python_t.p50_us / fast_t.p50_us:.2f}x |"
        )
    print(f"model {model.name} sha256:{model.sha256[:12]}, {model.scorer.n_features:,} features;"
          f" fast path: {'C accelerator' if model.scorer.accelerated else 'pure Python'}")
    print()
    print("| text | words | fast p50 µs | fast p99 µs | fast msgs/s | pure-Python p50 µs "
          "| sklearn p50 µs | sklearn p99 µs | sklearn msgs/s | batch msgs/s (1,024) "
          "| fast / sklearn | pure-Python / fast |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    print()
    print(f"Machine: {machine()}")


if __name__ == "__main__":
    sys.exit(main())
