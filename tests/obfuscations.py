"""Obfuscated spellings of shipped spam phrases, one per trick (the red-team's classes).

Shared by tests/plugins/test_text.py (the keywords detector finds each through the default
policy) and tests/test_textnorm.py (``model_text`` reads each as plain ASCII).
"""

from __future__ import annotations

from typing import NamedTuple


class Obfuscation(NamedTuple):
    name: str
    written: str
    """The phrase as the spammer writes it."""
    phrase: str
    """The shipped phrase (plugins/data/spam_phrases.txt) it must be found as."""
    plain: str
    """What ``model_text`` reads ``written`` as."""
    kind: str
    """The obfuscation kind the keywords detector reports."""


OBFUSCATIONS: tuple[Obfuscation, ...] = (
    Obfuscation("bidi isolates U+2066-2069", "c\u2066l\u2067i\u2068c\u2069k here",
                "click here", "click here", "zero_width"),
    Obfuscation("bidi embeddings and overrides U+202A-202E",
                "w\u202ao\u202br\u202ck f\u202dr\u202eom home",
                "work from home", "work from home", "zero_width"),
    Obfuscation("variation selectors U+FE00-FE0F", "a\ufe00ct n\ufe0fow",
                "act now", "act now", "zero_width"),
    Obfuscation("variation selectors U+E0100-E01EF", "a\U000e0100ct no\U000e01efw",
                "act now", "act now", "zero_width"),
    Obfuscation("tag characters U+E0020-E007F", "cl\U000e0063ick he\U000e0020r\U000e007fe",
                "click here", "click here", "zero_width"),
    Obfuscation("Hangul filler U+3164", "wi\u3164re trans\u3164fer",
                "wire transfer", "wire transfer", "zero_width"),
    Obfuscation("braille blank U+2800", "a\u2800ct n\u2800ow", "act now", "act now",
                "zero_width"),
    Obfuscation("interlinear annotation U+FFF9-FFFB", "cli\ufff9ck h\ufffaer\ufffbe",
                "click here", "click here", "zero_width"),
    Obfuscation("zero-width space, joiners, word joiner, BOM",
                "cl\u200bick h\u200ce\u200dr\u2060e\ufeff", "click here", "click here",
                "zero_width"),
    Obfuscation("Armenian", "w\u0585rk fr\u0585m h\u0585me", "work from home",
                "work from home", "unicode"),
    Obfuscation("small capitals", "\u1d00\u1d04\u1d1b \u0274\u1d0f\u1d21", "act now",
                "act now", "unicode"),
    Obfuscation("Cherokee", "\u13df\u13de\u13a5\u13df\u13e6 \u13bb\u13ac\u13d2\u13ac",
                "click here", "CLICK HERE", "unicode"),
    Obfuscation("Cyrillic", "\u0441lick h\u0435re", "click here", "click here", "unicode"),
    Obfuscation("Greek", "\u0391ct n\u03bfw", "act now", "Act now", "unicode"),
    Obfuscation("full-width", "\uff43\uff4c\uff49\uff43\uff4b \uff48\uff45\uff52\uff45",
                "click here", "click here", "unicode"),
    Obfuscation("mathematical bold",
                "\U0001d41c\U0001d425\U0001d422\U0001d41c\U0001d424 "
                "\U0001d421\U0001d41e\U0001d42b\U0001d41e",
                "click here", "click here", "unicode"),
)

#: Ordinary text in other scripts, with accents, with emoji: never a spam hit, and
#: ``model_text`` keeps the listed words as written (a word in Cyrillic or Greek with letters
#: that read as no ASCII letter is that script's word, not a disguise).
ORDINARY: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Здравствуйте, Дана! Я видел ваш проект и хотел бы обсудить работу в нашей команде.",
     ("Здравствуйте", "Дана", "видел", "ваш", "проект", "хотел", "обсудить", "работу",
      "нашей", "команде")),
    ("Καλημέρα Δανάη, είδα το προφίλ σας και θα ήθελα να μιλήσουμε για μια θέση.",
     ("Καλημέρα", "Δανάη", "είδα", "προφίλ", "σας", "ήθελα", "μιλήσουμε", "θέση")),
    ("Hallo Jörg Müller, ich habe Ihr Profil gesehen und würde mich über ein Gespräch "
     "freuen. Straße 5, Zürich.",
     ("Jörg", "Müller", "würde", "über", "Gespräch", "Straße", "Zürich")),
    ("Great to meet you at the conference \U0001f600\U0001f44d\U0001f3fd see you soon! "
     "\u2764\ufe0f",
     ("\U0001f600\U0001f44d\U0001f3fd", "conference", "\u2764")),
)
