"""A PostgreSQL send's read statement alone: server (backend) and client CPU per read, this
tree's statement alternating with another tree's on one connection.

Run: ``.venv/bin/python benchmarks/bench_pg_read.py --baseline-src /tmp/base/src [--rounds N]``
(the other tree: ``git archive <commit> src | tar -x -C /tmp/base``). Without
``--baseline-src`` only this tree's statement runs.

Data: ``bench_pg.py``'s workload (100 senders, 3,000 sends through ``InMailService``, so each
sender has ~30 recent sends) in a scratch schema dropped afterwards. Each tree's statement is
built by that tree's own ``send_read_query`` (a send without an idempotency key, spam
detectors off: no bodies) and run the way a send runs it: a binary cursor, prepared, one row
fetched. Server CPU is the backend's run time from ``/proc/<pid>/schedstat`` (the server must
be on this machine); client CPU this process's, the driver's execute and fetch only.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
from typing import Any

from bench_pg import _pg_schema, _policy, _setup
from bench_service import _message, pg_url_or_say

_DUMP = r"""
import json
from datetime import UTC, datetime, timedelta
from sqlalchemy.dialects import postgresql
try:
    from inmail_guard.store.sendquery import send_read_query
except ImportError:  # before store/sendquery.py
    from inmail_guard.store.facts import send_read_query
now = datetime(2026, 1, 15, tzinfo=UTC)
stmt, _ = send_read_query("s", "r", now, now, idempotency_key=None,
                          expire_after=timedelta(days=7), abuse_window=timedelta(days=30),
                          bodies_window=None)
compiled = stmt.compile(dialect=postgresql.dialect())
print(json.dumps({"sql": str(compiled),
                  "limits": {k: v for k, v in compiled.params.items() if isinstance(v, int)}}))
"""


def _statement(src: str | None) -> dict[str, Any]:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = src
    out = subprocess.run([sys.executable, "-c", _DUMP], env=env, capture_output=True,
                         text=True, check=True).stdout
    return json.loads(out)  # type: ignore[no-any-return]


def _fill(url: str) -> None:
    import inmail_guard as ig
    from inmail_guard.service import InMailService

    senders = [f"s{i}" for i in range(100)]
    _setup(url, senders)
    rng = random.Random(7)
    with InMailService(_policy(), url) as svc:
        for i in range(3000):
            assert svc.send(_message(ig, senders[i % 100], rng)).accepted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-src", help="the other tree's src directory")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--reads", type=int, default=1000, help="reads per round and tree")
    args = parser.parse_args()
    pg = pg_url_or_say()
    if pg is None:
        return
    trees = {"this tree": _statement(None)}
    if args.baseline_src:
        trees["baseline"] = _statement(args.baseline_src)
    url, (_, drop) = _pg_schema(pg)
    try:
        _fill(url)
        results = _measure(url, trees, args.rounds, args.reads)
    finally:
        drop()
    for name, (server, client) in results.items():
        print(f"{name:9s}: server {min(server):.1f} best / {statistics.median(server):.1f}"
              f" median CPU µs/read; client (execute and fetch) {min(client):.1f} /"
              f" {statistics.median(client):.1f}")
    print(f"{args.rounds} rounds x {args.reads} reads; load {os.getloadavg()[0]:.1f}")


def _measure(url: str, trees: dict[str, dict[str, Any]], rounds: int,
             reads: int) -> dict[str, tuple[list[float], list[float]]]:
    from datetime import UTC, datetime, timedelta

    import psycopg
    from sqlalchemy.engine import make_url

    from inmail_guard.service import InMailService

    with InMailService(_policy(), url) as svc:
        now = svc.ctx.now()
        window, _ = svc.ctx.active.windows(now)
    u = make_url(url)
    conn = psycopg.connect(host=u.host, port=u.port, user=u.username, dbname=u.database,
                           autocommit=True, options=u.query["options"] + " -cTimeZone=UTC")
    cur = conn.cursor(binary=True)
    pid = conn.info.backend_pid
    now = datetime.now(UTC)
    common = {"w": window, "reports_since": now - timedelta(days=30),
              "pending_since": now - timedelta(days=7), "now": now,
              "since": now - timedelta(hours=24)}

    def ran_ns() -> int:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0])

    def read(tree: dict[str, Any], i: int) -> None:
        params = {**tree["limits"], **common, "s": f"s{i % 100}", "r": f"r{i % 50}"}
        if "%(k)s" in tree["sql"]:
            params["k"] = None
        cur.execute(tree["sql"], params, prepare=True)
        assert cur.fetchone() is not None

    for tree in trees.values():  # prepared, and past the plan cache's custom plans
        for i in range(200):
            read(tree, i)
    results: dict[str, tuple[list[float], list[float]]] = {n: ([], []) for n in trees}
    for _ in range(rounds):
        for name, tree in trees.items():
            ran, cpu = ran_ns(), time.process_time()
            for i in range(reads):
                read(tree, i)
            results[name][0].append((ran_ns() - ran) / reads / 1e3)
            results[name][1].append((time.process_time() - cpu) / reads * 1e6)
    conn.close()
    return results


if __name__ == "__main__":
    main()
