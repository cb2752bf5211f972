"""Text normalisation shared by the built-in detectors: undo the usual spam obfuscations.

:func:`normalise` turns a message into a *skeleton* in which look-alike spellings of a phrase
become the same words, so one index over phrases normalised the same way finds them all:

``unicode``
    NFKD (full-width ``Ｆｒｅｅ``, mathematical ``𝐟𝐫𝐞𝐞``, ligatures, circled letters), then
    Cyrillic and Greek homoglyphs mapped to Latin (``frее`` with Cyrillic ``е``) and combining
    accents dropped (``frée``).
``zero_width``
    zero-width spaces, joiners, word joiners, BOMs and soft hyphens deleted (``fr\\u200bee``).
``leetspeak``
    ``0 1 3 4 5 7 @ $`` read as ``o i e a s t a s`` (``fr33``, ``c1ick``).
``spaced_letters`` / ``punctuated_letters``
    runs of three or more single characters separated by whitespace (``f r e e``) or by
    punctuation (``f.r.e.e``, ``c-l-i-c-k``) joined into one word.

The skeleton is lower case and always folds ``l`` into ``i`` (so ``c1ick``, ``cIick`` and
``click`` agree); phrases go through the same function, so this never needs to be undone.
Everything is 256-byte ``bytes.translate`` tables (over the UTF-8 bytes of non-ASCII text) and
precompiled regexes; ASCII text (the common case) skips the Unicode steps entirely.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

__all__ = ["KINDS", "Normalised", "domain_words", "normalise", "words"]

#: The obfuscation kinds, in the order they are undone. Also the names reported in data.
KINDS: tuple[str, ...] = (
    "unicode", "zero_width", "leetspeak", "spaced_letters", "punctuated_letters",
)

_ZERO_WIDTH = "\u00ad\u034f\u061c\u115f\u1160\u180e\u200b\u200c\u200d\u200e\u200f" \
    "\u2060\u2061\u2062\u2063\u2064\ufeff"

# Cyrillic and Greek letters that render like Latin ones (a practical subset of Unicode's
# confusables.txt: the ones that show up in spam). Mapped before lower-casing, hence both cases.
_HOMOGLYPHS = {
    # Cyrillic capitals and small letters
    "А": "A", "В": "B", "С": "C", "Е": "E", "Н": "H", "І": "I", "Ј": "J", "К": "K", "М": "M",
    "О": "O", "Р": "P", "Ѕ": "S", "Т": "T", "Х": "X", "У": "Y", "Ү": "Y", "Ԛ": "Q", "Ԝ": "W",
    "Ӏ": "I", "а": "a", "в": "b", "с": "c", "е": "e", "һ": "h", "і": "i", "ј": "j", "к": "k",
    "м": "m", "о": "o", "р": "p", "ѕ": "s", "т": "t", "х": "x", "у": "y", "ү": "y", "ԁ": "d",
    "ԛ": "q", "ԝ": "w", "ӏ": "l", "ɡ": "g", "ı": "i",
    # Greek capitals and small letters
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N",
    "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X", "α": "a", "β": "b", "γ": "y", "ε": "e",
    "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o", "ρ": "p", "τ": "t", "υ": "u", "χ": "x",
    "ω": "w",
}
_COMBINING = "".join(map(chr, [
    *range(0x0300, 0x0370), *range(0x1AB0, 0x1B00), *range(0x1DC0, 0x1E00),
    *range(0x20D0, 0x2100), *range(0xFE20, 0xFE30),
]))
# Look-alikes and accents (the "unicode" kind), applied after NFKD.
_FOLD = {**_HOMOGLYPHS, **dict.fromkeys(_COMBINING, "")}
_FOLD_RE = re.compile(f"[{''.join(_FOLD)}]")
# Unicode punctuation that survives NFKD in ordinary text, as its ASCII equivalent; not an
# obfuscation (always applied), but it lets the rest run on ASCII / UTF-8 bytes.
_PUNCTUATION = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u2039": "'",
    "\u203a": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u00ab": '"',
    "\u00bb": '"', "\u2010": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-",
    "\u2212": "-", "\u2022": "*", "\u2023": "*", "\u25cf": "*", "\u00b7": ".", "\u00a1": "!",
    "\u00bf": "?", "\u00a7": " ", "\u00b6": " ", "\u3000": " ", "\u00a0": " ",
}
_PUNCTUATION_RE = re.compile(f"[{''.join(_PUNCTUATION)}]")
_ZERO_WIDTH_RE = re.compile(f"[{_ZERO_WIDTH}]")


def _fold(match: re.Match[str]) -> str:
    return _FOLD[match.group()]


def _punctuation(match: re.Match[str]) -> str:
    return _PUNCTUATION[match.group()]


_BASE = {"l": "i"}
_LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
_LEET_BYTES = "".join(_LEET).encode("ascii")
# Every ASCII character that is not a letter or digit separates words.
_BREAKS = "".join(chr(c) for c in range(128) if not chr(c).isalnum())


class _Table:
    """An ASCII character-for-character translation, applied to any text.

    ``str.translate`` looks every character up in a dict, about 100 ns each: 60 µs for a
    100-word message. A 256-byte table over the ASCII or UTF-8 bytes does the same in well
    under a microsecond (UTF-8 encodes every non-ASCII character with bytes >= 0x80 only, so
    they pass through untouched).
    """

    __slots__ = ("_bytes",)

    def __init__(self, mapping: dict[str, str]) -> None:
        table = bytearray(range(256))
        for src, dst in mapping.items():
            table[ord(src)] = ord(dst)  # ASCII to ASCII only, by construction
        self._bytes = bytes(table)

    def __call__(self, text: str) -> str:
        if text.isascii():
            return text.encode("ascii").translate(self._bytes).decode("ascii")
        raw = text.encode("utf-8", "surrogatepass").translate(self._bytes)
        return raw.decode("utf-8", "surrogatepass")


def _with_breaks(mapping: dict[str, str], breaks: str) -> dict[str, str]:
    return {**dict.fromkeys(breaks, " "), **mapping}


_SKELETON = _Table({**_BASE, **_LEET})  # punctuation kept, for the single-letters step
_SKELETON_NO_LEET = _Table(_BASE)
_WORDS = _Table(_with_breaks({**_BASE, **_LEET}, _BREAKS))
_WORDS_NO_LEET = _Table(_with_breaks(_BASE, _BREAKS))
_DOMAIN_WORDS = _Table(_with_breaks({}, "".join(c for c in _BREAKS if c not in ".-")))


# Three or more single characters, each followed by 1-3 separators: "f r e e", "c-l-i-c-k".
_RUN = re.compile(r"(?<![^\W_])(?:[^\W_][\W_]{1,3}){2,}[^\W_](?![^\W_])")
# Cheap test for a run, on the text with every separator made a space: it starts with a
# literal, so the regex engine skips ahead instead of trying every position.
_RUN_HINT = re.compile(r" \S +\S +\S ")
_SEPARATORS = re.compile(r"[\W_]+")


@dataclass(frozen=True, slots=True)
class Normalised:
    folded: str
    """Unicode-folded text, original case (for shouting and ``!!!`` checks)."""
    lower: str
    """``folded`` lower-cased."""
    words: list[str]
    """The skeleton's words, single letters joined: what phrases are matched against."""
    kinds: frozenset[str]
    """The obfuscation kinds whose undoing changed the text (message-wide)."""


