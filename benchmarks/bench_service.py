"""InMailService.send end to end: facts from the store, engine, credit spend, InMail, outbox.

Run: ``.venv/bin/python benchmarks/bench_service.py [--sends N]``; prints a markdown table.
Every send is accepted (recruiter_corporate senders, 50 credits each, at most 10 sends per
sender, distinct bodies, so no spam detector of the shipped policy trips), through the shipped
default policy (and once with its detectors off, to show the service and store alone; and once
awaited from an asyncio loop while a pool thread sends, as the HTTP route runs it).
Cases: SQLite in one process and in two processes (multiprocessing, each with its own engine
and connections, one database file), and PostgreSQL the same way when
``INMAIL_GUARD_TEST_PG_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``)
answers; a scratch schema is created and dropped.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from _harness import machine, p50_p99_us, run_processes

WORDS = (
    "team", "platform", "data", "role", "remote", "berlin", "lisbon", "kafka", "postgres",
    "python", "rust", "growth", "design", "product", "hiring", "senior", "staff", "engineer",
    "manager", "salary", "equity", "call", "chat", "week", "project", "customers", "scale",
    "reliability", "cloud", "mobile", "search", "ranking", "ads", "privacy",
)
PER_SENDER = 10
RECIPIENTS = 2000


def _message(ig: Any, sender: str, rng: random.Random) -> Any:
    body = " ".join(rng.choice(WORDS) for _ in range(40))
    return ig.Message(sender, f"r{rng.randrange(RECIPIENTS)}", subject="A role on my team",
                      body=f"Hi, {body}.")


def setup(url: str, senders: list[str]) -> None:
    import inmail_guard as ig
    from inmail_guard.store import Store
    from inmail_guard.store import tables as t

    store = Store(url)
    now = datetime.now(UTC)
    rows = [{"id": s, "plan": "recruiter_corporate"} for s in senders]
    rows += [{"id": f"r{i}", "plan": "basic"} for i in range(RECIPIENTS)]
    with store.write() as conn:
        existing = set(conn.execute(t.members.select().with_only_columns(t.members.c.id))
                       .scalars())
        conn.execute(t.members.insert(), [
            {**r, "profile_public": True, "accepts_inmail": True, "is_employee": False,
             "name": r["id"], "photo_url": None, "created_at": now, "updated_at": now}
            for r in rows if r["id"] not in existing])
    store.close()
    del ig


def _policy(bare: bool) -> Any:
    import inmail_guard as ig

    policy = ig.default_policy()
    if bare:  # the service and store alone: no spam detector runs
        policy = policy.model_copy(update={"spam": policy.spam.model_copy(
            update={"detectors": {}})})
    return policy


def worker(url: str, senders: list[str], seed: int, bare: bool, handoff: bool, start: Any,
           out: Any) -> None:
    import inmail_guard as ig
    from inmail_guard.service import InMailService

    rng = random.Random(seed)
    svc = InMailService(_policy(bare), url)
    messages = [_message(ig, s, rng) for _ in range(PER_SENDER) for s in senders]
    send = svc.send
    if handoff:  # as the HTTP route does: an event loop awaits a pool thread's send
        import asyncio
        from concurrent.futures import ThreadPoolExecutor

        pool, loop = ThreadPoolExecutor(1), asyncio.new_event_loop()

        def send(m: Any) -> Any:
            return loop.run_until_complete(loop.run_in_executor(pool, svc.send, m))
    for m in messages[:20]:  # warm up (compiles statements, fills the pool)
        send(m)
    messages = messages[20:]
    start.wait(60)
    latencies = []
    accepted = 0
    clock = time.perf_counter_ns
    began, cpu0 = time.perf_counter(), time.process_time()
    for m in messages:
        t0 = clock()
        accepted += send(m).accepted
        latencies.append(clock() - t0)
    ended, cpu = time.perf_counter(), time.process_time() - cpu0
    svc.close()
    out.put((latencies, began, ended, accepted, cpu))


def run(url: str, processes: int, sends: int, bare: bool = False,
        handoff: bool = False) -> tuple[float, float, float, int, int, float]:
    n_senders = max(sends // processes // PER_SENDER + 2, 1)
    groups = [[f"s{p}_{i}_{uuid.uuid4().hex[:6]}" for i in range(n_senders)]
              for p in range(processes)]
    setup(url, [s for g in groups for s in g])
    results, latencies, wall, _busy = run_processes(
        worker, [(url, g, i, bare, handoff) for i, g in enumerate(groups)])
    accepted = sum(r[3] for r in results)
    p50, p99 = p50_p99_us(latencies)
    cpu_us = sum(r[4] for r in results) / len(latencies) * 1e6  # client-process CPU per send
    return len(latencies) / wall, p50, p99, len(latencies), accepted, cpu_us


def pg_url_or_say() -> str | None:
    """:func:`_pg_url`, printing why a PostgreSQL-only benchmark is skipped when it is None
    (so benchmarks/run.py's whole run does not fail without a server)."""
    url = _pg_url()
    if url is None:
        print("PostgreSQL not reachable at INMAIL_GUARD_TEST_PG_URL (or the default URL):"
              " skipped")
    return url


def _pg_url() -> str | None:
    url = os.environ.get("INMAIL_GUARD_TEST_PG_URL",
                         "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    try:
        from sqlalchemy import create_engine, text

        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except Exception:
        return None
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sends", type=int, default=4000, help="sends per case")
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL")
    args = parser.parse_args()
    import inmail_guard as ig

    policy = ig.default_policy()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for processes in (1, 2):
            db = Path(tmp) / f"bench-{processes}.db"
            rows.append(("SQLite (WAL, file)", processes, *run(f"sqlite:///{db}", processes,
                                                               args.sends)))
        bare_db = Path(tmp) / "bench-bare.db"
        rows.append(("SQLite, detectors off", 1, *run(f"sqlite:///{bare_db}", 1, args.sends,
                                                     bare=True)))
        handoff_db = Path(tmp) / "bench-handoff.db"
        rows.append(("SQLite, each send awaited from an event loop, run by a pool thread", 1,
                     *run(f"sqlite:///{handoff_db}", 1, args.sends, handoff=True)))
    pg = None if args.sqlite_only else _pg_url()
    skipped = None
    if args.sqlite_only:
        skipped = "PostgreSQL: skipped (--sqlite-only)."
    elif pg is None:
        skipped = "PostgreSQL: not reachable, skipped (set INMAIL_GUARD_TEST_PG_URL)."
    else:
        from sqlalchemy import create_engine, text

        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(pg, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = f"{pg}{'&' if '?' in pg else '?'}options={quote(f'-csearch_path={schema}')}"
        try:
            for processes in (1, 2):
                rows.append(("PostgreSQL 127.0.0.1", processes, *run(url, processes,
                                                                     args.sends)))
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
    import sqlalchemy

    detectors = ", ".join(policy.spam.detectors) or "none"
    print("### InMailService.send (accepted sends, end to end)")
    print()
    print(f"Machine: {machine()}; SQLAlchemy {sqlalchemy.__version__}; policy"
          f" {policy.name} (detectors: {detectors}).")
    print()
    print("| database | processes | sends | accepted | sends/s | p50 µs | p99 µs |"
          " CPU µs/send |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, processes, rate, p50, p99, n, accepted, cpu_us in rows:
        print(f"| {name} | {processes} | {n:,} | {accepted:,} | {rate:,.0f} | {p50:,.0f} |"
              f" {p99:,.0f} | {cpu_us:,.0f} |")
    print()
    print("CPU µs/send is the sending process's own CPU time per send (SQLite's work included,"
          " a PostgreSQL server's not): 1e6 / it is the rate one otherwise idle core sustains."
          f" Load average when done: {', '.join(f'{x:.1f}' for x in os.getloadavg())}.")
    inline, handed = rows[0][-1], next(r[-1] for r in rows if "pool thread" in r[0])
    print()
    print(f"Awaiting each send from an event loop while a pool thread runs it (what the HTTP"
          f" route does: sync routes run in a threadpool) costs {handed - inline:,.0f} CPU"
          f" µs/send more than calling it ({handed / inline:.2f}x): the loop's wake-ups, and"
          f" the same send runs slower on a thread woken for each call than on the caller.")
    if skipped:
        print()
        print(skipped)


if __name__ == "__main__":
    main()
