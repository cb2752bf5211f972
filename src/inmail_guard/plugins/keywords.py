"""The keywords detector: spam phrases, shouting, ``!!!`` runs and link shorteners.

Each *hit* adds ``score_per_hit``, capped at ``max_score``. Hits are counted once per distinct
thing found, not per occurrence:

* each distinct phrase of the policy's ``phrases`` plus, with ``use_default_list``, the shipped
  ``data/spam_phrases.txt``; matched case-insensitively on word boundaries in the subject and
  the rendered body, through the obfuscations :mod:`inmail_guard.plugins.text` undoes;
* shouting: at least ``caps_min_letters`` letters of which ``caps_ratio`` or more are capitals;
* one or more runs of ``exclamation_run`` or more ``!``;
* each distinct link-shortener domain, in the body's link targets or written in the text.

The text is normalised once (:func:`inmail_guard.plugins.text.normalise`: byte-table
translations and a few precompiled regexes). The phrases, normalised the same way, are indexed
once per phrase list (cached across engines) by their first word, so matching costs one set
intersection with the message's words whatever the number of phrases, then a substring search
(in C) only for the phrases whose first word occurs: no per-phrase loop over the text. Which
obfuscations a phrase needed is only worked out when something matched, by normalising again
without each kind in turn.
"""

from __future__ import annotations

import re
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from inmail_guard.engine.types import Facts, Message, Signal
from inmail_guard.plugins.base import Detector, DetectorConfig
from inmail_guard.plugins.hookspecs import hookimpl
from inmail_guard.plugins.text import KINDS, domain_words, normalise

if TYPE_CHECKING:
    from inmail_guard.engine.content import Content

#: Link shorteners hide where a link goes; legitimate InMail rarely needs one.
SHORTENERS: frozenset[str] = frozenset({
    "bit.ly", "bitly.com", "tinyurl.com", "t.co", "goo.gl", "ow.ly", "is.gd", "v.gd", "buff.ly",
    "rebrand.ly", "cutt.ly", "t.ly", "tiny.cc", "rb.gy", "shorturl.at", "bl.ink", "bit.do",
    "adf.ly", "shorte.st", "soo.gd", "s.id", "clck.ru", "tr.im", "x.co", "po.st", "qr.ae",
})

_EXCLAMATIONS = re.compile(r"!{3,}")
_LETTERS = bytes(range(ord("A"), ord("Z") + 1)) + bytes(range(ord("a"), ord("z") + 1))
_CAPITALS = bytes(range(ord("A"), ord("Z") + 1))


def default_phrases() -> tuple[str, ...]:
    """The shipped phrase list (``plugins/data/spam_phrases.txt``)."""
    return _default_phrases()


@lru_cache(maxsize=1)
def _default_phrases() -> tuple[str, ...]:
    text = resources.files("inmail_guard.plugins").joinpath("data/spam_phrases.txt")
    lines = (line.strip() for line in text.read_text(encoding="utf-8").splitlines())
    return tuple(line for line in lines if line and not line.startswith("#"))


def _phrase_words(phrase: str, disable: frozenset[str] = frozenset()) -> tuple[str, ...]:
    return tuple(normalise(phrase, disable=disable).words)


