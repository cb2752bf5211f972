"""The wheel: complete and working when built where no C compiler exists (the pure-Python
paths), carrying its LICENSE and the docs that ``--help`` and ``serve`` point at."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
RUN = "import sys; sys.path.insert(0, sys.argv.pop(1)); from inmail_guard.cli import main; main()"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    env = {**os.environ, "CC": "/nonexistent/cc"}  # no compiler: _speedups cannot be built
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                           str(out), str(ROOT)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    (built,) = out.glob("inmail_guard-*.whl")
    return built


@pytest.mark.slow
def test_the_wheel_has_every_file_the_package_has_and_no_compiled_code(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    source = {str(p.relative_to(ROOT / "src")) for p in (ROOT / "src" / "inmail_guard").rglob("*")
              if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".so", ".pyd")}
    assert sorted(source - names) == []
    assert not [n for n in names if n.endswith((".so", ".pyd"))]
    docs = {f"inmail_guard/docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}
    assert len(docs) >= 10 and docs <= names


@pytest.mark.slow
def test_the_wheel_carries_its_license(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    (info,) = {n.split("/")[0] for n in archive.namelist() if ".dist-info/" in n}
    assert archive.read(f"{info}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
    metadata = archive.read(f"{info}/METADATA").decode()
    assert "License-Expression: Apache-2.0\n" in metadata
    assert "License-File: LICENSE\n" in metadata


def test_the_build_requires_the_setuptools_that_reads_its_license_fields() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["build-system"]["requires"] == ["setuptools>=77"]
    assert project["project"]["license-files"] == ["LICENSE"]


@pytest.mark.slow
def test_the_pure_python_install_works(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(target), str(wheel)], check=True, capture_output=True)

    def cli(*args: str, stdin: str | None = None) -> str:
        done = subprocess.run([sys.executable, "-c", RUN, str(target), *args], input=stdin,
                              capture_output=True, text=True, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    docs = target / "inmail_guard" / "docs"
    assert cli("--help").endswith(f"\n  Documentation (docs/*.md):\n  {docs}\n")
    assert (docs / "http.md").is_file()
    info = json.loads(cli("model", "info", "builtin:spam-v1"))
    assert (info["accelerated"], info["sha256_verified"]) == (False, True)
    assert info["path"].startswith(str(target))
    record = {"message": {"sender_id": "a", "recipient_id": "b", "subject": "Hi",
                          "body": "Hello"},
              "facts": {"sender": {"id": "a", "plan": "premium_business"},
                        "recipient": {"id": "b"}, "connection_degree": 2,
                        "now": "2026-11-27T09:00:00Z"}}
    assert json.loads(cli("evaluate", "-", stdin=json.dumps(record)))["outcome"] == "accepted"


SERVE_ASSETS = """
import sys
sys.path.insert(0, sys.argv[1])
from fastapi.testclient import TestClient
from inmail_guard.api import Settings, create_app
import inmail_guard
assert inmail_guard.__file__.startswith(sys.argv[1]), inmail_guard.__file__
app = create_app(Settings(db=sys.argv[2], keys_env="k:admin:key-0123456789"))
with TestClient(app) as client:
    for path in ("/docs", "/redoc", "/console/login",
                 "/console/static/vendor/swagger-ui/swagger-ui-bundle.js",
                 "/console/static/vendor/swagger-ui/swagger-ui.css",
                 "/console/static/vendor/redoc/redoc.standalone.js",
                 "/console/static/vendor/chart.js/chart.umd.min.js",
                 "/console/static/console.js", "/console/static/console.css"):
        r = client.get(path)
        external = path.startswith("/console/static") is False and "https://" in r.text
        print(path, r.status_code, len(r.content), "external" if external else "")
"""


@pytest.mark.slow
def test_the_installed_wheel_serves_the_console_and_the_api_docs_from_its_own_files(
        wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                    str(target), str(wheel)], check=True, capture_output=True)
    done = subprocess.run([sys.executable, "-c", SERVE_ASSETS, str(target),
                           str(tmp_path / "x.db")], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = {line.split()[0]: line.split()[1:] for line in done.stdout.splitlines()}
    assert len(lines) == 9
    for path, (status, size, *cdn) in lines.items():
        assert status == "200", path
        assert int(size) > 0, path
        assert cdn == [], f"{path} loads something from another site"
    vendored = target / "inmail_guard/api/console/static/vendor"
    assert int(lines["/console/static/vendor/swagger-ui/swagger-ui-bundle.js"][1]) == \
        (vendored / "swagger-ui/swagger-ui-bundle.js").stat().st_size
