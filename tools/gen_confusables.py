"""Generate ``src/inmail_guard/data/confusables_ascii.txt``: Unicode look-alikes of ASCII.

Run from the repository root, in a venv with the data package installed::

    pip install confusable-homoglyphs==3.3.1
    python tools/gen_confusables.py            # rewrites the table
    python tools/gen_confusables.py --check    # exit 1 if the committed table differs

Why a generated table and not a runtime dependency: ``confusable-homoglyphs`` ships Unicode's
``confusables.txt`` (UTS #39) as a 900 KB JSON *graph* (each pair stored in both directions,
no version recorded), read through a file that is not its public API. inmail-guard only needs
"which character reads as which ASCII letter or digit": ~1,800 rows, reviewable in a diff,
loaded in about a millisecond, and unchanged until someone regenerates it on purpose.

How the table is derived (the skeleton of UTS #39 restricted to ASCII targets):

1. a non-ASCII character whose confusable partners include exactly one ASCII letter or digit
   (after dropping combining marks: Greek ``η`` reads as ``n̩``) maps to it. No ASCII letter
   or digit has a non-ASCII prototype in the data (checked below), so that partner is the
   character's prototype, not a source that maps onto it;
   Every decimal digit of another script reads as its value, confusable or not (Devanagari
   ``०`` is ``0``, not the ``o`` of the data; ``६`` is ``6``);
2. Cyrillic and Cherokee small letters are small-capital shapes of their capitals, so a letter
   that is (or whose prototype is) one of them reads as that capital's ASCII letter: small
   capital ``ᴀ`` -> Cherokee ``ꭺ`` -> ``Ꭺ`` -> ``a``, ``ʙ`` -> Cyrillic ``в`` -> ``В`` ->
   ``b``, Cyrillic ``т`` -> ``Т`` -> ``t``. (Not Greek: ``σ`` is no small ``Σ``.) Readings
   that disagree leave the character out;
3. the small capitals UTS #39 has no prototype for read as the letter their name says
   (``LATIN LETTER SMALL CAPITAL N``: ``ɴ`` -> ``n``);
4. a few look-alikes UTS #39 has no ASCII prototype for, in ``EXTRA``;
5. the target takes the source's case (Cyrillic ``Ӏ`` reads ``I``, ``ӏ`` reads ``l``: UTS #39
   folds both to ``l``), so :func:`inmail_guard.textnorm.model_text` can preserve case.

Left out: characters NFKC changes (the normaliser applies NFKC or NFKD first), accented
letters (canonically decomposable: the keyword skeleton drops accents itself, ``model_text``
keeps them) and the letters in ``KEEP``.
"""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from importlib import resources
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "src/inmail_guard/data/confusables_ascii.txt"
MARKS = "\u200e\u200f"  # the package's JSON keeps the bidi marks of confusables.txt comments
# Letters of living orthographies whose UTS #39 prototype is a different letter: German
# sharp s reads as "b", Icelandic eth as "d". Folding them would mangle ordinary names.
KEEP = frozenset("\u00df\u00d0\u00f0")
# Look-alikes spam uses that UTS #39 gives no ASCII prototype, kept from the hand-written map
# this table replaced (inmail_guard/plugins/text.py before textnorm): Greek small letters
# written for Latin ones, Cyrillic qa.
EXTRA = {"\u03b2": "b", "\u03b5": "e", "\u03ba": "k", "\u03c4": "t", "\u03c7": "x", "\u03c9": "w",
         "\u051a": "Q"}


def _ascii(target: str) -> str | None:
    base = "".join(c for c in unicodedata.normalize("NFD", target.strip(MARKS))
                   if not unicodedata.combining(c))
    return base if len(base) == 1 and base.isascii() and base.isalnum() else None


def _cased(source: str, target: str) -> str:
    if target in "lI":  # UTS #39's prototype of I-like letters is l
        return "I" if source.isupper() else "l"
    if source.isupper():
        return target.upper()
    if source.islower():
        return target.lower()
    return target


