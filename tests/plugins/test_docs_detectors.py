"""docs/detectors.md names every built-in detector setting, advice code and obfuscation kind."""

from __future__ import annotations

from pathlib import Path

import pytest

from inmail_guard.plugins.abuse_reports import AbuseReportsDetector
from inmail_guard.plugins.advice import CODES
from inmail_guard.plugins.automation import AutomationDetector
from inmail_guard.plugins.base import Detector, DetectorConfig
from inmail_guard.plugins.bulk import BulkDetector
from inmail_guard.plugins.keywords import KeywordsDetector
from inmail_guard.plugins.text import KINDS
from inmail_guard.plugins.volume import VolumeDetector

DOC = (Path(__file__).parents[2] / "docs" / "detectors.md").read_text(encoding="utf-8")
DETECTORS = [VolumeDetector, KeywordsDetector, AbuseReportsDetector, AutomationDetector,
             BulkDetector]


@pytest.mark.parametrize("cls", DETECTORS, ids=lambda c: c.name)
def test_every_setting_is_documented(cls: type[Detector]) -> None:
    assert f"## `{cls.name}`" in DOC
    own = set(cls.Config.model_fields) - set(DetectorConfig.model_fields) | {"score"}
    section = DOC.split(f"## `{cls.name}`", 1)[1].split("\n## ", 1)[0]
    for key in sorted(own):
        assert f"| `{key}` |" in section, f"{cls.name}.{key} is not in docs/detectors.md"


@pytest.mark.parametrize("code", CODES)
def test_every_advice_code_is_documented(code: str) -> None:
    assert f"| `{code}` |" in DOC


@pytest.mark.parametrize("kind", KINDS)
def test_every_obfuscation_kind_is_documented(kind: str) -> None:
    assert f"| `{kind}` |" in DOC
