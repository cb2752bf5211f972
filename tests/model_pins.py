"""Tests load models they just trained: they pin them as an operator would, with the sha256
`inmail-guard model info` prints (the manifest's). An external model is never loaded unpinned."""

from __future__ import annotations

import json
from pathlib import Path


def pin(artifact: Path | str) -> str | None:
    """The sha256 in the manifest beside ``artifact`` (a .joblib or .json); None without one."""
    manifest = Path(artifact).with_suffix(".json")
    if not manifest.exists():
        return None
    return str(json.loads(manifest.read_text(encoding="utf-8"))["sha256"])
