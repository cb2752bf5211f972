"""What a member id may hold: one rule for the ids the service stores and the ids a policy's
blocklists name (a blocklisted id the service would refuse could never match a member); and
what a line of text shown to people may hold (a member's name and profile details, a policy's
name).

An id may not hold control characters, nor the invisible ones that make two different ids look
the same or reorder the text around them: soft hyphen, zero-width characters, bidi marks,
embeddings, overrides and isolates, line and paragraph separators, the byte order mark. A
leaf: the service, the API's OpenAPI pattern and the policy loader read it.
"""

from __future__ import annotations

import re
import unicodedata

#: The forbidden characters as a regular expression character class (Python and ECMA-262 read
#: it alike; the OpenAPI document's pattern for ``PUT /v1/members/{id}`` is built from it).
ID_FORBIDDEN_CHARS = ("\\x00-\\x1f\\x7f-\\x9f\\u00ad\\u061c\\u180e\\u200b-\\u200f"
                      "\\u2028-\\u202e\\u2060-\\u206f\\ufeff\\ufff9-\\ufffb")
_ID_FORBIDDEN = re.compile(f"[{ID_FORBIDDEN_CHARS}]")
#: The same characters less those ``str.split()`` reads as whitespace (tab, newline, the line
#: separators...): in a blocklist file they separate ids, they are not part of one.
_FORBIDDEN_INSIDE = re.compile("[" + "".join(
    re.escape(chr(code))
    for first, last in re.findall(r"\\[xu]([0-9a-f]+)(?:-\\[xu]([0-9a-f]+))?",
                                  ID_FORBIDDEN_CHARS)
    for code in range(int(first, 16), int(last or first, 16) + 1)
    if not chr(code).isspace()) + "]")


#: What displayed text may not hold, as a character class like :data:`ID_FORBIDDEN_CHARS`:
#: control characters (a newline, a tab), and bidi embeddings, overrides and isolates, which
#: reorder the text shown after them ("\u202e" + "moc.evil" reads "live.com"). Zero-width
#: joiners stay: some scripts and emoji need them.
DISPLAY_FORBIDDEN_CHARS = "\\x00-\\x1f\\x7f-\\x9f\\u202a-\\u202e\\u2066-\\u2069"
#: One line of displayed text, as a pattern (pydantic, the OpenAPI document).
ONE_LINE_PATTERN = f"^[^{DISPLAY_FORBIDDEN_CHARS}]*$"


def describe_char(char: str) -> str:
    """``U+202E (RIGHT-TO-LEFT OVERRIDE)``: a character named, never the text around it."""
    return f"U+{ord(char):04X} ({unicodedata.name(char, 'a control character')})"


def id_problem(member_id: str) -> str | None:
    """Why ``member_id`` cannot be a member's id (``"contains U+200B (ZERO WIDTH SPACE), an
    invisible or control character"``), or None."""
    bad = _ID_FORBIDDEN.search(member_id)
    if bad is None:
        return None
    return f"contains {describe_char(bad.group())}, an invisible or control character"


def first_bad_id(text: str) -> tuple[int, str, str] | None:
    """In whitespace-separated ids (a blocklist file's text, comments removed): the line, the
    id and the problem of the first id :func:`id_problem` refuses, or None. One search of the
    whole text in C: a million ids cost milliseconds, not a check each."""
    bad = _FORBIDDEN_INSIDE.search(text)
    if bad is None:
        return None
    start = max(text.rfind(c, 0, bad.start()) for c in (" ", "\t", "\n", "\r")) + 1
    ends = [i for i in (text.find(c, bad.start()) for c in (" ", "\t", "\n", "\r")) if i >= 0]
    end = min(ends) if ends else len(text)
    return text.count("\n", 0, bad.start()) + 1, text[start:end], (
        f"contains {describe_char(bad.group())}, an invisible or control character")


__all__ = ["DISPLAY_FORBIDDEN_CHARS", "ID_FORBIDDEN_CHARS", "ONE_LINE_PATTERN", "describe_char",
           "first_bad_id", "id_problem"]
