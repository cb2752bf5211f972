"""The one spelling of a path into a document, for every error that names a field.

A key is joined with a dot and a list index is written in brackets:
``message.attachments[0].filename``, ``blocklists[1].code``,
``spam.detectors.keywords.phrases[2]``. The HTTP API's ``field`` values, ``inmail-guard
evaluate``'s JSON Lines errors, policy errors (``file:line:column: path: ...``), replay and
suite record errors and a model manifest's errors all spell paths with :func:`format_path`.

A leaf module: every layer may import it, and it imports nothing from the package.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["format_path"]


def format_path(path: Iterable[Any]) -> str:
    """``("blocklists", 1, "code")`` -> ``blocklists[1].code``.

    ``path`` is a pydantic error's ``loc`` or any sequence of keys and indexes: an ``int``
    (never a ``bool``) is an index, anything else a key (``str()`` of it). An empty key is
    skipped, so a prefix may be ``""``."""
    out = ""
    for part in path:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        elif part != "":
            out += f".{part}" if out else str(part)
    return out
