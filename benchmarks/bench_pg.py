"""Sends/s with 1, 2 and 4 processes, PostgreSQL next to SQLite, distinct, heavy and shared senders.

Run: ``.venv/bin/python benchmarks/bench_pg.py [--sends N]``; prints a markdown table.
Each case runs with both send paths back to back (``--paths``: ``lock-first``, the sender's
lock before reading, as before store/sendpath.py; ``read-then-write``, today's), and the last
column compares each row with the same path's one-process row. ``--synchronous-commit off``
shows PostgreSQL without waiting for the WAL flush (docs/deploy.md says what that trades);
``--commit-delay N`` groups commits (``commit_delay`` N µs with ``commit_siblings = 1``, set on
the benchmark's own sessions only: a deployment's choice, which the product never makes).
``--rounds N`` runs every case N times, alternating, and adds each case's medians: one run's
ratio moves by a third on a shared 2-core machine (1.21-1.85x for the same tree in session 13).

Client CPU is the sending processes' own CPU time per send; server CPU (PostgreSQL on the same
machine) the CPU time of their backends per send (``/proc/<pid>/stat``; blank when the server is
elsewhere): both move far less than sends/s when other work shares the machine. Machine busy
is the share of both cores in use from the processes' release to their last result
(``/proc/stat``; the server's processes, the WAL flush's kernel work and everything else on the
machine included): where it is short of 100 %, the sends wait on something other than CPU.

Each process is one "instance": its own engine, ``Store`` and connection pool, started with
multiprocessing (spawn), all on one database. Every send is accepted: the policy is the shipped
one with its spam detectors off (this measures the store and its locking, not the detectors;
``bench_service.py`` has the default-policy numbers) and the senders are on a plan with a
million credits.

* **distinct senders**: each process sends for its own 100 senders, each of which has sent
  before (the warm-up sends once for each: its account for the month exists), so a sender has
  a few dozen sends in its last 24 h at most: what the shipped policy lets a sender do
  (``volume.per_day`` 100). PostgreSQL runs them in parallel (each send locks only its
  sender's account row); SQLite serialises every write transaction on its one write lock
  whatever the sender.
* **heavy history**: each process sends for 4 senders, so each has hundreds of sends in its
  last 24 h (500 with ``--sends 2000``, one process), far beyond the shipped policy: a send
  reads every one of its sender's send times (``Facts.recent_sends``, up to 1,000), so this
  row keeps the cost of a long history visible. (Before session 9 this was the "distinct"
  case.)
* **one shared sender**: every process sends for the same sender, so on PostgreSQL every send
  queues on that sender's ``FOR UPDATE`` row lock: the contention a burst from one sender
  causes. (On SQLite nothing changes: writes were serialised already.) Its history is the
  heaviest of all.

Compare rows within a variant: the per-sender history differs between them.

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
#: Senders per process of each variant (one shared sender: the same one in every process).
SENDERS = {"distinct": 100, "heavy": 4, "shared": 1}
LABELS = {"distinct": "distinct", "heavy": "heavy history", "shared": "one shared"}


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


def _cpu_seconds(pids: set[int]) -> float | None:
    """User + system CPU of these processes (PostgreSQL backends on this machine), or None
    when they cannot be read (a server elsewhere)."""
    total = 0
    try:
        for pid in pids:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None
    return total / os.sysconf("SC_CLK_TCK")


def worker(url: str, senders: list[str], n: int, seed: int, new: bool, start: Any,
           out: Any) -> None:
    from sqlalchemy import event

    import inmail_guard as ig
    from inmail_guard.service import InMailService

    rng = random.Random(seed)
    svc = InMailService(_policy(), url)
    svc.sends.read_then_write = new
    backends: set[int] = set()  # this process's PostgreSQL backends, for their CPU time
    if not svc.store.is_sqlite:
        event.listen(svc.store.db, "connect",
                     lambda conn, _record: backends.add(conn.info.backend_pid))
        svc.store.db.dispose()  # every connection from here on is a new one, and seen
    warm = max(20, len(senders))  # statements compiled, pool filled, every account opened
    messages = [_message(ig, senders[i % len(senders)], rng) for i in range(n + warm)]
    for m in messages[:warm]:
        svc.send(m)
    start.wait(120)
    latencies, accepted = [], 0
    clock = time.perf_counter_ns
    server = _cpu_seconds(backends)
    cpu = time.process_time()
    began = time.perf_counter()
    for m in messages[warm:]:
        t0 = clock()
        accepted += svc.send(m).accepted
        latencies.append(clock() - t0)
    ended = time.perf_counter()
    cpu = time.process_time() - cpu
    after = _cpu_seconds(backends)
    server = None if server is None or after is None or not backends else after - server
    svc.close()
    out.put((latencies, began, ended, accepted, cpu, server))


def run(url: str, processes: int, sends: int, variant: str, new: bool = True) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:6]
    if variant == "shared":
        groups = [[f"shared_{tag}"]] * processes
    else:
        groups = [[f"p{p}_{i}_{tag}" for i in range(SENDERS[variant])]
                  for p in range(processes)]
    _setup(url, sorted({s for g in groups for s in g}))
    per_process = sends // processes
    results, latencies, wall, busy = run_processes(
        worker, [(url, g, per_process, i, new) for i, g in enumerate(groups)])
    p50, p99 = p50_p99_us(latencies)
    servers = [r[5] for r in results]
    return {"rate": len(latencies) / wall, "n": len(latencies),
            "accepted": sum(r[3] for r in results), "p50": p50, "p99": p99, "busy": busy,
            "cpu": sum(r[4] for r in results) / len(latencies) * 1e6,
            "server": (None if None in servers
                       else sum(servers) / len(latencies) * 1e6)}  # type: ignore[arg-type]


def _pg_schema(pg: str, synchronous_commit: str | None = None,
               commit_delay: int | None = None) -> tuple[str, Any]:
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

    options = f"-csearch_path={schema}"
    if synchronous_commit:
        options += f" -csynchronous_commit={synchronous_commit}"
    if commit_delay is not None:  # superuser settings: the benchmark's role must be allowed
        options += f" -ccommit_delay={commit_delay} -ccommit_siblings=1"
    url = f"{pg}{'&' if '?' in pg else '?'}options={quote(options)}"
    return url, (version, drop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sends", type=int, default=2000, help="sends per case")
    parser.add_argument("--paths", default="lock-first,read-then-write",
                        help="send paths to run, each case back to back: read-then-write"
                             " (store/sendpath.py) and/or lock-first (the path before it)")
    parser.add_argument("--processes", default=",".join(map(str, PROCESSES)))
    parser.add_argument("--rounds", type=int, default=1,
                        help="run every case this many times, the cases alternating within each"
                             " round; with more than one, a table of medians follows (each"
                             " ratio against its own round's one-process row)")
    parser.add_argument("--databases", default="postgresql,sqlite")
    parser.add_argument("--senders", default="distinct,heavy,shared",
                        help="variants: " + ", ".join(SENDERS))
    parser.add_argument("--synchronous-commit", choices=("on", "off", "local"),
                        help="PostgreSQL: the sessions' synchronous_commit (default: the"
                             " server's); off trades the last moments of commits on a server"
                             " crash for not waiting on the WAL flush (docs/deploy.md)")
    parser.add_argument("--commit-delay", type=int, metavar="MICROSECONDS",
                        help="PostgreSQL: the sessions' commit_delay, with commit_siblings 1"
                             " (group commit: a committing backend waits this long for others"
                             " to flush with; default: the server's)")
    args = parser.parse_args()
    paths = [p == "read-then-write" for p in args.paths.split(",")]
    processes_list = [int(p) for p in args.processes.split(",")]
    variants = args.senders.split(",")
    if unknown := set(variants) - set(SENDERS):
        parser.error(f"unknown --senders {', '.join(sorted(unknown))}; use {', '.join(SENDERS)}")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    rows: list[tuple[int, str, str, int, str, dict[str, Any]]] = []
    pg_version = None

    def cases(round_: int, name: str, make_url: Any) -> None:
        for variant in variants:
            for processes in processes_list:
                for new in paths:
                    rows.append((round_, name, LABELS[variant], processes,
                                 "read-then-write" if new else "lock-first",
                                 run(make_url(variant, processes, new), processes, args.sends,
                                     variant, new)))

    with tempfile.TemporaryDirectory() as tmp:
        pg = _pg_url() if "postgresql" in args.databases else None
        url, drop = None, None
        if pg is not None:
            url, (pg_version, drop) = _pg_schema(pg, args.synchronous_commit,
                                                 args.commit_delay)
        try:
            for round_ in range(1, args.rounds + 1):  # each round runs every case once
                if "sqlite" in args.databases:
                    cases(round_, "SQLite (WAL)",
                          lambda variant, p, new, r=round_:
                          f"sqlite:///{Path(tmp)}/bench-{r}-{variant}-{p}-{new}.db")
                if url is not None:
                    cases(round_, "PostgreSQL", lambda *_: url)
        finally:
            if drop is not None:
                drop()
    order = list(LABELS.values())
    rows.sort(key=lambda r: (order.index(r[2]), r[1] != "PostgreSQL", r[3], r[0]))
    import sqlalchemy

    print("### Several processes on one database: PostgreSQL and SQLite")
    print()
    print(f"Machine: {machine()} (nproc {os.cpu_count()}); SQLAlchemy {sqlalchemy.__version__};"
          f" PostgreSQL {pg_version or 'not reachable, skipped'} on the same machine. Accepted"
          " sends, spam detectors off; each process its own engine, Store and pool.")
    print()
    print(f"synchronous_commit: {args.synchronous_commit or 'server default'}; commit_delay:"
          f" {'server default' if args.commit_delay is None else args.commit_delay}"
          f"{'' if args.commit_delay is None else ' µs, commit_siblings 1'}.")
    print()
    rounds = args.rounds > 1
    print(f"| {'round | ' if rounds else ''}database | senders | processes | send path | sends |"
          " sends/s | p50 µs | p99 µs | client CPU µs/send | server CPU µs/send | machine busy |"
          " vs 1 process |")
    print(f"|{'---:|' if rounds else ''}---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    # Each row against the same round's one-process row of its case: a same-run ratio.
    one = {(r[0], r[1], r[2], r[4]): r[5]["rate"] for r in rows if r[3] == 1}
    ratios: dict[tuple[str, str, int, str], list[float]] = {}
    for round_, name, senders, processes, path, r in rows:
        assert r["accepted"] == r["n"], "every send should be accepted"
        base = one.get((round_, name, senders, path))
        ratio = f"{r['rate'] / base:.2f}x" if base else ""
        if base:
            ratios.setdefault((name, senders, processes, path), []).append(r["rate"] / base)
        server = "" if r["server"] is None else f"{r['server']:,.0f}"
        busy = "" if r["busy"] is None else f"{r['busy']:.0%}"
        print(f"| {f'{round_} | ' if rounds else ''}{name} | {senders} | {processes} | {path} |"
              f" {r['n']:,} | {r['rate']:,.0f} | {r['p50']:,.0f} | {r['p99']:,.0f} |"
              f" {r['cpu']:,.0f} | {server} | {busy} | {ratio} |")
    print()
    if rounds:
        _print_medians(rows, ratios, args.rounds)
    print(f"Load average when done: {', '.join(f'{x:.1f}' for x in os.getloadavg())}.")


def _print_medians(rows: list[tuple[int, str, str, int, str, dict[str, Any]]],
                   ratios: dict[tuple[str, str, int, str], list[float]], rounds: int) -> None:
    """Each case's medians over the rounds, and its ratio to one process (median, range)."""
    from statistics import median

    cases: dict[tuple[str, str, int, str], list[dict[str, Any]]] = {}
    for _, name, senders, processes, path, r in rows:
        cases.setdefault((name, senders, processes, path), []).append(r)
    print(f"Medians over {rounds} rounds:")
    print()
    print("| database | senders | processes | send path | sends/s | p50 µs | machine busy |"
          " vs 1 process (median, range) |")
    print("|---|---|---:|---|---:|---:|---:|---|")
    for (name, senders, processes, path), found in cases.items():
        busy = [r["busy"] for r in found if r["busy"] is not None]
        spread = ratios.get((name, senders, processes, path), [])
        ratio = (f"{median(spread):.2f}x ({min(spread):.2f}-{max(spread):.2f})"
                 if spread and processes != 1 else "")
        print(f"| {name} | {senders} | {processes} | {path} |"
              f" {median(r['rate'] for r in found):,.0f} |"
              f" {median(r['p50'] for r in found):,.0f} |"
              f" {f'{median(busy):.0%}' if busy else ''} | {ratio} |")
    print()


if __name__ == "__main__":
    main()
