"""Shared fixtures: a ``store`` over SQLite and PostgreSQL, a movable ``clock``, a ``service``.

PostgreSQL: ``INMAIL_GUARD_TEST_PG_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``). Each test gets its own schema, dropped
afterwards. Without a server the PostgreSQL cases skip, saying how to enable them; with
``CI=true`` they fail instead, so CI cannot silently test SQLite only.

Redis: ``INMAIL_GUARD_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``), the same way:
each test gets a key prefix of its own (``redis_prefix``), whose keys are deleted afterwards.

Slow tests (``@pytest.mark.slow``: several processes, real timeouts, a network partition, a
package build) are left out of a local run; ``--run-slow``, ``CI=true`` (``.ci/run``) or an
explicit ``-m`` expression runs them (README, "Testing").
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from urllib.parse import quote

import pytest

from unavailable import skip_or_fail

PG_ENV = "INMAIL_GUARD_TEST_PG_URL"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REDIS_ENV = "INMAIL_GUARD_TEST_REDIS_URL"
REDIS_DEFAULT = "redis://127.0.0.1:6379/0"
T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--run-slow", action="store_true", default=False,
                     help="also run the tests marked slow (CI=true does too)")


def runs_slow_tests(config: pytest.Config) -> bool:
    """Whether this run includes the ``slow`` tests: asked for (``--run-slow``), in CI
    (``CI=true``, as ``.ci/run`` runs), or selected by an explicit ``-m`` expression."""
    return bool(config.getoption("--run-slow") or os.environ.get("CI") == "true"
                or config.getoption("markexpr"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if runs_slow_tests(config):
        return
    # A test named on the command line by its node id (``file.py::test``) runs even if slow.
    named = [arg.replace("\\", "/") for arg in config.args if "::" in arg]

    def left_out(item: pytest.Item) -> bool:
        return (item.get_closest_marker("slow") is not None
                and not any(item.nodeid.startswith(n) or n.endswith(item.nodeid)
                            for n in named))

    slow = [item for item in items if left_out(item)]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not left_out(item)]


def pg_url() -> str:
    return os.environ.get(PG_ENV, PG_DEFAULT)


@cache
def _pg_problem(url: str) -> str | None:
    from sqlalchemy import create_engine, text

    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    return None


def _with_schema(url: str, schema: str) -> str:
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[str]:
    """A database URL nobody else uses: a fresh SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/inmail-guard.db"
        return
    url = pg_url()
    problem = _pg_problem(url)
    if problem is not None:
        message = (f"PostgreSQL not reachable at {url} ({problem}); start a server or set"
                   f" {PG_ENV} to a postgresql+psycopg:// URL to run the PostgreSQL cases")
        skip_or_fail(message)
    from sqlalchemy import create_engine, text

    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _with_schema(url, schema)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@cache
def _redis_problem(url: str) -> str | None:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
        client.ping()
        client.close()
    except Exception as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return None


@pytest.fixture
def redis_url() -> str:
    """The test Redis server's URL; skips (fails under ``CI=true``) when it does not answer."""
    url = os.environ.get(REDIS_ENV, REDIS_DEFAULT)
    problem = _redis_problem(url)
    if problem is not None:
        message = (f"Redis not reachable at {url} ({problem}); start a server or set"
                   f" {REDIS_ENV} to a redis:// URL to run the Redis cases")
        skip_or_fail(message)
    return url


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix nobody else uses; every key under it is deleted afterwards."""
    import redis

    prefix = f"inmail-guard-test:{uuid.uuid4().hex[:16]}:"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def store(store_url: str) -> Iterator[object]:
    from inmail_guard.store import Store

    s = Store(store_url)
    yield s
    s.close()


@pytest.fixture
def clock() -> object:
    from inmail_guard.service.results import ManualClock

    return ManualClock(T0)


@pytest.fixture
def service(store: object, clock: object) -> Iterator[object]:
    import inmail_guard as ig
    from inmail_guard.service import InMailService

    svc = InMailService(ig.default_policy(), store, clock=clock)  # type: ignore[arg-type]
    yield svc
    svc.close()
