"""How a PostgreSQL send runs its two statements, before and after session 11, alternating
inside one process: client and server CPU µs per send, paired by round.

Run: ``.venv/bin/python benchmarks/bench_pg_fetch.py [--rounds N] [--per-batch N]``.

``bench_pg_cpu.py``'s workload and service (100 senders that have all sent before, spam
detectors off, every send accepted, a scratch schema dropped afterwards). Every batch of sends
runs the read and the write one of two ways, the order alternating from round to round:

* **cursor**: as before session 11, one kept binary cursor per connection,
  ``cursor.execute(sql, params, prepare=True)`` and ``fetchone()`` (psycopg builds the
  cursor's ``Transformer`` again whenever the statement differs from its last one: the read
  and the write alternate on it);
* **fetch_one**: ``store/sendconn.fetch_one``, the driver's lowest level, a ``Transformer``
  per statement.

Both sides of every pair share the machine's load of the moment, which on a shared machine
moves a whole run by ±30 %: read the paired medians. Client CPU is this process's
(``time.process_time``), server CPU its backends' (``/proc/<pid>/schedstat``).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from bench_pg import _pg_schema, _policy, _setup
from bench_pg_cpu import _ran_ns
from bench_service import _message, pg_url_or_say


def _cursor_way() -> Callable[[Any, Any, Sequence[Any]], Any]:
    """``fetch_one``'s signature, run the way the send path ran before session 11."""
    cursors: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
    texts: dict[Any, str] = {}

    def fetch_one(conn: Any, statement: Any, params: Sequence[Any]) -> Any:
        cur = cursors.get(conn)
        if cur is None or cur.closed:
            cur = cursors[conn] = conn.cursor(binary=True)
        sql = texts.get(statement)
        if sql is None:  # the statement's %(name)s / %s form again
            names = statement.names
            sql = texts[statement] = re.sub(
                r"\$(\d+)", lambda m: f"%({names[int(m.group(1)) - 1]})s" if names else "%s",
                statement.sql.decode())
        cur.execute(sql, dict(zip(statement.names, params, strict=True)) if statement.names
                    else params, prepare=True)
        return cur.fetchone()

    return fetch_one


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--per-batch", type=int, default=150, help="sends per batch")
    args = parser.parse_args()
    pg = pg_url_or_say()
    if pg is None:
        return
    from sqlalchemy import event

    import inmail_guard as ig
    from inmail_guard.service import InMailService
    from inmail_guard.store import sendconn

    ways = {"cursor": _cursor_way(), "fetch_one": sendconn.fetch_one}
    url, (_, drop) = _pg_schema(pg)
    results: dict[str, tuple[list[float], list[float]]] = {w: ([], []) for w in ways}
    try:
        senders = [f"s{i}" for i in range(100)]
        _setup(url, senders)
        rng = random.Random(7)
        messages = iter([_message(ig, senders[i % 100], rng)
                         for i in range(300 + args.rounds * args.per_batch * len(ways))])
        with InMailService(_policy(), url) as svc:
            backends: set[int] = set()
            event.listen(svc.store.db, "connect",
                         lambda conn, _record: backends.add(conn.info.backend_pid))
            svc.store.db.dispose()
            for _ in range(300):  # accounts opened, statements prepared, pool filled
                svc.send(next(messages))
            try:
                for r in range(args.rounds):
                    for name in (list(ways) if r % 2 == 0 else list(ways)[::-1]):
                        sendconn.fetch_one = ways[name]
                        batch = [next(messages) for _ in range(args.per_batch)]
                        svc.send(batch[0])  # each way's statements prepared before timing
                        ran, cpu = _ran_ns(backends), time.process_time()
                        for m in batch[1:]:
                            assert svc.send(m).accepted
                        n = args.per_batch - 1
                        results[name][0].append((time.process_time() - cpu) / n * 1e6)
                        results[name][1].append((_ran_ns(backends) - ran) / n / 1e3)
            finally:
                sendconn.fetch_one = ways["fetch_one"]
    finally:
        drop()
    for name, (client, server) in results.items():
        both = [c + s for c, s in zip(client, server, strict=True)]
        print(f"{name:9s}: client {min(client):.0f} best / {statistics.median(client):.0f}"
              f" median, server {min(server):.0f} / {statistics.median(server):.0f}, both"
              f" {min(both):.0f} / {statistics.median(both):.0f} CPU µs/send")
    (c0, s0), (c1, s1) = results["cursor"], results["fetch_one"]
    dc = statistics.median(b - a for a, b in zip(c0, c1, strict=True))
    ds = statistics.median(b - a for a, b in zip(s0, s1, strict=True))
    print(f"fetch_one - cursor, median of {args.rounds} paired rounds: client {dc:+.1f},"
          f" server {ds:+.1f} µs/send; {args.per_batch - 1} sends a batch;"
          f" load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
