"""What a test does when something it needs from outside the repository is missing.

Locally it skips, saying how to enable it; under ``CI=true`` (``.ci/run``) it fails, because
CI provides PostgreSQL, Redis, the C compiler, root with iproute2 and Debian's chromium.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def skip_or_fail(message: str, *, in_ci: str | None = None, module: bool = False) -> NoReturn:
    """Skip with ``message``, or under ``CI=true`` fail with ``in_ci`` (default: the same).
    ``module``: a skip at module level (the whole file)."""
    if os.environ.get("CI") == "true":
        pytest.fail(in_ci or message, pytrace=False)
    pytest.skip(message, allow_module_level=module)
