"""Per-message and batch speed of the spam classifier: fast scorer vs sklearn predict_proba.

Run: ``.venv/bin/python benchmarks/bench_classifier.py [--model builtin:spam-v1] [--repeat N]``.
Prints a markdown table and the machine it ran on. Both paths score the same texts in the same
run; the fast path is ``SpamModel.spam_probability`` (the C accelerator where it is built, with
the pure-Python loop timed next to it), the baseline is the plain sklearn
``pipeline.predict_proba([text])`` the model was compiled from: the word pipeline for InMails,
the e-mail route (character n-grams too) for the e-mail rows. When the e-mail route has a
partner (sentence embeddings, ``models/partner.py``), a second e-mail row times route +
partner: every column then includes encoding the text, which dominates (fewer repeats).
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import time
from collections.abc import Callable

from _harness import machine, time_calls

from inmail_guard.models import SpamModel, load_model, routes
from inmail_guard.models.features import EMAIL_PREFIX, INMAIL_PREFIXES, inmail_text
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


Call = Callable[[], object]


def _paths(model: SpamModel, kind: str, texts: list[str]
           ) -> tuple[Call, Call, Call, Call, list[str]]:
    """The fast path, the pure-Python loop, sklearn on one text, the batch call, and its texts
    for one row of the table."""
    cycle = itertools.cycle(texts)
    if kind == "InMail":
        pure = CompiledScorer.from_pipeline(model.pipeline, channels=INMAIL_PREFIXES,
                                            accelerated=False)
        batch = texts * 16
        return (lambda: model.spam_probability(next(cycle)),
                lambda: pure.probability(next(cycle)),
                lambda: model.pipeline.predict_proba([next(cycle)]),
                lambda: model.spam_probabilities(batch), batch)
    route = model.routes[EMAIL_PREFIX]
    compiled = model._route_scorer(EMAIL_PREFIX)
    pure = CompiledScorer.from_pipeline(route, channels=(EMAIL_PREFIX,), accelerated=False)
    if kind == "e-mail":  # the route alone, as scored before it had a partner
        batch = texts * 16
        return (lambda: compiled.probability(next(cycle), EMAIL_PREFIX),
                lambda: pure.probability(next(cycle), EMAIL_PREFIX),
                lambda: route.predict_proba([next(cycle)]),
                lambda: route.predict_proba(batch), batch)
    partner = model.partners[EMAIL_PREFIX]

    def python_loop() -> object:
        text = next(cycle)
        return partner.probability(pure.decision(text, EMAIL_PREFIX), model.encode([text])[0])

    return (lambda: model.spam_probability(next(cycle)), python_loop,
            lambda: routes.partnered(route, partner, [next(cycle)], model.encode),
            lambda: model.spam_probabilities(texts), texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="builtin:spam-v1")
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    model = load_model(args.model)
    rows = []
    cases = [("InMail", 20), ("InMail", 100), ("InMail", 500)]
    if EMAIL_PREFIX in model.routes:
        cases.append(("e-mail", 100))
    if EMAIL_PREFIX in model.partners:
        cases.append(("e-mail + partner", 100))
    for kind, n_words in cases:
        email = kind.startswith("e-mail")
        texts = [message(n_words, seed, "e-mail" if email else kind) for seed in range(64)]
        fast, python_loop, sklearn_one, score_batch, batch = _paths(model, kind, texts)
        partnered = kind == "e-mail + partner"
        repeat = max(20, args.repeat // 40) if partnered else args.repeat
        fast_t = time_calls("fast", fast, repeat, min(50, repeat))
        python_t = time_calls("python", python_loop, repeat, min(50, repeat))
        slow_t = time_calls("sklearn", sklearn_one, max(20 if partnered else 200, repeat // 10),
                            min(50, repeat))
        t0 = time.perf_counter()
        score_batch()
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
          "| sklearn p50 µs | sklearn p99 µs | sklearn msgs/s | batch msgs/s (1,024; 64 "
          "with the partner) "
          "| fast / sklearn | pure-Python / fast |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    print()
    print(f"Machine: {machine()}")


if __name__ == "__main__":
    sys.exit(main())