def _other_cases(char: str) -> list[str]:
    return [c for c in (char.upper(), char.lower()) if len(c) == 1 and c != char]


def _small_capital_script(char: str) -> bool:
    """Cyrillic and Cherokee small letters are small-capital shapes of their capitals."""
    return unicodedata.name(char, "").startswith(("CYRILLIC SMALL", "CHEROKEE SMALL"))


def build() -> dict[str, str]:
    data = resources.files("confusable_homoglyphs").joinpath("confusables.json")
    graph = {k.strip(MARKS): [e["c"].strip(MARKS) for e in v]
             for k, v in json.loads(data.read_text(encoding="utf-8")).items()}
    for char, partners in graph.items():  # the premise of step 1: a source has one partner
        if len(char) == 1 and char.isascii() and char.isalnum() and len(partners) == 1:
            assert partners[0].isascii(), (char, partners)
    chars = [c for c in graph if len(c) == 1 and not c.isascii() and c not in KEEP
             and unicodedata.normalize("NFKC", c) == c
             and unicodedata.normalize("NFD", c) == c]
    direct: dict[str, str] = {}
    for char in chars:
        targets = {_ascii(p) for p in graph[char]} - {None}
        if unicodedata.category(char) == "Nd":  # a digit of another script reads as its value
            direct[char] = str(unicodedata.decimal(char))
        elif len(targets) == 1:
            direct[char] = _cased(char, targets.pop())
    table = dict(direct)
    for char in chars:
        if char in direct or not char.isalpha():
            continue
        readings = {direct[p.upper()].lower()
                    for p in (char, *graph[char])
                    if len(p) == 1 and _small_capital_script(p) and p.upper() in direct
                    and direct[p.upper()].isalpha()}
        if len(readings) == 1:
            table[char] = _cased(char, readings.pop())
    # Cyrillic and Cherokee small letters whose capitals read as ASCII, not in the data
    # themselves (Cyrillic т, н, к, м: small-capital T, H, K, M).
    for char, target in direct.items():
        lower = char.lower()
        if (len(lower) == 1 and lower != char and lower not in table
                and _small_capital_script(lower) and target.isalpha()):
            table[lower] = target.lower()
    for code in range(0x80, sys.maxunicode + 1):  # every decimal digit reads as its value
        char = chr(code)
        if (unicodedata.category(char) == "Nd" and char not in KEEP
                and unicodedata.normalize("NFKC", char) == char):
            table[char] = str(unicodedata.decimal(char))
    # Small capitals UTS #39 has no prototype for (ɴ, ᴋ, ᴍ, ꜰ), read by their names.
    for code in range(0x80, sys.maxunicode + 1):
        char = chr(code)
        name = unicodedata.name(char, "")
        if (name.startswith("LATIN LETTER SMALL CAPITAL ") and len(name) == 28
                and char not in table and unicodedata.normalize("NFKC", char) == char):
            table[char] = name[-1].lower()
    for char, target in EXTRA.items():
        table.setdefault(char, target)
    return {c: t for c, t in sorted(table.items()) if c != t}


def render(table: dict[str, str]) -> str:
    from importlib.metadata import version
    lines = [
        "# ASCII readings of Unicode look-alikes (UTS #39 confusables), for inmail_guard.textnorm.",
        "# Generated by tools/gen_confusables.py from confusable-homoglyphs "
        f"{version('confusable-homoglyphs')}",
        "# (Unicode confusables.txt as fetched in January 2024: version 15.1.0), with Python "
        f"{sys.version_info.major}.{sys.version_info.minor}",
        f"# (unicodedata {unicodedata.unidata_version}) for NFKC and letter case. Do not edit: "
        "regenerate.",
        "# code point, ASCII letter or digit, name",
    ]
    for char, target in table.items():
        lines.append(f"{ord(char):04X} {target} {unicodedata.name(char, '?')}")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args()
    text = render(build())
    if args.check:
        same = OUT.read_text(encoding="utf-8") == text
        print("up to date" if same else f"{OUT} differs: regenerate it")
        return 0 if same else 1
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}: {text.count(chr(10)) - 5} characters")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
