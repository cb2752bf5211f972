"""Detector settings as validated by each installed detector's ``Config``."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from inmail_guard.plugins.base import Detector

#: Settings every detector has (``DetectorConfig``).
CORE_SETTINGS = ("enabled", "score", "max_score", "on_error")


@lru_cache(maxsize=1)
def installed_detectors() -> dict[str, type[Detector]]:
    from inmail_guard.plugins.manager import Plugins

    try:
        return Plugins().detector_classes()
    except Exception:  # a broken plugin must not stop explain/diff: show raw settings
        return {}


def detector_settings(name: str, raw: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """(settings with defaults filled in, whether the detector is installed)."""
    cls = installed_detectors().get(name)
    if cls is None:
        return dict(raw), False
    try:
        return cls.Config.model_validate(raw).model_dump(mode="json"), True
    except Exception:
        return dict(raw), True