def normalise(text: str, *, disable: frozenset[str] = frozenset()) -> Normalised:
    """Undo the obfuscations of :data:`KINDS` not in ``disable``; see the module docstring."""
    kinds: set[str] = set()
    folded = text
    if not text.isascii():
        if "zero_width" not in disable and _ZERO_WIDTH_RE.search(folded):
            kinds.add("zero_width")
            folded = _ZERO_WIDTH_RE.sub("", folded)
        if "unicode" not in disable:
            nfkd = unicodedata.normalize("NFKD", folded)
            if nfkd != folded or _FOLD_RE.search(nfkd):
                kinds.add("unicode")
                folded = _FOLD_RE.sub(_fold, nfkd)
        folded = _PUNCTUATION_RE.sub(_punctuation, folded)
    lower = folded.lower()
    leet = "leetspeak" not in disable
    if leet:
        # Deleting the leet characters from the bytes is ~4x cheaper than a regex search.
        raw = lower.encode("utf-8", "surrogatepass")
        if len(raw.translate(None, _LEET_BYTES)) != len(raw):
            kinds.add("leetspeak")
    spaced = (_WORDS if leet else _WORDS_NO_LEET)(lower)
    split = spaced.split()
    if _RUN_HINT.search(f" {spaced} "):
        skel = (_SKELETON if leet else _SKELETON_NO_LEET)(lower)
        split = _WORDS_NO_LEET(_collapse(skel, disable, kinds)).split()
    return Normalised(folded, lower, split, frozenset(kinds))


def domain_words(lower: str) -> list[str]:
    """Words of lower-case text split at everything but letters, digits, dots and hyphens."""
    return _DOMAIN_WORDS(lower).split()


def _collapse(text: str, disable: frozenset[str], kinds: set[str]) -> str:
    def join(match: re.Match[str]) -> str:
        run = match.group()
        seps = _SEPARATORS.findall(run)
        spaced = all(sep.isspace() for sep in seps)
        kind = "spaced_letters" if spaced else "punctuated_letters"
        if kind in disable:
            return run
        kinds.add(kind)
        # Where the letters are spaced, a wider gap separates words ("f r e e  m o n e y");
        # where they are punctuated, whitespace does ("c-l-i-c-k h-e-r-e").
        breaks = [len(sep) > 1 if spaced else any(c.isspace() for c in sep) for sep in seps]
        letters = _SEPARATORS.split(run)
        return letters[0] + "".join(
            (" " if brk else "") + letter for brk, letter in zip(breaks, letters[1:], strict=True)
        )

    return _RUN.sub(join, text)


def words(text: str) -> list[str]:
    """The fully normalised words of ``text`` (as :func:`normalise` matches phrases in)."""
    return normalise(text).words
