"""Run every benchmark in this folder and collect their markdown tables.

    .venv/bin/python benchmarks/run.py            # print the tables
    .venv/bin/python benchmarks/run.py --write    # also replace the results in README.md

Each ``bench_*.py`` prints markdown on stdout; a benchmark that needs something missing (e.g. no
PostgreSQL server) says so in its own output instead of failing the whole run.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
START, END = "<!-- results:start -->", "<!-- results:end -->"


def main() -> int:
    write = "--write" in sys.argv
    only = [a for a in sys.argv[1:] if not a.startswith("--")]
    scripts = sorted(HERE.glob("bench_*.py"))
    if only:
        scripts = [s for s in scripts if any(o in s.stem for o in only)]
    sections = []
    failed = 0
    for script in scripts:
        print(f"== {script.name}", file=sys.stderr, flush=True)
        began = time.monotonic()
        proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                              cwd=HERE.parent)
        took = time.monotonic() - began
        if proc.returncode != 0:
            failed += 1
            tail = proc.stderr[-2000:]
            out = f"`{script.name}` failed (exit {proc.returncode}):\n\n```\n{tail}```"
        else:
            out = proc.stdout.strip()
        sections.append(f"## {script.stem}\n\n{out}\n\n_({took:.0f} s)_")
        print(out, flush=True)
    if write and not only:
        readme = HERE / "README.md"
        text = readme.read_text()
        block = f"{START}\n" + "\n\n".join(sections) + f"\n{END}"
        text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, text,
                      flags=re.S)
        readme.write_text(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