class _PhraseIndex:
    """Phrases by their first normalised word, so a message costs one set intersection.

    Each phrase is also indexed as one word, all its words joined (``clickhere``,
    ``#workfromhome``, or letters joined by the spaced-letters step). Only the phrases whose
    first word the message has are then looked for, each as a substring search of its words
    in the message's words joined by spaces (in C, instead of walking the word list).
    """

    __slots__ = ("by_first", "firsts")

    def __init__(self, phrases: tuple[str, ...], disable: frozenset[str]) -> None:
        entries: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        seen: set[tuple[str, ...]] = set()
        for phrase in phrases:
            toks = _phrase_words(phrase, disable)
            if not toks or toks in seen:
                continue
            seen.add(toks)
            entries.setdefault(toks[0], []).append((toks, phrase))
            if len(toks) > 1:
                entries.setdefault("".join(toks), []).append((("".join(toks),), phrase))
        # first word -> [(phrase, " its words ", the same of its longer phrases)]. At any one
        # place the longest phrase that matches is the one that counts: a phrase is found
        # where it matches and none of the longer phrases it begins does.
        self.by_first: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {}
        for first, options in entries.items():
            needles: dict[str, str] = {}
            for toks, phrase in options:
                needles.setdefault(f" {' '.join(toks)} ", phrase)  # one phrase per spelling
            self.by_first[first] = [
                (phrase, needle, tuple(other for other in needles
                                       if len(other) > len(needle) and other.startswith(needle)))
                for needle, phrase in needles.items()
            ]
        self.firsts = frozenset(self.by_first)

    def find(self, toks: list[str]) -> list[str]:
        """Distinct phrases found in ``toks``, in order of first appearance."""
        common = self.firsts.intersection(toks)
        if not common:
            return []
        text = f" {' '.join(toks)} "
        found: list[tuple[int, str]] = []
        for first in common:
            for phrase, needle, longer in self.by_first[first]:
                at = text.find(needle)
                while at >= 0:
                    if not longer or not any(text.startswith(n, at) for n in longer):
                        found.append((at, phrase))
                        break
                    at = text.find(needle, at + 1)
        # A phrase can be found twice: as its words and as them joined into one.
        return list(dict.fromkeys(phrase for _, phrase in sorted(found)))


@lru_cache(maxsize=32)
def _compile(phrases: tuple[str, ...], disable: frozenset[str] = frozenset()) -> _PhraseIndex:
    """The index of ``phrases`` normalised like the text (``disable``: for ablation)."""
    return _PhraseIndex(phrases, disable)


@lru_cache(maxsize=32)
def _compile_domains(domains: frozenset[str]) -> dict[str, str]:
    """Spellings of each domain (``bit.ly``, ``www.bit.ly``, ``bit.ly.``) -> domain."""
    out: dict[str, str] = {}
    for domain in sorted(domains):
        skel = normalise(domain).lower
        for variant in (skel, f"www.{skel}"):
            out[variant] = out[f"{variant}."] = domain
    return out


