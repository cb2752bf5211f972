"""inmail_guard.textnorm: the normaliser the keyword detector and the classifier share."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inmail_guard import textnorm
from inmail_guard.textnorm import INVISIBLE_RANGES, confusables, model_text, normalise
from obfuscations import OBFUSCATIONS, ORDINARY, Obfuscation

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "src/inmail_guard/textnorm.py"


def test_is_a_leaf_module() -> None:
    """plugins/ and models/ both import it: it must import nothing else of inmail_guard."""
    tree = ast.parse(SOURCE.read_text(encoding="utf-8"))
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m.startswith(("inmail_guard", "."))]


@pytest.mark.parametrize("case", OBFUSCATIONS, ids=lambda c: c.name)
def test_model_text_reads_each_obfuscation_as_plain_ascii(case: Obfuscation) -> None:
    assert model_text(f"Hi Dana, {case.written} for details.") == (
        f"Hi Dana, {case.plain} for details.")


@pytest.mark.parametrize("case", OBFUSCATIONS, ids=lambda c: c.name)
def test_normalise_reports_the_kind_it_undid(case: Obfuscation) -> None:
    norm = normalise(case.written)
    assert norm.words == normalise(case.phrase).words
    assert case.kind in norm.kinds


@pytest.mark.parametrize(("text", "kept"), ORDINARY, ids=["russian", "greek", "german", "emoji"])
def test_model_text_keeps_ordinary_non_latin_words(text: str, kept: tuple[str, ...]) -> None:
    out = model_text(text)
    for word in kept:
        assert word in out, (word, out)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fr33", "free"),
        ("c1ick", "click"),
        ("FR33 C1ICK", "FREE CLICK"),
        ("h0m3 w0rk fr0m", "home work from"),
        ("he11o", "hello"),
        ("cl@im it", "claim it"),
        ("$ave big", "save big"),
        ("f r e e", "free"),
        ("Get f r e e  m o n e y now", "Get free  money now"),
        ("Just c-l-i-c-k h-e-r-e.", "Just click here."),
        ("fr\u0435\u0435 \u0441lick", "free click"),
        ("\uff26\uff32\uff25\uff25", "FREE"),
        ("\u0967\u0966 \u0968\u0966\u0968\u096c", "10 2026"),  # Devanagari digits
    ],
)
def test_model_text_undoes(text: str, expected: str) -> None:
    assert model_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Meet on 2026-03-04 at 10am; the budget is $500 and the team is 5 people.",
        "We ship Web3, MP3 and B2B tools for iOS17 and x86, with i18n and 24h support.",
        "Q4 revenue was $1.5m, up 30% on Q3. See acme.com/jobs or mail jo@acme.io.",
        "Path: https://bit.ly/ab1cd and https://example.com/r3p0rt?id=a1b",
        "I am a team lead, e.g. for the A-Team; ask me anything.",
        "Hi Dana, feel free to click through our careers page and act on it now.",
    ],
)
def test_model_text_leaves_ordinary_ascii_alone(text: str) -> None:
    assert model_text(text) == text


def test_model_text_returns_plain_ascii_prose_itself() -> None:
    """The fast path: nothing is rebuilt (bench_textnorm.py: ~3 µs for 100 words)."""
    text = "Hi Dana, I saw your talk on payments at Acme and would love to chat next week."
    assert model_text(text) is text


def test_model_text_keeps_ordinary_whitespace() -> None:
    text = "Hi Dana,\n\n\tline two\r\nline three  end"
    assert model_text(text) == text
    assert model_text(text.replace("two", "tw\u200bo")) == text


@pytest.mark.parametrize(("lo", "hi"), INVISIBLE_RANGES, ids=lambda v: f"{v:04X}")
def test_every_invisible_range_is_stripped(lo: int, hi: int) -> None:
    for code in {lo, (lo + hi) // 2, hi}:
        written = f"fr{chr(code)}ee"
        assert model_text(written) == "free", hex(code)
        assert normalise(written).words == ["free"], hex(code)
        assert "zero_width" in normalise(written).kinds


def test_confusables_table_reads_look_alikes_as_ascii() -> None:
    table = confusables()
    assert all(len(t) == 1 and t.isascii() and t.isalnum() for t in table.values())
    assert 1000 < len(table) < 2000
    for char, target in {"\u0435": "e", "\u0410": "A", "\u0585": "o", "\u1d00": "a",
                         "\u0274": "n", "\u13aa": "A", "\u03bf": "o", "\u0966": "0"}.items():
        assert table[char] == target
    for kept in "\u00df\u00f6\u00fc\u00e9\u043f\u03bb":  # ß ö ü é п λ
        assert kept not in table


@pytest.mark.skipif(importlib.util.find_spec("confusable_homoglyphs") is None,
                    reason="pip install confusable-homoglyphs==3.3.1 to check the table")
def test_confusables_table_is_what_the_generator_makes() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "tools/gen_confusables.py"), "--check"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


TEXT = st.text(st.characters(codec="utf-8"), max_size=200) | st.text(
    st.sampled_from("fr3 cl1k h-e.r $@ 10am \u200b\u2066\u0435\uff46\u1d00\u13aa\U000e0041 "),
    max_size=60)


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_model_text_is_total_and_idempotent(text: str) -> None:
    """Reading normalised text again changes nothing, so training data may be stored so."""
    out = model_text(text)
    assert model_text(out) == out
    assert not textnorm._INVISIBLE_RE.search(out)
