"""The text normaliser's cost on the send path: ``python benchmarks/bench_textnorm.py``.

Times the keywords detector (which normalises every subject and body) and ``model_text`` (the
classifier's input) on a 100-word body: plain ASCII, and the same with Cyrillic look-alikes
and invisible characters in every fifth word. The keywords rows also run on the normaliser
as it was before ``textnorm`` (``plugins/text.py`` at commit ``BEFORE``, read with ``git show``;
or ``--baseline OLD_TEXT_PY``) in the same process, for a before/after ratio.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from _harness import cpu_best_us, machine
from bench_content import WORDS

from inmail_guard.engine.content import parse_body
from inmail_guard.engine.types import Facts, Member, Message
from inmail_guard.plugins import keywords
from inmail_guard.textnorm import model_text

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
BEFORE = "1121af6"  # the last commit with the hand-written homoglyph map in plugins/text.py
BODY = WORDS  # the 100 words of recruiter prose bench_content.py parses
_TRICKS = ("\u200b", "\u2066", "\ufe0f", "\U000e0041", "\u2800")


def _disguise(word: str, i: int) -> str:
    word = word.replace("e", "\u0435", 1).replace("o", "\u043e", 1).replace("a", "\u0430", 1)
    return word[:1] + _TRICKS[i % len(_TRICKS)] + word[1:]


UNICODE = " ".join(_disguise(w, i) if i % 5 == 0 else w for i, w in enumerate(BODY.split(" ")))


def measure(fn: Callable[[], object]) -> float:
    """Best-of-15 mean CPU µs of 500 calls, after a warm-up."""
    for _ in range(300):
        fn()
    return cpu_best_us(fn)


def _keywords_with(normalise: Callable[..., object]) -> keywords.KeywordsDetector:
    keywords.normalise = normalise
    keywords._compile.cache_clear()
    keywords._compile_domains.cache_clear()
    return keywords.KeywordsDetector.from_settings({})


def _git_baseline() -> str | None:
    done = subprocess.run(["git", "show", f"{BEFORE}:src/inmail_guard/plugins/text.py"],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return None
    path = Path(tempfile.mkdtemp()) / "text_before.py"
    path.write_text(done.stdout, encoding="utf-8")
    return str(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="a former plugins/text.py to compare with")
    args = parser.parse_args()
    facts = Facts(sender=Member("s1", plan="premium_business"), recipient=Member("r1"),
                  now=NOW, connection_degree=2)
    bodies = {"ASCII": BODY, "Cyrillic + invisible, every 5th word": UNICODE}
    current = keywords.normalise
    old = None
    baseline = args.baseline or _git_baseline()
    if baseline:
        spec = importlib.util.spec_from_file_location("text_baseline", baseline)
        assert spec and spec.loader
        old = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = old  # dataclasses look their module up
        spec.loader.exec_module(old)
        if not args.baseline:
            Path(baseline).unlink()
            Path(baseline).parent.rmdir()
    print(f"### Text normalisation: {len(BODY.split())} words, {len(BODY)} / {len(UNICODE)} "
          "characters\n")
    print("| case | before µs | after µs | after / before |\n|---|---:|---:|---:|")
    for name, body in bodies.items():
        msg = Message("s1", "r1", subject="Platform engineer role at Acme", body=body)
        content = parse_body(body, max_source_chars=12000)
        before = None
        if old is not None:
            detector = _keywords_with(old.normalise)
            before = measure(lambda d=detector, m=msg, c=content: d.check(m, facts, c))
        detector = _keywords_with(current)
        after = measure(lambda d=detector, m=msg, c=content: d.check(m, facts, c))
        ratio = f"{after / before:.2f}" if before else "-"
        shown = f"{before:.1f}" if before else "-"
        print(f"| keywords.check, {name} | {shown} | {after:.1f} | {ratio} |")
    for name, body in {**bodies, "ASCII + 10am, $500, 2026-03-04": BODY + " Call at 10am, "
                       "budget $500, start 2026-03-04."}.items():
        print(f"| model_text, {name} | - | {measure(lambda b=body: model_text(b)):.2f} | - |")
    print(f"\nMachine: {machine()}")


if __name__ == "__main__":
    main()
