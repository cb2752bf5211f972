"""CPU µs per PostgreSQL send, client and server, best and median of batches: steadier than
``bench_pg.py``'s sends/s on a shared machine, for comparing two trees.

Run: ``.venv/bin/python benchmarks/bench_pg_cpu.py [--batches N] [--per-batch N]``. A/B
against another checkout, alternating in one shell (same load for both)::

    for i in 1 2 3; do
      PYTHONPATH=/path/to/base/src .venv/bin/python benchmarks/bench_pg_cpu.py
      .venv/bin/python benchmarks/bench_pg_cpu.py
    done

``bench_pg.py``'s workload in one process: 100 senders that have all sent before, a few dozen
sends each, spam detectors off, every send accepted, in a scratch schema dropped afterwards.
Client CPU is this process's (``time.process_time``, the deadline watchdog thread included);
server CPU the time its PostgreSQL backends ran, from ``/proc/<pid>/schedstat`` (nanoseconds,
where ``/proc/<pid>/stat`` counts 10 ms ticks), so the server must be on this machine.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from typing import Any

from bench_pg import _pg_schema, _policy, _setup
from bench_service import _message, pg_url_or_say


def _ran_ns(pids: set[int]) -> int:
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/schedstat") as f:
            total += int(f.read().split()[0])
    return total


def measure(url: str, batches: int, per_batch: int) -> tuple[list[float], list[float], float]:
    """Client and server CPU µs per send of each batch, and the sends/s of all of them."""
    from sqlalchemy import event

    import inmail_guard as ig
    from inmail_guard.service import InMailService

    senders = [f"s{i}" for i in range(100)]
    _setup(url, senders)
    rng = random.Random(7)
    messages = [_message(ig, senders[i % len(senders)], rng)
                for i in range(200 + batches * per_batch)]
    client, server = [], []
    with InMailService(_policy(), url) as svc:
        backends: set[int] = set()
        event.listen(svc.store.db, "connect",
                     lambda conn, _record: backends.add(conn.info.backend_pid))
        svc.store.db.dispose()  # every connection from here on is a new one, and seen
        for m in messages[:200]:  # every account opened, statements prepared, pool filled
            svc.send(m)
        rest = iter(messages[200:])
        began = time.perf_counter()
        for _ in range(batches):
            batch: list[Any] = [next(rest) for _ in range(per_batch)]
            ran, cpu = _ran_ns(backends), time.process_time()
            for m in batch:
                assert svc.send(m).accepted
            client.append((time.process_time() - cpu) / per_batch * 1e6)
            server.append((_ran_ns(backends) - ran) / per_batch / 1e3)
        rate = batches * per_batch / (time.perf_counter() - began)
    return client, server, rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--per-batch", type=int, default=300, help="sends per batch")
    parser.add_argument("--synchronous-commit", choices=("on", "off"),
                        help="the sessions' synchronous_commit (default: the server's): off"
                             " shows what waiting for the WAL flush costs the CPU of both sides")
    args = parser.parse_args()
    pg = pg_url_or_say()
    if pg is None:
        return
    url, (_, drop) = _pg_schema(pg, args.synchronous_commit)
    try:
        client, server, rate = measure(url, args.batches, args.per_batch)
    finally:
        drop()
    import os

    import inmail_guard as ig

    both = [c + s for c, s in zip(client, server, strict=True)]
    print(f"{ig.__file__.rsplit('/src/', 1)[0]}: client {min(client):,.0f} best /"
          f" {statistics.median(client):,.0f} median, server {min(server):,.0f} /"
          f" {statistics.median(server):,.0f}, both {min(both):,.0f} /"
          f" {statistics.median(both):,.0f} CPU µs/send ({args.batches} x {args.per_batch});"
          f" {rate:,.0f} sends/s; synchronous_commit {args.synchronous_commit or 'default'};"
          f" load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
