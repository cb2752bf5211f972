"""Where ``InMailService.send_nowait`` spends its CPU on SQLite, by part, in one process.

    .venv/bin/python benchmarks/bench_sqlite_send_parts.py [--sends 3000]
    PYTHONPATH=/tmp/base/src .venv/bin/python benchmarks/bench_sqlite_send_parts.py  # another tree

The service as ``serve`` builds it (``create_app``, access log off, ``gc.freeze()`` after the
warm-up) on a SQLite file seeded as ``bench_http.py`` seeds it, sending the same bodies as
``bench_http.py --cases send``. Thread CPU, timed around each part by wrappers set up before
the run (the wrappers' own cost, ~1 µs a part, is included in the parts and the total):

* the read (``sends.read_unlocked``), ``_outcome`` (ids, the InMail, the body's fingerprint,
  the decision's JSON), ``write_if_unchanged`` and within it ``write_send`` (the SQL);
* the SQLite write transaction of a no-wait send: taking the locks, the two ``busy_timeout``
  pragmas and ``BEGIN IMMEDIATE``, the statements, the ``COMMIT``;
* each statement's ``execute`` on the driver (``--statements``: a separate run, since timing
  every statement perturbs the others).

Evaluation and the rest are the total minus the parts. Compare trees by the total, alternating.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import bench_http
from _harness import machine

clock = time.thread_time_ns
spent: dict[str, int] = {}
counts: dict[str, int] = {}


def _add(label: str, ns: int) -> None:
    spent[label] = spent.get(label, 0) + ns
    counts[label] = counts.get(label, 0) + 1


def _timed(owner: Any, name: str, label: str) -> None:
    inner: Callable[..., Any] = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        start = clock()
        try:
            return inner(*args, **kwargs)
        finally:
            _add(label, clock() - start)

    setattr(owner, name, timed)


def _instrument(statements: bool) -> None:
    from inmail_guard.service import send as send_module
    from inmail_guard.store import db as db_module
    from inmail_guard.store import sendpath, sends

    _timed(sends, "read_unlocked", "read (read_unlocked)")
    _timed(send_module, "_outcome", "outcome (_outcome)")
    _timed(sends, "write_if_unchanged", "write_if_unchanged")
    _timed(sendpath, "write_send", "  of which write_send")
    if statements:
        def execute(self: Any, stmt: Any, params: dict[str, Any]) -> Any:
            prepared = self._prepared(stmt)
            values = self._params(prepared, params)
            start = clock()
            self.cursor.execute(prepared.sql, values)
            _add("execute: " + " ".join(prepared.sql.split())[:56], clock() - start)
            return prepared

        db_module.RawDb._execute = execute
        return

    # The no-wait write transaction, step by step (raw_write_nowait's own steps, timed).
    @contextlib.contextmanager
    def nowait(store: Any) -> Iterator[Any]:
        t0 = clock()
        with store.writer_nowait(db_module.NOWAIT_SPIN_SECONDS), \
                db_module.unavailable_as_error():
            raw = store.writer_connection()
            cursor = raw.cursor()
            t1 = clock()
            cursor.execute("PRAGMA busy_timeout=0")
            cursor.execute("BEGIN IMMEDIATE")
            cursor.execute(f"PRAGMA busy_timeout={db_module._busy_ms(store)}")
            t2 = clock()
            _add("  write: locks, connection", t1 - t0)
            _add("  write: 2 pragmas + BEGIN IMMEDIATE", t2 - t1)
            with db_module._writer_transaction(raw, cursor, store) as db:
                t3 = clock()
                yield db
                t4 = clock()
                _add("  write: statements (and their Python)", t4 - t3)
            _add("  write: COMMIT", clock() - t4)

    send_module.raw_write_nowait = nowait  # type: ignore[assignment]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sends", type=int, default=3000)
    parser.add_argument("--senders", type=int, default=bench_http.SENDERS)
    parser.add_argument("--statements", action="store_true",
                        help="time each statement's execute instead of the write's steps")
    args = parser.parse_args()

    from pydantic import TypeAdapter

    import inmail_guard
    from inmail_guard.api.models import SendRequest
    from inmail_guard.api.responses import loads

    _instrument(args.statements)
    adapter = TypeAdapter(SendRequest)
    warm = 200
    messages = [adapter.validate_python(loads(bench_http.send_body(i, args.senders))).message
                for i in range(args.sends + warm)]
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "parts.db"
        app = bench_http.seeded_app(db, args.senders)
        service = app.state.services.get()
        for message in messages[:warm]:
            service.send_nowait(message)
        gc.collect()
        gc.freeze()  # as serve does after start-up
        spent.clear()
        counts.clear()
        start = clock()
        for message in messages[warm:]:
            result = service.send_nowait(message)
            assert result is not None and result.accepted, "a send was not accepted"
        total = clock() - start
        service.close()
    n = args.sends
    tree = inmail_guard.__file__.rsplit("/src/", 1)[0]
    print(f"{tree}: CPU µs per send_nowait, in process ({n:,} sends, {args.senders:,} senders)")
    print(f"  {'whole send':44s} {total / n / 1000:7.1f}")
    for label, ns in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"  {label:44s} {ns / n / 1000:7.1f}   ({counts[label] / n:.2f} per send)")
    print(f"load average {os.getloadavg()[0]:.2f}; {machine()}")


if __name__ == "__main__":
    sys.exit(main())
