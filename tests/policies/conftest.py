from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "policies"


@pytest.fixture
def in_fixtures(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run from tests/fixtures/policies, so file names in messages are short and stable."""
    monkeypatch.chdir(FIXTURES)
    return FIXTURES
