"""A sender's recent history on the send path: what 0, 50 and 200 recent sends with bodies cost.

Run: ``.venv/bin/python benchmarks/bench_history.py [--databases sqlite,postgresql]`` (both by
default, PostgreSQL when ``INMAIL_GUARD_TEST_PG_URL`` or the local test server answers: a
scratch schema per case, dropped after).
A/B against another checkout, alternating in one shell (same load for both)::

    git archive main src | tar -x -C /tmp/base
    cp src/inmail_guard/_speedups*.so /tmp/base/src/inmail_guard/
    for i in 1 2 3; do
      PYTHONPATH=/tmp/base/src .venv/bin/python benchmarks/bench_history.py
      .venv/bin/python benchmarks/bench_history.py
    done

For each history size a fresh store gets one heavy sender who sent ``N`` accepted InMails (a
distinct 40-word body each, to its own recipient, all within the last 24 hours, at irregular
intervals) through ``InMailService.send``. The next send's read and facts are then
captured as the service makes them, and timed on their own:

* **read**: ``store.sends.read_unlocked`` with the send's own arguments (the read of the
  account, both members, the facts, the recent send times and body fingerprints), p50 wall µs
  (PostgreSQL: the local server's round trip included, a pooled connection per read);
* **evaluate**: ``Engine.evaluate`` of a 100-word InMail with the facts that read returned
  (the shipped default policy, every detector; bulk compares the body with all ``N``), p50:
  once the same message again and again (as ``bench_engine.py`` measures, the detectors'
  per-body caches warm), once a new 100-word body each call (as sends are: the bulk detector
  fingerprints each one);
* **send** (SQLite): CPU µs per ``InMailService.send`` of the same heavy sender, best of
  batches, the clock moving on so the sender's history stays at ``N`` sends in the last 24h.

The policy is the shipped default with the volume limits raised (a heavy sender on a plan the
operator allows that many sends) so every send is accepted and written: the full send path.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from itertools import cycle
from pathlib import Path
from typing import Any
from urllib.parse import quote

from _harness import time_calls
from bench_engine import _PROSE, BODY
from bench_service import _pg_url

PLAN = "bench_unlimited"
SIZES = (0, 50, 200)
DAY = timedelta(hours=24)


def _policy() -> Any:
    import inmail_guard as ig
    from inmail_guard.policies.schema import Plan

    policy = ig.default_policy()
    detectors = dict(policy.spam.detectors)
    detectors["volume"] = {**detectors["volume"], "per_hour": 1000, "per_day": 10_000}
    return policy.model_copy(update={
        "spam": policy.spam.model_copy(update={"detectors": detectors}),
        "plans": {**policy.plans, PLAN: Plan(monthly_credits=1_000_000)},
    })


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _body(rng: random.Random, words: int = 40) -> str:
    """A distinct recruiter's note: 40 words drawn from bench_engine's prose."""
    return "Hi, " + " ".join(rng.choice(_PROSE) for _ in range(words)) + "."


def _setup(store: Any, recipients: int) -> None:
    from inmail_guard.store import tables as t

    now = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [{"id": "heavy", "plan": PLAN}] + [{"id": f"r{i}", "plan": "basic"}
                                              for i in range(recipients)]
    with store.write() as conn:
        conn.execute(t.members.insert(), [
            {**r, "profile_public": True, "accepts_inmail": True, "is_employee": False,
             "name": r["id"], "photo_url": None, "created_at": now, "updated_at": now}
            for r in rows])


def _jitter(rng: random.Random, spacing: timedelta) -> timedelta:
    # People do not send every 432.0 s: the automation detector must see human cadence.
    return spacing * rng.uniform(0.5, 1.5)


def case(url: str, n: int, send_batches: int, per_batch: int,
         timer: Callable[..., Any] = time_calls) -> dict[str, float]:
    import inmail_guard as ig
    from inmail_guard.service import InMailService
    from inmail_guard.store import Store, sends

    rng = random.Random(n)
    store = Store(url)
    extra = send_batches * per_batch + 50
    _setup(store, n + extra + 1)
    # N sends a day, so that N stay within the last 24 hours while the sender goes on.
    spacing = DAY / max(n, 1)
    clock = Clock(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))
    out: dict[str, float] = {}
    with InMailService(_policy(), store, clock=clock) as svc:
        for i in range(n):  # all N within ~0.8 of a day, whatever the jitter
            clock.now += _jitter(rng, spacing * 0.8)
            sent = svc.send(ig.Message("heavy", f"r{i}", "A role", _body(rng)))
            assert sent.accepted, (i, sent.decision.codes, sent.decision.spam)
        clock.now += _jitter(rng, spacing)
        captured: list[tuple[Any, Any, Any]] = []
        read = sends.read_unlocked

        def capture(*args: Any, **kwargs: Any) -> Any:
            found = read(*args, **kwargs)
            captured.append((args, kwargs, found))
            return found

        sends.read_unlocked = capture
        try:
            probe = ig.Message("heavy", f"r{n}", "Staff engineer role at Acme", BODY)
            assert svc.send(probe).accepted
        finally:
            sends.read_unlocked = read
        args, kwargs, found = captured[-1]
        facts = found.facts
        assert len(facts.recent_bodies) == n, (len(facts.recent_bodies), n)
        engine = svc.engine
        message = ig.Message("heavy", "r-next", "Staff engineer role at Acme", BODY)
        decision = engine.evaluate(message, facts)
        assert decision.outcome == "accepted", decision.codes
        # The read holds no lock and writes nothing: timing it again reads the same rows.
        kwargs = {**kwargs, "conn": None}
        out["read"] = timer("read", lambda: read(*args, **kwargs), 2000, 200).p50_us
        out["evaluate"] = timer("evaluate", lambda: engine.evaluate(message, facts),
                                     4000, 400).p50_us
        # The same with a new body each call, as sends are: 64 bodies in turn, more than the
        # detectors' per-body caches hold (32), so none is remembered from a previous call.
        fresh = cycle([ig.Message("heavy", "r-next", "Staff engineer role at Acme",
                                  _body(random.Random(i), 100)) for i in range(64)])
        out["evaluate_new"] = timer("evaluate, a new body each call",
                                    lambda: engine.evaluate(next(fresh), facts), 4000,
                                    400).p50_us
        if send_batches:
            best = float("inf")
            r = n + 1
            for _ in range(send_batches):
                batch = []
                for _ in range(per_batch):
                    batch.append(ig.Message("heavy", f"r{r}", "A role", _body(rng)))
                    r += 1
                start = time.process_time()
                for m in batch:
                    clock.now += _jitter(rng, spacing)
                    assert svc.send(m).accepted
                best = min(best, (time.process_time() - start) / per_batch)
            out["send"] = best * 1e6
    store.close()
    return out


@contextmanager
def _database(name: str, tmp: str) -> Iterator[Callable[[int], str]]:
    if name == "sqlite":
        yield lambda n: f"sqlite:///{Path(tmp) / f'history-{n}-{uuid.uuid4().hex[:6]}.db'}"
        return
    pg = _pg_url()
    if pg is None:
        raise SystemExit("PostgreSQL: not reachable (set INMAIL_GUARD_TEST_PG_URL)")
    from sqlalchemy import create_engine, text

    admin = create_engine(pg, isolation_level="AUTOCOMMIT")
    schemas: list[str] = []

    def url(n: int) -> str:
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        schemas.append(schema)
        return f"{pg}{'&' if '?' in pg else '?'}options={quote(f'-csearch_path={schema}')}"

    try:
        yield url
    finally:
        with admin.connect() as conn:
            for schema in schemas:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", default=None,
                        help="sqlite,postgresql (default: both, PostgreSQL when it answers)")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--send-batches", type=int, default=5)
    parser.add_argument("--per-batch", type=int, default=100)
    args = parser.parse_args()
    import inmail_guard as ig

    tree = ig.__file__.rsplit("/src/", 1)[0]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{tree} (load {load})")
    print("| database | recent sends with bodies | read p50 µs | evaluate p50 µs |"
          " evaluate p50 µs, a new body each call | send CPU µs (SQLite) |")
    print("|---|---:|---:|---:|---:|---:|")
    databases = args.databases.split(",") if args.databases else ["sqlite"]
    if args.databases is None:
        if _pg_url() is not None:
            databases.append("postgresql")
        else:
            print("PostgreSQL: not reachable, skipped (set INMAIL_GUARD_TEST_PG_URL).")
    with tempfile.TemporaryDirectory() as tmp:
        for db in databases:
            with _database(db, tmp) as url:
                for n in map(int, args.sizes.split(",")):
                    batches = args.send_batches if db == "sqlite" else 0
                    got = case(url(n), n, batches, args.per_batch)
                    send = f"{got['send']:,.0f}" if "send" in got else ""
                    print(f"| {db} | {n} | {got['read']:,.1f} | {got['evaluate']:,.1f} |"
                          f" {got['evaluate_new']:,.1f} | {send} |", flush=True)


if __name__ == "__main__":
    main()
