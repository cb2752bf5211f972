from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from inmail_guard.cli.model import model
from inmail_guard.models import artifact

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "models"
TINY = FIXTURES / "tiny.csv"
#: Twenty e-mail rows (Subject: lines), so that the tiny model has an e-mail route too.
TINY_EMAIL = FIXTURES / "tiny_email.csv"


@pytest.fixture(autouse=True)
def _fresh_model_cache():
    artifact.clear_cache()
    yield
    artifact.clear_cache()


@pytest.fixture(scope="session")
def tiny_model_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(directory, what the command printed): a model trained once per session on
    tests/fixtures/models/tiny*.csv through the CLI, per channel (``--per-channel``: an e-mail
    route and its partner, which the route tests need). Training is the slow part of these
    tests: every test that needs this model shares this one run."""
    out = tmp_path_factory.mktemp("tiny-model")
    result = CliRunner().invoke(
        model, ["train", str(TINY), str(TINY_EMAIL), "--out", str(out), "--name", "tiny",
                "--seed", "7", "--per-channel"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return out, result.output


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_model_run: tuple[Path, str]) -> Path:
    """The directory of :func:`tiny_model_run`'s model (``tiny.joblib`` + ``tiny.json``)."""
    return tiny_model_run[0]


@pytest.fixture
def tiny_copy(tiny_model_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny model (joblib + manifest) a test may corrupt; returns .joblib."""
    for suffix in (".joblib", ".json"):
        src = tiny_model_dir / f"tiny{suffix}"
        (tmp_path / src.name).write_bytes(src.read_bytes())
    return tmp_path / "tiny.joblib"


@pytest.fixture(scope="session")
def tiny_inmail_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained once on tests/fixtures/models/tiny*.csv in InMail form (the default)."""
    out = tmp_path_factory.mktemp("tiny-inmail")
    result = CliRunner().invoke(
        model, ["train", str(TINY), str(TINY_EMAIL), "--out", str(out), "--name", "tiny",
                "--seed", "7"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return out
