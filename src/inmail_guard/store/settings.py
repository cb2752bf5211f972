"""How long the store may wait, and how many connections it keeps: :class:`StoreSettings`.

Every wait on the database is bounded, so a request fails fast with ``database_unavailable``
(see :mod:`inmail_guard.store.errors`) instead of hanging when the database is down or slow:

=====================  ===========  ===================================================
setting                default      bounds
=====================  ===========  ===================================================
``connect_timeout``    5 s          opening a connection (PostgreSQL; psycopg's minimum is 2 s)
``pool_timeout``       5 s          waiting for a free pooled connection (both databases)
``lock_timeout``       5 s          waiting for a row lock, e.g. the sender's account (PostgreSQL)
``statement_timeout``  30 s         any one statement (PostgreSQL)
``idle_in_transaction_timeout``  60 s  a transaction left idle, e.g. by a hung process
                                   holding a sender's lock (PostgreSQL ends the session)
``network_timeout``    10 s         the network under a connection (PostgreSQL): data the server
                                   has not acknowledged after this long (``tcp_user_timeout``),
                                   or an idle connection whose keepalives go unanswered for
                                   about as long, fail the connection
``response_timeout``   35 s         any one answer from the server (a statement, a commit, the
                                   pool's ping), whatever the network does: the client then
                                   drops the connection. Keep it above ``statement_timeout``
``ready_timeout``      2 s          the database check of ``/readyz`` (503 when it runs out)
``sqlite_busy_timeout``  60 s       waiting for SQLite's single write lock
``sqlite_checkpoint_interval``  0.25 s  how often a background thread checkpoints the WAL
                                   (0: no thread, SQLite checkpoints in the committing
                                   connection every 1,000 pages, as it does by default)
=====================  ===========  ===================================================

``pool_size`` (5) and ``max_overflow`` (5) cap the connections one process opens at 10.
``send_threads`` (4) is not a bound on a wait but on a process's concurrency: how many sends
one HTTP worker runs at once on threads of its own (``api/sendthreads.py``); a send that finds
them all busy waits up to ``pool_timeout`` for one.
Each can be set from the environment (``INMAIL_GUARD_DB_POOL_SIZE``,
``INMAIL_GUARD_DB_LOCK_TIMEOUT``..., seconds as decimals), which is what a ``Store`` built
without explicit settings reads, so every server process and worker picks them up. Every
timeout must be more than 0 (:data:`BOUNDS`): a wait on the database is always bounded. See
docs/deploy.md.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

ENV_PREFIX = "INMAIL_GUARD_DB_"


@dataclass(frozen=True, slots=True)
class StoreSettings:
    pool_size: int = 5
    max_overflow: int = 5
    pool_timeout: float = 5.0
    connect_timeout: float = 5.0
    lock_timeout: float = 5.0
    statement_timeout: float = 30.0
    idle_in_transaction_timeout: float = 60.0
    network_timeout: float = 10.0
    response_timeout: float = 35.0
    ready_timeout: float = 2.0
    sqlite_busy_timeout: float = 60.0
    sqlite_checkpoint_interval: float = 0.25
    send_threads: int = 4

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in BOUNDS:
                if not (math.isfinite(value) and value > 0):
                    raise ValueError(f"store setting {f.name} must be more than 0 seconds;"
                                     f" found {value!r}. {_BOUNDED}")
            elif value < _MINIMUM.get(f.name, 0):
                raise ValueError(f"store setting {f.name} must be >="
                                 f" {_MINIMUM.get(f.name, 0)}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StoreSettings:
        """Defaults overridden by ``INMAIL_GUARD_DB_<NAME>`` variables (name upper-cased)."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw in (None, ""):
                continue
            kind = int if f.type in ("int", int) else float
            unit = _UNITS.get(f.name, "connections" if kind is int else "seconds")
            minimum = _MINIMUM.get(f.name, 0)
            try:
                values[f.name] = kind(raw)
            except ValueError:
                values[f.name] = None
            value = values[f.name]
            if f.name in BOUNDS:
                if value is None or not (math.isfinite(value) and value > 0):
                    raise ValueError(f"{ENV_PREFIX}{f.name.upper()} must be a number of"
                                     f" seconds (more than 0); found {raw!r}. {_BOUNDED}")
            elif value is None or not (math.isfinite(value) and value >= minimum):
                raise ValueError(f"{ENV_PREFIX}{f.name.upper()} must be a number of {unit}"
                                 f" (at least {minimum}); found {raw!r}")
        return cls(**values)

    def postgres_session(self) -> dict[str, str]:
        """The session settings every PostgreSQL connection gets (``SET`` on connect).

        ``TimeZone`` UTC: every time the store reads is UTC (nothing in its SQL depends on the
        session's zone), and psycopg then hands ``timestamptz`` values back in UTC already
        (its ``timezone.utc``), so neither the driver nor the store converts each one: half
        the cost of loading a sender's 24 h of send times (``store/db.py``)."""
        return {"TimeZone": "UTC", "lock_timeout": _ms(self.lock_timeout),
                "statement_timeout": _ms(self.statement_timeout),
                "idle_in_transaction_session_timeout": _ms(self.idle_in_transaction_timeout)}

    def postgres_network(self) -> dict[str, int]:
        """libpq connection parameters that bound a silent network: ``tcp_user_timeout`` fails
        a connection whose data goes unacknowledged (packets dropped, not refused), and TCP
        keepalives find a dead peer under an idle pooled connection within about as long."""
        seconds = max(self.network_timeout, 2.0)
        idle = max(1, int(seconds / 2))
        interval = max(1, int((seconds - idle) / 3))
        return {"keepalives": 1, "keepalives_idle": idle, "keepalives_interval": interval,
                "keepalives_count": 3, "tcp_user_timeout": round(seconds * 1000)}

    def postgres_connect_timeout(self) -> int:
        # libpq/psycopg take whole seconds, at least 2 (0 would mean "wait forever").
        return max(2, round(self.connect_timeout))


#: The settings that bound a wait: each must be more than 0 seconds, and finite. 0 meant "no
#: limit" to some of the waits (PostgreSQL's timeouts, libpq's connect) and "do not wait at
#: all" to others (the pool, SQLite's busy handler): neither is a bound, so neither is taken.
BOUNDS = frozenset({
    "pool_timeout", "connect_timeout", "lock_timeout", "statement_timeout",
    "idle_in_transaction_timeout", "network_timeout", "response_timeout", "ready_timeout",
    "sqlite_busy_timeout"})
_BOUNDED = ("Every wait on the database is bounded: for a long one give a large number,"
            " such as 3600")
#: Lower bounds other than 0. A pool of 0 would mean "no limit" to SQLAlchemy.
_MINIMUM = {"pool_size": 1, "send_threads": 1}
#: What an integer setting counts, for its error message (the others count connections).
_UNITS = {"send_threads": "threads"}


def to_ms(seconds: float) -> int:
    """Whole milliseconds, rounded up: a timeout under half a millisecond rounded to 0, which
    PostgreSQL (``lock_timeout``, ``statement_timeout``) reads as no limit at all."""
    return math.ceil(seconds * 1000)


def _ms(seconds: float) -> str:
    return f"{to_ms(seconds)}ms"


__all__ = ["BOUNDS", "ENV_PREFIX", "StoreSettings", "to_ms"]
