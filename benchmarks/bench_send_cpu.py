"""CPU µs per ``InMailService.send`` on SQLite, best of batches: a steadier figure than
``bench_service.py``'s throughput on a loaded machine, for comparing two trees.

Run: ``.venv/bin/python benchmarks/bench_send_cpu.py [--detectors off|on] [--batches N]``.
A/B against another checkout, alternating in one shell (same load for both)::

    for i in 1 2 3; do
      PYTHONPATH=/path/to/base/src .venv/bin/python benchmarks/bench_send_cpu.py
      .venv/bin/python benchmarks/bench_send_cpu.py
    done

Every send is accepted (recruiter_corporate senders, 10 sends each, distinct 40-word bodies).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from bench_service import PER_SENDER, _message, _policy, setup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detectors", choices=("off", "on"), default="off")
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--per-batch", type=int, default=200, help="sends per batch")
    args = parser.parse_args()

    import inmail_guard as ig
    from inmail_guard.service import InMailService

    senders = [f"s{i}" for i in range(args.batches * args.per_batch // PER_SENDER + 10)]
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        setup(url, senders)
        rng = random.Random(7)
        messages = [_message(ig, s, rng) for _ in range(PER_SENDER) for s in senders]
        with InMailService(_policy(args.detectors == "off"), url) as svc:
            for m in messages[:50]:  # warm up: statements compiled, caches filled
                svc.send(m)
            rest = iter(messages[50:])
            best = float("inf")
            for _ in range(args.batches):
                batch = [next(rest) for _ in range(args.per_batch)]
                start = time.process_time()
                for m in batch:
                    assert svc.send(m).accepted
                best = min(best, (time.process_time() - start) / len(batch))
    print(f"{ig.__file__.rsplit('/src/', 1)[0]}: detectors {args.detectors}:"
          f" {best * 1e6:,.0f} CPU µs/send (best of {args.batches} x {args.per_batch})")


if __name__ == "__main__":
    main()
