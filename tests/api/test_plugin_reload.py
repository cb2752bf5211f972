"""A plugin installed into a running server's environment: ``POST /v1/policy/reload`` answers
422 naming it (the old policy stays active), never 500."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from inmail_guard.cli import main

from .conftest import ADMIN, SVC


def install(site: Path, module_source: str) -> None:
    """What ``pip install`` leaves: a module and a dist-info with an ``inmail_guard`` entry
    point."""
    (site / "late_plugin.py").write_text(module_source, encoding="utf-8")
    info = site / "late_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: late-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[inmail_guard]\nlate = late_plugin\n")


@pytest.mark.parametrize(("source", "problem"), [
    ("raise ImportError('needs libfoo')\n",
     "plugin 'late' (late_plugin) failed to load: needs libfoo; uninstall it or add it to"
     " INMAIL_GUARD_DISABLE_PLUGINS"),
    ("from inmail_guard import hookimpl\n\n@hookimpl\ndef inmail_guard_decsion(decision):\n"
     "    pass\n",
     "plugin 'late': unknown hook 'inmail_guard_decsion'"),
])
def test_reload_after_a_broken_plugin_is_installed_is_422(
        make_client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str,
        problem: str) -> None:
    client = make_client()
    before = client.get("/v1/policy", headers=SVC).json()["version"]
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    install(site, source)
    response = client.post("/v1/policy/reload", headers=ADMIN)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "policy_invalid"
    assert error["message"].startswith(f"policy builtin:default cannot run: {problem}")
    # The issue is the one `policy validate` prints, with the plugins as they are now.
    validated = CliRunner().invoke(main, ["policy", "validate", "--format", "json",
                                          "builtin:default"])
    assert error["issues"] == json.loads(validated.output)["files"][0]["issues"]
    assert error["issues"][0]["message"].startswith(f"cannot load the detector plugins: {problem}")
    assert client.get("/v1/policy", headers=SVC).json()["version"] == before
