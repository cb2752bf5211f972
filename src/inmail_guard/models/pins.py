"""The sha256 of every model this package ships, pinned in code.

Loading a model unpickles it, which runs code, and the manifest beside a ``.joblib`` proves
nothing when both files can be replaced. So :func:`~inmail_guard.models.artifact.load_model`
unpickles a built-in model only when its bytes have the digest below, whatever its manifest
says, and an external model only when the caller pins its digest (``sha256:`` in the policy).

After retraining a shipped model, regenerate this file from the new artifacts and commit it
with them (``tests/models/test_shipped.py`` fails until then)::

    python -m inmail_guard.models.pins

Review the diff: it is the one place where a new model becomes trusted.
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

#: Built-in model name -> sha256 (hex) of its ``.joblib``, as shipped.
BUILTIN_SHA256: dict[str, str] = {
    "spam-v1": "ce671d498856d6a370e5ae2ea49d72f3c2a165b77ed40c9a6924c78e3de88054",
}

_TABLE = re.compile(r"(BUILTIN_SHA256: dict\[str, str\] = \{\n)(.*?)(^\}\n)", re.S | re.M)


def render(source: str, table: dict[str, str]) -> str:
    """``source`` (this file's text) with :data:`BUILTIN_SHA256` holding ``table``."""
    rows = "".join(f'    "{name}": "{digest}",\n' for name, digest in sorted(table.items()))
    updated, count = _TABLE.subn(lambda m: m.group(1) + rows + m.group(3), source)
    if count != 1:
        raise RuntimeError(f"{__file__}: cannot find the BUILTIN_SHA256 table to rewrite")
    return updated


def regenerate(names: list[str] | None = None) -> dict[str, str]:
    """Rewrite :data:`BUILTIN_SHA256` in this file from the artifacts beside it (``names``:
    the built-in models, by default the ones pinned now); the new table."""
    here = Path(__file__).resolve()
    table = {name: hashlib.sha256((here.parent / f"{name}.joblib").read_bytes()).hexdigest()
             for name in (names if names is not None else BUILTIN_SHA256)}
    here.write_text(render(here.read_text("utf-8"), table), "utf-8")
    return table


if __name__ == "__main__":
    for name, digest in regenerate(sys.argv[1:] or None).items():
        print(f"{name}: sha256:{digest}")
