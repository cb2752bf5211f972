"""The package keeps its shape (STYLE.md 14, issue #18): the import-linter contracts in
pyproject.toml hold, and the service is one package, not flat ``service_*`` modules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "inmail_guard"
CONTRACTS = {"layers", "store-beneath-service", "models-below-engine", "policies-below-engine",
             "engine-pure"}


def test_the_import_contracts_hold():
    """``lint-imports`` (import-linter's own entry point, without its cache) over the
    contracts in pyproject.toml; a broken contract fails with the linter's report, naming
    each import chain that breaks it."""
    run = subprocess.run(
        [sys.executable, "-c",
         "import sys; from importlinter.cli import lint_imports;"
         " sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))"],
        cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout, run.stdout


def test_every_layer_contract_is_declared():
    """Deleting a contract from pyproject.toml is a visible change, not a silent one."""
    from importlinter import api

    config = api.read_configuration(str(ROOT / "pyproject.toml"))
    assert config["session_options"]["root_packages"] == ["inmail_guard"]
    assert {c["id"] for c in config["contracts_options"]} == CONTRACTS