class KeywordsDetector(Detector):
    name = "keywords"
    needs_body: ClassVar[bool] = True  # replay skips it for records whose body is only a hash

    class Config(DetectorConfig):
        score: float = Field(10.0, ge=0, description="Unused: see score_per_hit and max_score.")
        max_score: float | None = Field(10.0, ge=0, description="Cap on the detector's score.")
        score_per_hit: float = Field(2.5, ge=0, description="Added per distinct hit.")
        phrases: list[str] = Field(
            default_factory=list, description="Phrases to flag, added to the default list."
        )
        use_default_list: bool = Field(
            True, description="Also flag the shipped phrases (plugins/data/spam_phrases.txt)."
        )
        shorteners: list[str] = Field(
            default_factory=list, description="Link-shortener domains added to the built-in set."
        )
        caps_ratio: float | None = Field(
            0.7, gt=0, le=1, description="Share of capitals that counts as shouting; null: off."
        )
        caps_min_letters: int = Field(20, ge=1, description="Shorter text is never shouting.")
        exclamation_run: int | None = Field(
            3, ge=2, description="This many '!' in a row is a hit; null: off."
        )

        @field_validator("phrases")
        @classmethod
        def _has_words(cls, value: list[str]) -> list[str]:
            for phrase in value:
                if not _phrase_words(phrase):
                    raise ValueError(f"expected a phrase with letters or digits, found {phrase!r}")
            return value

        @field_validator("shorteners")
        @classmethod
        def _domains(cls, value: list[str]) -> list[str]:
            for domain in value:
                if not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", domain):
                    raise ValueError(
                        f"expected a lower-case domain such as bit.ly, found {domain!r}"
                    )
            return value

    config: Config

    def __init__(self, config: DetectorConfig, policy: Any = None) -> None:
        super().__init__(config, policy)
        cfg = self.config
        phrases = tuple(cfg.phrases) + (default_phrases() if cfg.use_default_list else ())
        self._phrase_list = phrases
        self._phrases = _compile(phrases)
        self._shorteners = SHORTENERS | frozenset(cfg.shorteners)
        self._domains = _compile_domains(self._shorteners)
        # Starts with a literal ".", so ordinary prose is skipped through at C speed.
        tlds = sorted({d.rsplit(".", 1)[1] for d in self._shorteners}, key=len, reverse=True)
        alternatives = "|".join(map(re.escape, tlds))
        self._tld_hint = re.compile(rf"\.(?:{alternatives})(?![a-z0-9])")
        self._excl = "!" * (cfg.exclamation_run or 0)

    def check(self, message: Message, facts: Facts, content: Content) -> Signal | None:
        cfg = self.config
        text = f"{message.subject}\n{content.text}" if message.subject else content.text
        norm = normalise(text)
        hits = 0
        data: dict[str, Any] = {}
        details: list[str] = []

        found = self._phrases.find(norm.words)
        if found:
            obfuscated = self._obfuscations(text, found, norm.kinds)
            data["phrases"] = found
            if obfuscated:
                data["obfuscations"] = obfuscated
            hits += len(found)
            details.append("phrases " + ", ".join(
                repr(p) + (f" ({'+'.join(obfuscated[p])})" if p in obfuscated else "")
                for p in found))

        if cfg.caps_ratio is not None:
            ascii_text = norm.folded.encode("ascii", "ignore")
            letters = len(ascii_text) - len(ascii_text.translate(None, _LETTERS))
            if letters >= cfg.caps_min_letters:
                capitals = len(ascii_text) - len(ascii_text.translate(None, _CAPITALS))
                if capitals >= cfg.caps_ratio * letters:
                    hits += 1
                    data["all_caps"] = round(capitals / letters, 2)
                    details.append(f"{capitals / letters:.0%} capitals")

        if self._excl and self._excl in norm.folded:
            runs = sum(len(r) >= len(self._excl) for r in _EXCLAMATIONS.findall(norm.folded))
            if runs:
                hits += 1
                data["exclamation_runs"] = runs
                details.append(f"{runs} run(s) of {len(self._excl)}+ '!'")

        shorteners = self._find_shorteners(norm.lower, content.links)
        if shorteners:
            hits += len(shorteners)
            data["shorteners"] = shorteners
            details.append("link shortener " + ", ".join(shorteners))

        if not hits:
            return None
        data["hits"] = hits
        return self.signal(hits * cfg.score_per_hit,
                           f"{hits} spam hit{'s' if hits > 1 else ''}: " + "; ".join(details),
                           **data)

    def _obfuscations(
        self, text: str, found: list[str], fired: frozenset[str]
    ) -> dict[str, list[str]]:
        """For each phrase found, the obfuscation kinds without which it would not match."""
        needed: dict[str, list[str]] = {}
        for kind in KINDS:
            if kind not in fired:
                continue
            disable = frozenset({kind})
            index = _compile(self._phrase_list, disable)
            without = set(index.find(normalise(text, disable=disable).words))
            for phrase in found:
                if phrase not in without:
                    needed.setdefault(phrase, []).append(kind)
        return needed

    def _find_shorteners(self, lower: str, links: tuple[str, ...]) -> list[str]:
        found: dict[str, None] = {}
        for link in links:
            try:
                host = (urlsplit(link).hostname or "").removeprefix("www.")
            except ValueError:
                continue
            if host in self._shorteners:
                found[host] = None
        if self._tld_hint.search(lower):
            # Domains are whole tokens once everything but dots and hyphens separates words.
            for token in self._domains.keys() & domain_words(lower):
                found[self._domains[token]] = None
        return sorted(found)


@hookimpl
def inmail_guard_detectors() -> list[type[Detector]]:
    return [KeywordsDetector]
