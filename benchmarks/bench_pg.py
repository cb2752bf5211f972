"""Sends/s with 1, 2 and 4 processes, PostgreSQL next to SQLite, distinct vs shared senders.

Run: ``.venv/bin/python benchmarks/bench_pg.py [--sends N]``; prints a markdown table.

Each process is one "instance": its own engine, ``Store`` and connection pool, started with
multiprocessing (spawn), all on one database. Every send is accepted: the policy is the shipped
one with its spam detectors off (this measures the store and its locking, not the detectors;
``bench_service.py`` has the default-policy numbers) and the senders are on a plan with a
million credits.

* **distinct senders**: each process sends for its own senders. PostgreSQL runs them in
  parallel (each send locks only its sender's account row); SQLite serialises every write
  transaction on its one write lock whatever the sender.
* **one shared sender**: every process sends for the same sender, so on PostgreSQL every send
  queues on that sender's ``FOR UPDATE`` row lock: the contention a burst from one sender
  causes. (On SQLite nothing changes: writes were serialised already.)

Compare rows within a variant. Between the variants the per-sender history differs (one
sender with every send vs a few senders each): a send reads its sender's last 24 h of sends
(up to 1,000 rows), which makes "one shared" slower even with one process.

PostgreSQL is ``INMAIL_GUARD_TEST_PG_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``), in a scratch schema dropped afterwards;
without a server only the SQLite rows are printed. Uses ``bench_service.py``'s members and
messages.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

from _harness import machine, p50_p99_us, run_processes
from bench_service import _message, _pg_url, setup

PLAN = "bench_unlimited"
PROCESSES = (1, 2, 4)


def _policy() -> Any:
    import inmail_guard as ig
    from inmail_guard.policies.schema import Plan

    policy = ig.default_policy()
    return policy.model_copy(update={
        "spam": policy.spam.model_copy(update={"detectors": {}}),
        "plans": {**policy.plans, PLAN: Plan(monthly_credits=1_000_000)},
    })


def _setup(url: str, senders: list[str]) -> None:
    from sqlalchemy import update

    from inmail_guard.store import Store
    from inmail_guard.store import tables as t

    setup(url, senders)
    store = Store(url)
    with store.write() as conn:
        conn.execute(update(t.members).where(t.members.c.id.in_(senders)).values(plan=PLAN))
    store.close()


def worker(url: str, senders: list[str], n: int, seed: int, start: Any, out: Any) -> None:
    import inmail_guard as ig
    from inmail_guard.service import InMailService

    rng = random.Random(seed)
    svc = InMailService(_policy(), url)
    messages = [_message(ig, senders[i % len(senders)], rng) for i in range(n + 20)]
    for m in messages[:20]:  # warm up: statements compiled, pool filled
        svc.send(m)
    start.wait(120)
    latencies, accepted = [], 0
    clock = time.perf_counter_ns
    began = time.perf_counter()
    for m in messages[20:]:
        t0 = clock()
        accepted += svc.send(m).accepted
        latencies.append(clock() - t0)
    ended = time.perf_counter()
    svc.close()
    out.put((latencies, began, ended, accepted))


def run(url: str, processes: int, sends: int, shared: bool) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:6]
    if shared:
        groups = [[f"shared_{tag}"]] * processes
    else:
        groups = [[f"p{p}_{i}_{tag}" for i in range(4)] for p in range(processes)]
    _setup(url, sorted({s for g in groups for s in g}))
    per_process = sends // processes
    results, latencies, wall = run_processes(
        worker, [(url, g, per_process, i) for i, g in enumerate(groups)])
    p50, p99 = p50_p99_us(latencies)
    return {"rate": len(latencies) / wall, "n": len(latencies),
            "accepted": sum(r[3] for r in results), "p50": p50, "p99": p99}


def _pg_schema(pg: str) -> tuple[str, Any]:
    from sqlalchemy import create_engine, text

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(pg, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        version = conn.execute(text("SHOW server_version")).scalar()

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    url = f"{pg}{'&' if '?' in pg else '?'}options={quote(f'-csearch_path={schema}')}"
    return url, (version, drop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sends", type=int, default=2000, help="sends per case")
    args = parser.parse_args()
    rows: list[tuple[str, str, int, dict[str, Any]]] = []
    pg_version = None
    with tempfile.TemporaryDirectory() as tmp:
        for shared in (False, True):
            for processes in PROCESSES:
                db = Path(tmp) / f"bench-{shared}-{processes}.db"
                rows.append(("SQLite (WAL)", "one shared" if shared else "distinct",
                             processes, run(f"sqlite:///{db}", processes, args.sends, shared)))
        pg = _pg_url()
        if pg is not None:
            url, (pg_version, drop) = _pg_schema(pg)
            try:
                for shared in (False, True):
                    for processes in PROCESSES:
                        rows.append(("PostgreSQL", "one shared" if shared else "distinct",
                                     processes, run(url, processes, args.sends, shared)))
            finally:
                drop()
    rows.sort(key=lambda r: (r[1] != "distinct", r[0] != "PostgreSQL", r[2]))
    import sqlalchemy

    print("### Several processes on one database: PostgreSQL and SQLite")
    print()
    print(f"Machine: {machine()} (nproc {os.cpu_count()}); SQLAlchemy {sqlalchemy.__version__};"
          f" PostgreSQL {pg_version or 'not reachable, skipped'} on the same machine. Accepted"
          " sends, spam detectors off; each process its own engine, Store and pool.")
    print()
    print("| database | senders | processes | sends | sends/s | p50 µs | p99 µs |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, senders, processes, r in rows:
        assert r["accepted"] == r["n"], "every send should be accepted"
        print(f"| {name} | {senders} | {processes} | {r['n']:,} | {r['rate']:,.0f} |"
              f" {r['p50']:,.0f} | {r['p99']:,.0f} |")
    print()
    print(f"Load average when done: {', '.join(f'{x:.1f}' for x in os.getloadavg())}.")


if __name__ == "__main__":
    main()
