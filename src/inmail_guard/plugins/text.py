"""Text normalisation for the built-in detectors: the names of :mod:`inmail_guard.textnorm`.

The machinery moved to :mod:`inmail_guard.textnorm` (a leaf module, so the classifier's
features in :mod:`inmail_guard.models` share it without importing ``plugins``). This module
keeps the names detectors and third-party plugins import from here.
"""

from __future__ import annotations

from inmail_guard.textnorm import KINDS, Normalised, domain_words, normalise, words

__all__ = ["KINDS", "Normalised", "domain_words", "normalise", "words"]
