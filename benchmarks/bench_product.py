"""The classifier on the send path: full ``Engine.evaluate`` through the default policy, and
the classifier detector's own share, for a 100-word InMail and a 400-word e-mail-shaped body.

Run: ``.venv/bin/python benchmarks/bench_product.py [--label new] [--repeat N]``.

To compare with what a change replaces in the same session, run it a second time against the
older source tree: ``git archive <old commit> src | tar -x -C /tmp/old`` (copy the built
``inmail_guard/_speedups*.so`` next to it), then ``PYTHONPATH=/tmp/old/src python
benchmarks/bench_product.py --label old``. The script only uses APIs both trees have.

Rows: ``evaluate`` is a whole decision (every rule and detector of the default policy, a
clean sender on premium_business, an eligible recipient); ``classifier off`` the same policy
without the classifier (what the rest of the tree costs: compare trees with it);
``classifier`` is the detector's ``check`` alone on the same message;
``e-mail route + partner`` (old models only: the e-mail
channel's scorer with its sentence-embedding partner, what ``model evaluate`` used for e-mail
text) is the cost of the route that the send path would have needed to reach the old model's
e-mail figures.
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import UTC, datetime

from _harness import machine, time_calls

import inmail_guard as ig
from inmail_guard.engine.content import parse_body

# Words of ordinary outreach and of scams, so that both kinds of features are looked up.
_VOCABULARY = (
    "hi hello thanks team role engineer data product manager call week open chat interested "
    "experience hiring company platform customers growth remote hybrid python cloud sales "
    "opportunity free click offer now limited win cash prize money earn home account verify "
    "meeting schedule tuesday project budget proposal quarter review design research "
    "payment transfer bank fee training salary deposit check vendor equipment gift card"
)
WORDS = tuple(_VOCABULARY.split())
FACTS = ig.Facts(ig.Member("bench-s", "premium_business"), ig.Member("bench-r"),
                 datetime(2026, 12, 1, 12, 0, tzinfo=UTC), connection_degree=2)


def inmail(n_words: int, seed: int) -> ig.Message:
    rng = random.Random(seed)
    words = [rng.choice(WORDS) for _ in range(n_words)]
    sentences = [" ".join(words[i:i + 12]).capitalize() + "." for i in range(0, n_words, 12)]
    return ig.Message("bench-s", "bench-r", "Quick question", " ".join(sentences))


def email_shaped(n_words: int, seed: int) -> ig.Message:
    """Enron-like: lower case, punctuation spaced out, one line per sentence."""
    rng = random.Random(seed)
    words = [rng.choice(WORDS) for _ in range(n_words)]
    lines = [" ".join(words[i:i + 14]) + " ." for i in range(0, n_words, 14)]
    return ig.Message("bench-s", "bench-r", "re : quarterly numbers", "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="this tree")
    parser.add_argument("--repeat", type=int, default=3000)
    args = parser.parse_args()
    engine = ig.Engine(ig.default_policy())
    policy = ig.default_policy()
    detectors = {**policy.spam.detectors, "classifier": {"enabled": False}}
    without = ig.Engine(policy.model_copy(
        update={"spam": policy.spam.model_copy(update={"detectors": detectors})}))
    (slot,) = [s for s in engine.detectors if s.detector.name == "classifier"]
    detector = slot.detector
    model = detector.model
    rows = []
    for kind, make, n_words in (("InMail", inmail, 100), ("e-mail-shaped body", email_shaped,
                                                           400)):
        messages = [make(n_words, seed) for seed in range(64)]
        contents = [parse_body(m.body, max_source_chars=12_000) for m in messages]
        i = iter(range(10**9))

        def evaluate(messages=messages, i=i) -> object:
            return engine.evaluate(messages[next(i) % 64], FACTS)

        def classify(messages=messages, contents=contents, i=i) -> object:
            k = next(i) % 64
            return detector.check(messages[k], FACTS, contents[k])

        def evaluate_without(messages=messages, i=i) -> object:
            return without.evaluate(messages[next(i) % 64], FACTS)

        full = time_calls("evaluate", evaluate, args.repeat, min(200, args.repeat))
        bare = time_calls("evaluate without", evaluate_without, args.repeat,
                          min(200, args.repeat))
        alone = time_calls("classifier", classify, args.repeat, min(200, args.repeat))
        rows.append(f"| {args.label} | {kind} | {n_words} | evaluate (default policy) | "
                    f"{full.p50_us:,.1f} | {full.p99_us:,.1f} |")
        rows.append(f"| {args.label} | {kind} | {n_words} | evaluate, classifier off | "
                    f"{bare.p50_us:,.1f} | {bare.p99_us:,.1f} |")
        rows.append(f"| {args.label} | {kind} | {n_words} | classifier detector alone | "
                    f"{alone.p50_us:,.1f} | {alone.p99_us:,.1f} |")
        if kind != "InMail" and "e:" in getattr(model, "partners", {}):
            texts = [f"Subject: {m.subject}\n{m.body}" for m in messages]

            def partnered(texts=texts, i=i) -> object:
                return model.spam_probability(texts[next(i) % 64])

            slow = time_calls("route+partner", partnered, max(20, args.repeat // 60), 5)
            rows.append(f"| {args.label} | {kind} | {n_words} | e-mail route + partner "
                        f"(old e-mail path) | {slow.p50_us:,.1f} | {slow.p99_us:,.1f} |")
    print(f"model {model.name} sha256:{model.sha256[:12]} "
          f"({model.manifest.get('features', '?')})")
    print("| tree | text | words | what | p50 µs | p99 µs |")
    print("|---|---|---:|---|---:|---:|")
    print("\n".join(rows))
    print(f"\nMachine: {machine()}")


if __name__ == "__main__":
    sys.exit(main())
