"""The database being down or slow, as one error: :class:`StoreUnavailable`.

:func:`unavailable_as_error` wraps every transaction (``Store.write``, ``Store.read``,
``raw_write``): a driver or pool error that means "the database cannot serve this now"
(cannot connect, connection lost, a lock or statement timeout, no pooled connection free)
becomes ``StoreUnavailable``, a store error with code ``database_unavailable`` (HTTP 503 with
``Retry-After``); the service maps it to its own ``ServiceError`` of that code
(:mod:`inmail_guard.service.errors`). The transaction it happened in was rolled back whole, so
the caller may simply retry. Other errors (integrity, data) pass through unchanged.

The message never quotes the driver's text: it can carry SQL parameters, i.e. message bodies.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import exc as sa_exc

#: reason -> what it means, for the error message (and docs/deploy.md).
REASONS: dict[str, str] = {
    "lock_timeout": "a lock was not granted within the lock timeout (another transaction"
                    " holds it)",
    "statement_timeout": "a statement ran longer than the statement timeout",
    "pool_timeout": "no database connection was free within the pool timeout",
    "send_threads": "every send thread of this process stayed busy for the pool timeout",
    "conflict": "a deadlock or serialization failure; the transaction was rolled back",
    "connection": "the database cannot be reached or the connection was lost",
}

# SQLSTATE: 08xxx connection exception; 57P0x operator intervention (shutdown,
# pg_terminate_backend, idle session timeout); 25P03 idle-in-transaction timeout; 53300 too many
# connections.
_BY_SQLSTATE = {"55P03": "lock_timeout", "57014": "statement_timeout",
                "40001": "conflict", "40P01": "conflict"}
_SESSION_ENDED = {"57P01", "57P02", "57P03", "57P05", "25P03", "53300"}


class StoreUnavailable(Exception):
    """The database cannot serve the request now; nothing was written. ``reason`` is one of
    :data:`REASONS`. ``code``, ``status``, ``message`` and ``field`` spell it as every coded
    error does (what the HTTP API maps), so a caller of the store alone answers it the same."""

    code = "database_unavailable"
    status = 503
    field: str | None = None

    def __init__(self, reason: str) -> None:
        self.message = (f"the database is unavailable ({reason}: {REASONS[reason]});"
                        " nothing was changed; retry later")
        super().__init__(self.message)
        self.reason = reason

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message}


def _unavailable_classes() -> tuple[type[BaseException], ...]:
    classes: list[type[BaseException]] = [
        sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.DisconnectionError,
        sa_exc.TimeoutError, sqlite3.OperationalError, sqlite3.InterfaceError]
    try:
        import psycopg
    except ImportError:  # pragma: no cover - SQLite-only installs
        pass
    else:
        classes += [psycopg.OperationalError, psycopg.InterfaceError]
    return tuple(classes)


_UNAVAILABLE = _unavailable_classes()


def unavailable_reason(exc: BaseException) -> str | None:
    """Why ``exc`` means the database is unavailable, or None if it means something else."""
    if isinstance(exc, sa_exc.TimeoutError):
        return "pool_timeout"
    orig: Any = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    sqlstate = getattr(orig, "sqlstate", None) or ""
    reason = _BY_SQLSTATE.get(sqlstate)
    if reason is not None:
        return reason
    # Some of these come as InternalError (e.g. 25P03, the idle-in-transaction timeout).
    if sqlstate.startswith("08") or sqlstate in _SESSION_ENDED:
        return "connection"
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return "connection"
    if not isinstance(exc, _UNAVAILABLE):
        return None
    if isinstance(orig, sqlite3.OperationalError) and "locked" in str(orig):
        return "lock_timeout"  # SQLite's busy timeout ran out
    return "connection"


class _UnavailableAsError:
    """:func:`unavailable_as_error`'s context manager. A class, not ``@contextmanager``: it
    holds no state, so one instance serves every block (nested and in every thread), and a
    PostgreSQL send enters it twice: a generator, its context-manager object and their
    frames cost ~1 µs of CPU each time on the send path."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, typ: type[BaseException] | None, exc: BaseException | None,
                 tb: Any) -> bool:
        if exc is None or not isinstance(exc, Exception) or isinstance(exc, StoreUnavailable):
            return False
        reason = unavailable_reason(exc)
        if reason is None:
            return False
        raise StoreUnavailable(reason) from exc


_AS_ERROR = _UnavailableAsError()


def unavailable_as_error() -> AbstractContextManager[None]:
    """Re-raise "database unavailable" errors from the block as :class:`StoreUnavailable`."""
    return _AS_ERROR


__all__ = ["REASONS", "StoreUnavailable", "unavailable_as_error", "unavailable_reason"]
