"""The body reader, where the engine, the plugin contract and plugins import it from.

It lives in the leaf module :mod:`inmail_guard.body` so that the classifier's training
(``models/``) renders a body exactly as the engine does without importing the engine.
"""

from inmail_guard.body import (
    FORMATTING_NAMES,
    PRODUCT_FORMATTING,
    SOURCE_LIMIT_FACTOR,
    Content,
    parse_body,
    preview,
)

__all__ = [
    "FORMATTING_NAMES",
    "PRODUCT_FORMATTING",
    "SOURCE_LIMIT_FACTOR",
    "Content",
    "parse_body",
    "preview",
]
