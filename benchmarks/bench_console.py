"""What the console's Traffic ring costs each decision: ``python benchmarks/bench_console.py``.

The serving engine of ``inmail-guard serve`` has one more ``inmail_guard_decision`` plugin,
:class:`~inmail_guard.api.console.recent.RecentDecisions`. This prints the best-of-15 mean CPU
time of ``Engine.evaluate`` (the shipped policy, the Playground's examples) through the metered
plugin façade without and with it, measured alternately in the same run, and of the hook call
alone.
"""

from __future__ import annotations

from _harness import cpu_best_us, machine

import inmail_guard as ig
from inmail_guard.api.console.playground import FormState, parse_request
from inmail_guard.api.console.recent import RecentDecisions
from inmail_guard.api.metrics import MeteredPlugins, Metrics


def main() -> None:
    policy = ig.default_policy()
    without = ig.Engine(policy, MeteredPlugins(Metrics()))
    ring = RecentDecisions()
    with_ring = ig.Engine(policy, MeteredPlugins(Metrics(), extra=(ring,)))
    print(f"{machine()}\n")
    print("| message | evaluate µs CPU, without ring | with ring | ratio |")
    print("|---|---|---|---|")
    for name in ("accepted", "opted_out"):
        request, _ = parse_request(FormState.example_state(name))
        m, f = request.message, request.facts
        a = b = float("inf")
        for _ in range(3):  # alternate, keep the best of each
            a = min(a, cpu_best_us(lambda m=m, f=f: without.evaluate(m, f)))
            b = min(b, cpu_best_us(lambda m=m, f=f: with_ring.evaluate(m, f)))
        print(f"| {name} | {a:.1f} | {b:.1f} | {b / a:.3f} |")
    request, _ = parse_request(FormState.example_state("opted_out"))
    decision = without.evaluate(request.message, request.facts)
    hook = cpu_best_us(lambda: ring.inmail_guard_decision(request.message, decision),
                       calls=5000)
    print(f"\nthe hook call alone: {hook:.2f} µs CPU")


if __name__ == "__main__":
    main()
