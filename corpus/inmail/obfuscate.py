"""Write obfuscated copies of an ``id,label,text`` file, one per obfuscation, to measure how much
of the plain catch rate each keeps (``docs/model.md``, "Obfuscation").

    python corpus/inmail/obfuscate.py corpus/inmail/test.csv --out /tmp/obf
    inmail-guard model evaluate --policy builtin:default corpus/inmail/test.csv /tmp/obf/*.csv

Every row is rewritten (ham too, so the false-positive rate under obfuscation shows). The
subject line keeps its ``Subject:`` key. The choices are seeded by the row id: the same input
gives the same files.
"""

from __future__ import annotations

import argparse
import csv
import random
import re
from collections.abc import Callable
from pathlib import Path

LEET = str.maketrans({"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7"})
CYRILLIC = str.maketrans({"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х",
                          "y": "у", "i": "і", "A": "А", "E": "Е", "O": "О", "P": "Р",
                          "C": "С", "T": "Т", "H": "Н", "K": "К", "M": "М", "B": "В"})
GREEK = str.maketrans({"o": "ο", "v": "ν", "i": "ι", "k": "κ", "A": "Α", "B": "Β", "E": "Ε",
                       "O": "Ο", "T": "Τ", "I": "Ι", "K": "Κ", "N": "Ν"})
URL = re.compile(r"(?:https?://)?[\w.-]+\.(?:example|com)(?:/\S*)?")
WORD = re.compile(r"[A-Za-z]{4,}")


def _words(fn: Callable[[str], str], share: float) -> Callable[[str, random.Random], str]:
    def apply(text: str, rng: random.Random) -> str:
        return WORD.sub(lambda m: fn(m.group()) if rng.random() < share else m.group(), text)
    return apply


def _inside(mark: str) -> Callable[[str], str]:
    """``mark`` after every second letter of a word."""
    return lambda w: "".join(c + (mark if i % 2 else "") for i, c in enumerate(w[:-1])) + w[-1]


def _shorten(text: str, rng: random.Random) -> str:
    return URL.sub(lambda m: f"https://bit.ly/{rng.randrange(16**6):06x}", text)


OBFUSCATIONS: dict[str, Callable[[str, random.Random], str]] = {
    "leet": _words(lambda w: w.translate(LEET), 0.5),
    "zero_width": _words(_inside("\u200b"), 0.6),
    "cyrillic": _words(lambda w: w.translate(CYRILLIC), 0.6),
    "greek": _words(lambda w: w.translate(GREEK), 0.6),
    "spaced": _words(" ".join, 0.3),
    "shortener": _shorten,
    "bidi": _words(lambda w: f"\u2066{w}\u2069", 0.6),
    "variation_selector": _words(_inside("\ufe0f"), 0.6),
    "tag_chars": _words(_inside("\U000e0020"), 0.6),
}


def obfuscate(text: str, kind: str, seed: str) -> str:
    rng = random.Random(f"{kind}:{seed}")
    first, newline, rest = text.partition("\n")
    fn = OBFUSCATIONS[kind]
    if first.lower().startswith("subject:"):
        return "Subject:" + fn(first[len("subject:"):], rng) + newline + fn(rest, rng)
    return fn(text, rng)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with args.data.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for kind in OBFUSCATIONS:
        path = args.out / f"{args.data.stem}-{kind}.csv"
        with path.open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(["id", "label", "text"])
            for r in rows:
                w.writerow([r["id"], r["label"], obfuscate(r["text"], kind, r["id"])])
        print(path)


if __name__ == "__main__":
    main()
