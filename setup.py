"""Builds the optional C speedups: the classifier's table lookups and the bulk detector's MinHash.

Everything else is configured in pyproject.toml. The extension is ``optional``: where it cannot
be compiled (no C compiler), the install still succeeds and ``models/scorer.py`` and
``plugins/bulk.py`` use their pure-Python paths, which give the same results, only slower
(docs/model.md).
"""

import sys

from setuptools import Extension, setup

# No fused multiply-add: the C scorer must round exactly as the Python one does.
_ARGS = [] if sys.platform == "win32" else ["-O2", "-ffp-contract=off"]

setup(
    ext_modules=[
        Extension(
            "inmail_guard._speedups",
            ["src/inmail_guard/_speedups.c"],
            extra_compile_args=_ARGS,
            optional=True,
        )
    ]
)
