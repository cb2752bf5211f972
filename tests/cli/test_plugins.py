"""``inmail-guard plugins``: what is installed and loaded, with versions, hooks and detectors."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from inmail_guard.cli import main

PLUGIN = '''
from inmail_guard import Detector, DetectorConfig, hookimpl


class Loud(Detector):
    name = "loud"

    class Config(DetectorConfig):
        pass

    def check(self, message, facts, content):
        return None


@hookimpl
def inmail_guard_detectors():
    return [Loud]


@hookimpl
def inmail_guard_decision(decision):
    pass
'''


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An installed distribution ``loud-plugin`` 1.2.3 with entry point ``loud``."""
    site = tmp_path / "site"
    info = site / "loud_plugin-1.2.3.dist-info"
    info.mkdir(parents=True)
    (site / "loud_plugin.py").write_text(PLUGIN, encoding="utf-8")
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: loud-plugin\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text("[inmail_guard]\nloud = loud_plugin\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "loud_plugin", raising=False)  # each test imports anew
    yield site
    sys.modules.pop("loud_plugin", None)


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, ["plugins", *args], env={"INMAIL_GUARD_PLUGINS": "loud",
                                                             **(env or {})})


def test_lists_an_installed_plugin(site: Path) -> None:
    result = run()
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [{
        "name": "loud", "package": "loud-plugin", "version": "1.2.3", "module": "loud_plugin",
        "hooks": ["inmail_guard_decision", "inmail_guard_detectors"], "detectors": ["loud"]}]


def test_a_disabled_plugin_is_not_listed(site: Path) -> None:
    result = run(env={"INMAIL_GUARD_DISABLE_PLUGINS": "loud"})
    assert (result.exit_code, json.loads(result.output)) == (0, [])


def test_all_adds_the_built_ins(site: Path) -> None:
    listed = {p["name"]: p for p in json.loads(run("--all").output)}
    keywords = listed["inmail_guard.plugins.keywords"]
    assert keywords["package"] == "inmail-guard"
    assert (keywords["hooks"], keywords["detectors"]) == (["inmail_guard_detectors"],
                                                          ["keywords"])
    assert "loud" in listed


def test_a_plugin_that_cannot_load_is_an_error_naming_it(site: Path) -> None:
    (site / "loud_plugin.py").write_text("raise ImportError('needs libloud')\n")
    result = run()
    assert (result.exit_code, result.output) == (
        1, "Error: plugin 'loud' (loud_plugin) failed to load: needs libloud; uninstall it or"
           " add it to INMAIL_GUARD_DISABLE_PLUGINS\n")


def test_the_docs_show_what_it_prints_for_the_example_plugin(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import re

    from tests.workflow.test_plugin_example import EXAMPLE, MODULE

    info = tmp_path / "site" / "inmail_guard_shouting-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: inmail-guard-shouting\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[inmail_guard]\nshouting = {MODULE}\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.syspath_prepend(str(EXAMPLE / "src"))
    monkeypatch.delitem(sys.modules, MODULE, raising=False)
    result = CliRunner().invoke(main, ["plugins"], env={"INMAIL_GUARD_PLUGINS": "shouting"})
    docs = (Path(__file__).parents[2] / "docs" / "plugins.md").read_text(encoding="utf-8")
    shown = re.search(r"\$ inmail-guard plugins\n(.*?)```", docs, re.S)
    assert shown is not None and result.output == shown.group(1)
