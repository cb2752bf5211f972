"""Test helper shared by the engine and plugin tests of stored body fingerprints."""

from __future__ import annotations

from inmail_guard.engine.types import BodyFingerprint


def decoded(b: BodyFingerprint) -> bool:
    """Whether ``b``'s MinHash values were decoded from its stored hex text (``minhash`` is
    computed once, on first read, and kept in the slot this looks at)."""
    try:
        BodyFingerprint.__dict__["minhash"].__get__(b)
    except AttributeError:
        return False
    return True
