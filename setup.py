"""Builds the optional C speedups: the classifier's table lookups and the bulk detector's MinHash.

Everything else is configured in pyproject.toml. The extension is ``optional``: where it cannot
be compiled (no C compiler), the install still succeeds and ``models/scorer.py`` and
``plugins/bulk.py`` use their pure-Python paths, which give the same results, only slower
(docs/model.md).
"""

import shutil
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_py import build_py


class build_py_with_docs(build_py):
    """Ships docs/*.md inside the package (``inmail_guard/docs/``): ``--help`` and ``serve``
    point at them, so a wheel must carry them. docs/ stays their one source."""

    def run(self) -> None:
        super().run()
        source = Path(__file__).parent / "docs"
        target = Path(self.build_lib) / "inmail_guard" / "docs"
        target.mkdir(parents=True, exist_ok=True)
        for page in sorted(source.glob("*.md")):
            shutil.copyfile(page, target / page.name)

# No fused multiply-add: the C scorer must round exactly as the Python one does.
_ARGS = [] if sys.platform == "win32" else ["-O2", "-ffp-contract=off"]

setup(
    cmdclass={"build_py": build_py_with_docs},
    ext_modules=[
        Extension(
            "inmail_guard._speedups",
            ["src/inmail_guard/_speedups.c"],
            extra_compile_args=_ARGS,
            optional=True,
        )
    ]
)
