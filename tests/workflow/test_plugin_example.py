"""The example plugin package (examples/plugin-example), loaded the way users load plugins:
through its ``inmail_guard`` entry point, found by importlib.metadata on ``sys.path``."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

import inmail_guard as ig
from inmail_guard.plugins.manager import ALLOW_ENV, DENY_ENV

EXAMPLE = Path(__file__).parents[2] / "examples" / "plugin-example"
MODULE = "inmail_guard_shouting"
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
POLICY = """\
name: with-shouting
extends: builtin:default
spam:
  detectors:
    shouting: {score: 10, min_ratio: 0.7, min_letters: 20}
"""


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A fake installation: a .dist-info with the entry point, and the source on sys.path."""
    dist = tmp_path / "site" / "inmail_guard_shouting-0.1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: inmail-guard-shouting\nVersion: 0.1.0\n")
    entry_points = (EXAMPLE / "pyproject.toml").read_text()
    assert '[project.entry-points.inmail_guard]\nshouting = "inmail_guard_shouting"' \
        in entry_points  # the test installs what the package declares
    (dist / "entry_points.txt").write_text(f"[inmail_guard]\nshouting = {MODULE}\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.syspath_prepend(str(EXAMPLE / "src"))
    monkeypatch.delenv(ALLOW_ENV, raising=False)
    monkeypatch.delenv(DENY_ENV, raising=False)
    yield
    sys.modules.pop(MODULE, None)


def policy(tmp_path: Path) -> ig.Policy:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    return ig.load_policy(path)


def send(subject: str, body: str) -> tuple[ig.Message, ig.Facts]:
    return (ig.Message("alice", "bob", subject, body),
            ig.Facts(ig.Member("alice", "premium_business"), ig.Member("bob"), NOW,
                     connection_degree=2))


def test_entry_point_plugin_end_to_end(installed: None, tmp_path: Path) -> None:
    engine = ig.Engine(policy(tmp_path))
    assert "shouting" in [slot.detector.name for slot in engine.detectors]

    decision = engine.evaluate(*send("AMAZING OFFER", "CLICK NOW TO CLAIM YOUR PRIZE TODAY"))
    assert decision.outcome == "rejected"
    assert decision.codes == ("spam_detected",)
    (signal,) = [s for s in decision.spam.signals if s.detector == "shouting"]
    assert signal.score == 10
    assert signal.detail == "100% of 41 letters are capitals"

    calm = engine.evaluate(*send("Data role at Acme", "Hi Bob, open to a call next week?"))
    assert calm.outcome == "accepted"
    assert calm.spam.signals == ()


def test_deny_list_keeps_it_out(installed: None, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DENY_ENV, "shouting")
    with pytest.raises(ig.PolicyCompileError, match="unknown detector 'shouting'"):
        ig.Engine(policy(tmp_path))


def test_allow_list_must_name_it(installed: None, tmp_path: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ALLOW_ENV, "something_else")
    with pytest.raises(ig.PolicyCompileError):
        ig.Engine(policy(tmp_path))
    monkeypatch.setenv(ALLOW_ENV, "shouting")
    assert "shouting" in [s.detector.name for s in ig.Engine(policy(tmp_path)).detectors]


@pytest.mark.slow
def test_the_example_package_own_tests_pass() -> None:
    env = {**os.environ, "PYTHONPATH": str(EXAMPLE / "src")}
    env.pop(ALLOW_ENV, None)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
        capture_output=True, text=True, env=env, cwd=EXAMPLE, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
