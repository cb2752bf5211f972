"""The server's configuration: one pydantic-settings model (ServerSettings), read the same way by
``serve`` (flags with their variables) and its workers, and validated before anything starts."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from inmail_guard.api.settings import ServerSettings, Settings, SettingsError
from inmail_guard.cli.serve import serve
from inmail_guard.store import to_url

KEYS = {"INMAIL_GUARD_API_KEYS": "t:service:k-test"}


@pytest.mark.parametrize("value", ["1", "true", "True", "yes", "on"])
def test_a_boolean_variable_reads_every_usual_spelling_of_true(value: str) -> None:
    assert Settings.from_env({"INMAIL_GUARD_DISPATCH_EVENTS": value}).dispatch_events is True


@pytest.mark.parametrize("value", ["0", "false", "no", "off", ""])
def test_a_boolean_variable_reads_false_or_unset(value: str) -> None:
    assert Settings.from_env({"INMAIL_GUARD_DISPATCH_EVENTS": value}).dispatch_events is False


@pytest.mark.parametrize(("value", "size"), [("65536", 65536), ("64k", 65536),
                                             ("64KiB", 65536), ("1m", 1048576)])
def test_max_body_bytes_takes_sizes_as_people_write_them(value: str, size: int) -> None:
    assert Settings.from_env({"INMAIL_GUARD_MAX_BODY_BYTES": value}).max_body_bytes == size


@pytest.mark.parametrize(("env", "message"), [
    ({"INMAIL_GUARD_MAX_BODY_BYTES": "64q"},
     "INMAIL_GUARD_MAX_BODY_BYTES: expected a size in bytes such as 65536, 64k or 1m;"
     " found '64q'"),
    ({"INMAIL_GUARD_MAX_BODY_BYTES": "12"},
     "INMAIL_GUARD_MAX_BODY_BYTES: expected at least 1024; found 12"),
    ({"INMAIL_GUARD_PORT": "70000"}, "INMAIL_GUARD_PORT: expected at most 65535; found '70000'"),
    ({"INMAIL_GUARD_OTEL": "maybe"},
     "INMAIL_GUARD_OTEL: expected a boolean: 1/0, true/false, yes/no or on/off; found 'maybe'"),
    ({"INMAIL_GUARD_WATCH_POLICY": "soon"},
     "INMAIL_GUARD_WATCH_POLICY: expected a number; found 'soon'"),
])
def test_a_bad_variable_is_one_line_naming_it(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    assert str(caught.value) == message


def test_every_serve_flag_has_its_variable_from_the_one_model() -> None:
    fields = set(ServerSettings.model_fields)
    for param in serve.params:
        if param.name == "help":
            continue
        assert param.name in fields, param.name
        assert param.envvar == f"INMAIL_GUARD_{param.name.upper()}"


def _serve(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(serve, list(args), env={**KEYS, **(env or {})})
    return result.exit_code, result.output


@pytest.mark.parametrize(("env", "message"), [
    ({"INMAIL_GUARD_DB_POOL_SIZE": "0"},
     "Error: INMAIL_GUARD_DB_POOL_SIZE must be a number of connections (at least 1);"
     " found '0'\n"),
    ({"INMAIL_GUARD_DB_POOL_SIZE": "ten"},
     "Error: INMAIL_GUARD_DB_POOL_SIZE must be a number of connections (at least 1);"
     " found 'ten'\n"),
    ({"INMAIL_GUARD_DB_LOCK_TIMEOUT": "nan"},
     "Error: INMAIL_GUARD_DB_LOCK_TIMEOUT must be a number of seconds (more than 0);"
     " found 'nan'. Every wait on the database is bounded: for a long one give a large"
     " number, such as 3600\n"),
    ({"INMAIL_GUARD_DB_SQLITE_BUSY_TIMEOUT": "0"},
     "Error: INMAIL_GUARD_DB_SQLITE_BUSY_TIMEOUT must be a number of seconds (more than 0);"
     " found '0'. Every wait on the database is bounded: for a long one give a large"
     " number, such as 3600\n"),
    ({"INMAIL_GUARD_RECORD_DIR": "rec", "INMAIL_GUARD_RECORD_BODIES": "all"},
     "Error: INMAIL_GUARD_RECORD_BODIES: expected hash or full, found 'all'\n"),
    ({"INMAIL_GUARD_SIGHUP": "sometimes", "INMAIL_GUARD_DB_POOL_SIZE": "-1"},
     "Error: INMAIL_GUARD_SIGHUP: expected a boolean: 1/0, true/false, yes/no or on/off;"
     " found 'sometimes'\nINMAIL_GUARD_DB_POOL_SIZE must be a number of connections"
     " (at least 1); found '-1'\n"),
])
def test_serve_refuses_a_bad_variable_before_anything_starts(
        tmp_path: Path, env: dict[str, str], message: str) -> None:
    assert _serve("--db", str(tmp_path / "x.db"), env=env) == (1, message)
    assert not (tmp_path / "x.db").exists()


def test_serve_reads_its_database_and_policy_from_the_environment(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("name: [broken\n")
    code, output = _serve(env={"INMAIL_GUARD_POLICY": str(policy)})
    assert code == 1 and output.startswith(f"Error: policy {policy} is invalid: {policy}:")
    code, output = _serve(env={"INMAIL_GUARD_DB": str(tmp_path / "no" / "x.db")})
    assert (code, output) == (1, f"Error: --db {tmp_path / 'no' / 'x.db'}: the directory"
                                 f" {tmp_path / 'no'} does not exist; create it first or"
                                 " choose another path\n")


def test_serve_refuses_a_bad_flag_value_from_its_variable() -> None:
    code, output = _serve(env={"INMAIL_GUARD_MAX_BODY_BYTES": "64q"})
    assert code == 2
    assert output.endswith(
        "Error: Invalid value for '--max-body' (env var: 'INMAIL_GUARD_MAX_BODY_BYTES'):"
        " expected a size in bytes such as 65536, 64k or 1m; found '64q'\n")


def test_a_busy_port_fails_before_anything_is_announced(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, output = _serve("--db", str(tmp_path / "x.db"), "--port", str(port))
    assert (code, output) == (1, f"Error: 127.0.0.1:{port} is already in use; stop what"
                                 " listens there or choose another --port\n")


def test_a_database_path_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    assert _serve("--db", str(tmp_path)) == (
        1, f"Error: --db {tmp_path}: {tmp_path} is a directory; name a file in it, e.g."
           f" --db {tmp_path / 'inmail-guard.db'}\n")


@pytest.mark.parametrize(("typed", "url"), [
    ("postgres://u:p@db:5432/inmail", "postgresql+psycopg://u:p@db:5432/inmail"),
    ("postgresql://u@db/inmail", "postgresql+psycopg://u@db/inmail"),
    ("postgresql+psycopg://u@db/inmail", "postgresql+psycopg://u@db/inmail"),
    ("sqlite:///x.db", "sqlite:///x.db"),
    ("x.db", "sqlite:///x.db"),
])
def test_database_urls_as_people_type_them(typed: str, url: str) -> None:
    assert to_url(typed) == url


def test_serve_accepts_a_postgres_url() -> None:
    from inmail_guard.cli.serve import _check_db

    _check_db("postgres://nobody@127.0.0.1:1/inmail")  # no exception: the URL is usable


ROOT = Path(__file__).parents[2]


def _documented() -> set[str]:
    text = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    section = text.split("## Environment variables", 1)[1].split("\n## ", 1)[0]
    pool = text.split("## Pool and timeouts", 1)[1].split("\n## ", 1)[0]
    import re

    return set(re.findall(r"`(INMAIL_GUARD_[A-Z_]+)`", section + pool))


def test_every_environment_variable_is_documented_in_deploy_md() -> None:
    import re

    from inmail_guard.store.settings import StoreSettings

    used = {ServerSettings.env_name(name) for name in ServerSettings.model_fields}
    used |= {f"INMAIL_GUARD_DB_{name.upper()}" for name in StoreSettings.__dataclass_fields__}
    for path in (ROOT / "src").rglob("*.py"):
        used |= {name for name in re.findall(r"INMAIL_GUARD_[A-Z_]+", path.read_text())
                 if not name.endswith("_")}
    documented = _documented()
    assert sorted(used - documented) == []
    assert sorted(documented - used) == []  # nothing stale


def test_a_database_driver_that_is_not_installed_is_refused() -> None:
    import importlib.util

    assert importlib.util.find_spec("psycopg2") is None  # what this test relies on
    assert _serve("--db", "postgresql+psycopg2://u@db/inmail") == (
        1, "Error: --db postgresql+psycopg2://u@db/inmail: the driver psycopg2 is not"
           " installed; use postgresql:// (psycopg 3, which inmail-guard installs)\n")


def test_serve_lists_each_policy_issue_once(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("name: x\nextends: builtin:default\n"
                      "plans:\n  premium_business: {montly_credits: 15}\n", encoding="utf-8")
    code, output = _serve("--policy", str(policy), "--db", str(tmp_path / "x.db"))
    assert (code, output) == (
        1, f"Error: policy {policy} is invalid: {policy}:4:22:"
           " plans.premium_business.montly_credits: unknown key 'montly_credits'"
           " (did you mean 'monthly_credits'?); expected one of: monthly_credits\n")
    assert not (tmp_path / "x.db").exists()


def test_serve_names_a_misspelt_builtin_policy(tmp_path: Path) -> None:
    code, output = _serve("--policy", "builtin:defualt", "--db", str(tmp_path / "x.db"))
    assert (code, output) == (
        1, "Error: policy builtin:defualt is invalid: builtin:defualt:1:1: no built-in policy"
           " 'builtin:defualt' (did you mean 'builtin:default'?); expected a policy file or"
           " builtin:default\n")
