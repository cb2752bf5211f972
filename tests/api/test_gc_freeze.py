"""The server freezes what it loaded at start-up (gc.freeze), so full garbage collections skip
the engine and model; the library and the tests' apps leave the collector alone."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from inmail_guard.api.app import create_app
from inmail_guard.api.settings import Settings

_SERVER = """
import gc, sys, time
from fastapi.testclient import TestClient
from inmail_guard.api.app import create_app
from inmail_guard.api.settings import Settings

before = gc.get_freeze_count()
with TestClient(create_app(Settings(db=sys.argv[1], freeze_gc=True))) as client:
    assert client.get("/healthz").status_code == 200
    frozen = gc.get_freeze_count()
    t0 = time.perf_counter()
    gc.collect()
    print(before, frozen, time.perf_counter() - t0)
"""


@pytest.mark.slow
def test_the_server_freezes_what_it_loaded_at_start_up(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-c", _SERVER, str(tmp_path / "gc.db")],
                         capture_output=True, text=True, check=True, timeout=120)
    before, frozen, _ = out.stdout.split()
    assert int(before) == 0
    assert int(frozen) > 50_000  # the engine, the model's pipelines, the app


def test_apps_built_by_default_leave_the_collector_alone(tmp_path: Path) -> None:
    before = gc.get_freeze_count()
    with TestClient(create_app(Settings(db=str(tmp_path / "x.db")))) as client:
        assert client.get("/healthz").status_code == 200
    assert gc.get_freeze_count() == before


def test_serve_settings_freeze_and_say_so_to_workers() -> None:
    assert Settings().freeze_gc is False
    assert Settings.from_env({}).freeze_gc is True  # a worker of `serve`
    assert Settings.from_env({"INMAIL_GUARD_FREEZE_GC": "0"}).freeze_gc is False
    env = Settings(freeze_gc=True).to_env()
    assert env["INMAIL_GUARD_FREEZE_GC"] == "1"
    assert Settings.from_env(env).freeze_gc is True
