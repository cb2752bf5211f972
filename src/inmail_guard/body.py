"""Read an InMail body the way the person typed it.

InMail supports six kinds of formatting (docs/content.md): **bold**, *italics*,
~~strikethrough~~, bullet lists, numbered lists and links. :func:`parse_body` interprets exactly
those, in their Markdown spelling, and nothing else: a ``---`` separator, a ``> quoted`` line, a
``# of years`` at the start of a line, an indented address, ``Alice <Head of Data>``, a
``- - - forwarded by`` banner or a word in backticks is literal text, counted and previewed as
typed. The only things found in a body that cannot be sent are images (``![alt](src)``,
``<img ...>``), which :class:`Content` counts; raw HTML tags are text too, and are named in
``raw_html`` so that a policy can opt in to rejecting them (``content.raw_html: reject``).

Why not a CommonMark parser: CommonMark interprets far more than InMail shows (headings,
quotes, code blocks, thematic breaks, HTML, nested-list indentation) and every one of those
turned ordinary pasted text into a ``formatting_not_allowed`` rejection; it also cost ~280 µs for
100 words with markdown-it-py. This module is a small purpose-built reader: one line-start regex
for list items, one scan per line for inline constructs, emphasis paired with one stack per
delimiter kind (linear time, no super-linear backtracking on unmatched delimiters).
``benchmarks/bench_content.py`` measures it against markdown-it-py and the compiled CommonMark
parsers on PyPI, in the same run.

How the length is counted (the contract, also in docs/content.md):

* ``length`` is ``len(text)``: Unicode code points, spaces and newlines included.
* The markup of the six supported constructs is not counted: ``**``, ``__``, ``*``, ``_``,
  ``~~`` around text, a list item's marker and the indentation before it, a link's brackets and
  URL (its visible text is counted). A bare URL or an autolink ``<https://...>`` counts its URL.
  A backslash before a markup character counts as that character alone.
* Everything else counts as typed, including indentation, blank lines, backticks, ``#``, ``>``
  and HTML tags. ``\\r\\n`` counts as one newline; spaces and tabs at the end of a line and the
  start and end of the whole body is not counted.
* So text without the six constructs renders to itself (less trailing whitespace), and the
  rendered text is never longer than the source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "FORMATTING_NAMES",
    "PRODUCT_FORMATTING",
    "SOURCE_LIMIT_FACTOR",
    "Content",
    "parse_body",
    "preview",
]

#: The engine passes ``max_source_chars = SOURCE_LIMIT_FACTOR * body max_chars``. Markup and URLs
#: are not counted, so a valid body may be longer than the limit, but not 4 times longer in any
#: realistic message; anything beyond is rejected as too long without being parsed.
SOURCE_LIMIT_FACTOR = 4

#: The formatting InMail supports (docs/content.md), as named in ``Content.formatting``.
PRODUCT_FORMATTING: frozenset[str] = frozenset(
    {"bold", "italic", "strikethrough", "bullet_list", "numbered_list", "link"}
)
#: Every name ``Content.formatting`` can hold: the supported constructs are all that is read.
FORMATTING_NAMES: frozenset[str] = PRODUCT_FORMATTING

_EMPTY: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Content:
    """A parsed body. ``length == len(text)`` always holds."""

    text: str
    """The rendered plain text; what the body length limit counts."""
    length: int
    """``len(text)`` in code points."""
    formatting: frozenset[str]
    """Formatting constructs used, named as in :data:`FORMATTING_NAMES`."""
    links: tuple[str, ...]
    """Targets of links, autolinks and bare URLs, in order of appearance (``mailto:`` added to
    an autolinked address)."""
    images: int
    """Markdown images plus HTML ``<img>`` tags."""
    raw_html: tuple[str, ...]
    """HTML tags found (kept as text): ``"<b>"``, ``"<script>"``, ``"<!--"``...; lower-case
    names, closing tags folded into their opening name, first occurrence order, no repeats.
    Only text that is HTML by the tag grammar and a known element name counts:
    ``Alice <Head of Data>`` and ``<first name>`` do not."""
    source_length: int
    """``len(source)``."""
    truncated_parse: bool = False
    """True when the source was longer than ``max_source_chars`` and was not parsed: ``text`` is
    then the unparsed source and only ``length`` is meaningful (the body is too long)."""
    placeholders: tuple[str, ...] = ()
    """Template fields left unfilled, as typed (``"<first name>"``, ``"{{company}}"``,
    ``"[Name]"``), first occurrence order, no repeats; the advice plugin mentions them."""
    emphasized: int = 0
    """Characters of ``text`` inside bold, italic or strikethrough (each counted once)."""


# --- block level: list items --------------------------------------------------------------------

# A list item: optional indentation, a marker, whitespace, then something that is not itself
# another marker (``- - - forwarded by`` and ``* * *`` are separators typed as text). The match
# (indentation, marker, whitespace) is what is not counted.
_ITEM = re.compile(
    r"^[ \t]*(?:(?P<bullet>[-*+])|\d{1,9}[.)])[ \t]+(?![-*+_=~][ \t]|[-*+_=~]*$)(?=\S)",
    re.MULTILINE,
)

# Cheap tests for "may hold a list item": the first line, or a newline then a marker. The
# second starts with a literal, which the regex engine finds by memchr, unlike ``^`` in
# MULTILINE mode, which it tries at every position (~5 ns a character).
_ITEM_FIRST = re.compile(r"[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]")
_ITEM_LATER = re.compile(r"\n[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]")

# --- inline level -------------------------------------------------------------------------------

_URL_SCHEMES = ("http://", "https://", "mailto:", "tel:")
# The constructs, matched at a candidate position found by ``_CANDIDATE`` (a one-class scan
# runs in C at ~3 ns a character; searching with the alternation itself cost ~55 ns a character,
# since the regex engine tries every branch at every position). Bare URLs are found with
# ``str.find`` for the same reason.
_CANDIDATE = re.compile(r"[`\\!\[<*_~]")
_INLINE = re.compile(
    r"(?P<code>`+)"
    r"|\\(?P<esc>[\\`*_~\[\]()!<>{}#+\-.|])"
    r"|(?P<image>!\[[^\[\]\n]*\]\([^()\s]*(?:[ \t]+\"[^\"\n]*\")?[ \t]*\))"
    r"|(?P<link>\[(?P<label>[^\[\]\n]+)\]\([ \t]*(?P<href>[^()\s]*)(?:[ \t]+\"[^\"\n]*\")?[ \t]*\))"
    r"|<(?P<auto>(?:https?|mailto|tel):[^\s<>]+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+)>"
    r"|(?P<tag><[^<>\n]{1,300}>)"
    r"|(?P<delim>\*\*|__|~~|\*|_)"
)
_URL_BODY = re.compile(r"[^\s<>]+")
_URL_TRAILING = ".,:;!?'\""
# Spaces and tabs that end a line are not counted.
_LINE_END_BLANKS = re.compile(r"[ \t]+(?=\n)")

# Emphasis delimiters: ``_`` and ``__`` never open or close inside a word (snake_case stays
# text); ``*`` and ``**`` may (CommonMark's rule).
_INTRAWORD_FORBIDDEN = frozenset({"_", "__"})
_DELIM_FORMAT = {"**": "bold", "__": "bold", "*": "italic", "_": "italic", "~~": "strikethrough"}

# --- HTML and template placeholders -------------------------------------------------------------

_HTML_TAG = re.compile(
    r"<(?P<close>/?)(?P<name>[A-Za-z][A-Za-z0-9]*)"
    r"(?P<attrs>(?:\s+[A-Za-z_:][\w:.-]*(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'=<>`]+))?)*)"
    r"\s*/?>\Z"
)
_HTML_OTHER = re.compile(r"<(!--|\?|!\[CDATA\[|![A-Za-z]+)")
_ATTR = re.compile(r"([A-Za-z_:][\w:.-]*)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s\"'=<>`]+))?")
#: HTML element names (the living standard's, plus obsolete ones browsers still render).
HTML_ELEMENTS = frozenset({
    "a", "abbr", "address", "area", "article", "aside", "audio", "b", "base", "bdi", "bdo", "big",
    "blink", "blockquote", "body", "br", "button", "canvas", "caption", "center", "cite", "code",
    "col", "colgroup", "data", "datalist", "dd", "del", "details", "dfn", "dialog", "dir", "div",
    "dl", "dt", "em", "embed", "fieldset", "figcaption", "figure", "font", "footer", "form",
    "frame", "frameset", "h1", "h2", "h3", "h4", "h5", "h6", "head", "header", "hgroup", "hr",
    "html", "i", "iframe", "img", "input", "ins", "kbd", "label", "legend", "li", "link", "main",
    "map", "mark", "marquee", "math", "menu", "meta", "meter", "nav", "noscript", "object", "ol",
    "optgroup", "option", "output", "p", "param", "picture", "pre", "progress", "q", "rp", "rt",
    "ruby", "s", "samp", "script", "search", "section", "select", "slot", "small", "source",
    "span", "strike", "strong", "style", "sub", "summary", "sup", "svg", "table", "tbody", "td",
    "template", "textarea", "tfoot", "th", "thead", "time", "title", "tr", "track", "tt", "u",
    "ul", "var", "video", "wbr",
})
# Attributes that may stand without a value; any other bare word means prose in angle brackets.
_BOOLEAN_ATTRS = frozenset({
    "allowfullscreen", "async", "autofocus", "autoplay", "checked", "controls", "default", "defer",
    "disabled", "formnovalidate", "hidden", "inert", "ismap", "itemscope", "loop", "multiple",
    "muted", "nomodule", "novalidate", "open", "playsinline", "readonly", "required", "reversed",
    "selected",
})

_PLACEHOLDER = re.compile(
    r"\{\{[^{}\n]{1,40}\}\}"
    r"|\{[A-Za-z][\w .'-]{0,30}\}"
    r"|\[[A-Za-z][\w .'-]{0,30}\](?!\()"
    r"|<[A-Za-z][\w .'-]{0,30}>"
    r"|%[A-Za-z][A-Za-z_]{1,30}%"
)
_PLACEHOLDER_SEPARATORS = re.compile(r"[\s_.'-]+")
#: What a template field is called, after lower-casing and folding ``_ . ' -`` into spaces.
PLACEHOLDER_NAMES = frozenset({
    "first name", "firstname", "fname", "given name", "last name", "lastname", "lname",
    "surname", "family name", "full name", "name", "recipient", "recipient name", "contact",
    "contact name", "candidate", "candidate name", "prospect", "prospect name", "lead name",
    "insert name", "their name", "your name", "my name", "sender name", "company",
    "company name", "companyname", "organization", "organisation", "employer", "account",
    "account name", "title", "job title", "jobtitle", "role", "position", "city", "location",
    "industry", "school", "university", "insert company", "insert role", "insert title",
    "insert here", "placeholder", "tbd", "todo", "xxx",
})


def parse_body(source: str, *, max_source_chars: int) -> Content:
    """Parse a message body.

    ``max_source_chars`` bounds the work: a longer source is not parsed and comes back with
    ``truncated_parse=True`` and ``length == len(source)``, so the caller reports it as too long.
    Rendering never lengthens text, so a source within the body limit is always within it after
    rendering too.
    """
    n = len(source)
    if n > max_source_chars:
        return Content(source, n, _EMPTY, (), 0, (), n, True)
    text = source
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    # A %FIELD% placeholder needs two "%": "50% more" alone is not worth a regex scan.
    placeholders = (_placeholders(text) if ("{" in text or "[" in text or "<" in text
                                            or text.count("%") > 1) else ())
    reader = _Reader()
    if _ITEM_FIRST.match(text) is not None or _ITEM_LATER.search(text) is not None:
        text = _ITEM.sub(reader.item, text)
    urls = "://" in text or "www." in text
    # Chained `in` tests (memchr each): a generator over _INLINE_STARTS cost three times more.
    if ("*" in text or "_" in text or "[" in text or "<" in text or "`" in text or "~~" in text
            or "\\" in text or urls):
        text = reader.inline(text, urls)
    if " \n" in text or "\t\n" in text:
        text = _LINE_END_BLANKS.sub("", text)
    text = text.strip()
    return Content(
        text, len(text), frozenset(reader.formatting) if reader.formatting else _EMPTY,
        tuple(reader.links), reader.images, tuple(reader.html), n, False, placeholders,
        min(reader.emphasized, len(text)),
    )


class _Reader:
    """The constructs of one body: collects what was used while rendering it."""

    __slots__ = ("emphasized", "formatting", "html", "images", "links")

    def __init__(self) -> None:
        self.formatting: set[str] = set()
        self.links: list[str] = []
        self.images = 0
        self.html: dict[str, None] = {}  # ordered set
        self.emphasized = 0

    def item(self, match: re.Match[str]) -> str:
        """A list item's marker: recorded, and rendered as nothing."""
        self.formatting.add("bullet_list" if match["bullet"] else "numbered_list")
        return ""

    def inline(self, text: str, urls: bool = False) -> str:
        """Render ``text``: literal pieces, plus emphasis delimiters paired afterwards. No
        construct crosses a line: emphasis not closed on its line stays literal. ``urls``: the
        text may hold bare URLs (``://`` or ``www.`` occurs)."""
        pieces: list[str] = []
        # Per delimiter kind, the indices in ``pieces`` of openers not yet closed on this line.
        openers: dict[str, list[int]] = {}
        paired: list[tuple[int, int]] = []
        end = len(text)
        url_starts = _url_starts(text) if urls else []
        next_url = 0  # index into url_starts
        candidate = _CANDIDATE.search
        construct = _INLINE.match
        pos = 0
        while pos < end:
            found = candidate(text, pos)
            start = found.start() if found is not None else end
            while next_url < len(url_starts) and url_starts[next_url] < pos:
                next_url += 1
            if next_url < len(url_starts) and url_starts[next_url] < start:
                start = url_starts[next_url]
                match = None
            elif found is None:
                pieces.append(text[pos:])
                break
            else:
                match = construct(text, start)
                if match is None:  # a "!" or "~" that starts nothing
                    pieces.append(text[pos:start + 1])
                    pos = start + 1
                    continue
            if start > pos:
                pieces.append(text[pos:start])
                if openers and "\n" in text[pos:start]:
                    openers = {}
            if match is None:  # a bare URL
                url = _trim_url(_URL_BODY.match(text, start).group())  # type: ignore[union-attr]
                self.formatting.add("link")
                self.links.append(url)
                pieces.append(url)
                pos = start + len(url)
                continue
            pos = match.end()
            kind = match.lastgroup
            if kind == "delim":
                delim = match.group()
                before = text[start - 1] if start else " "
                after = text[pos] if pos < end else " "
                intraword = delim in _INTRAWORD_FORBIDDEN
                can_open = not after.isspace() and not (intraword and before.isalnum())
                can_close = not before.isspace() and not (intraword and after.isalnum())
                stack = openers.get(delim)
                index = len(pieces)
                # A closer needs an opener with something between them.
                if can_close and stack and stack[-1] < index - 1:
                    paired.append((stack.pop(), index))
                elif can_open:
                    openers.setdefault(delim, []).append(index)
                pieces.append(delim)
            elif kind == "code":
                # A code span is text as typed, markup inside it included.
                run = match.group()
                line_end = text.find("\n", pos)
                if line_end == -1:
                    line_end = end
                close = text.find(run, pos, line_end)
                while close != -1 and text.startswith("`", close + len(run)):
                    close = text.find(run, close + len(run) + 1, line_end)
                if close == -1:
                    pieces.append(run)
                else:
                    pieces.append(text[start:close + len(run)])
                    pos = close + len(run)
            elif kind == "esc":
                pieces.append(match.group("esc"))
            elif kind == "image":
                self.images += 1  # alt text is not shown, so not counted
            elif kind == "link":
                href = match.group("href")
                if _allowed_href(href):
                    self.formatting.add("link")
                    self.links.append(href)
                    pieces.append(self.inline(match.group("label")))
                else:
                    pieces.append(match.group())
            elif kind == "auto":
                target = match.group("auto")
                self.formatting.add("link")
                self.links.append(target if ":" in target else f"mailto:{target}")
                pieces.append(target)
            else:  # "tag": text as typed, recorded if it is HTML
                tag = match.group()
                self._tag(tag)
                pieces.append(tag)
        for opener, closer in paired:
            self.formatting.add(_DELIM_FORMAT[pieces[opener]])
            pieces[opener] = pieces[closer] = ""
        if paired:
            self.emphasized += _covered(pieces, paired)
        return "".join(pieces)

    def _tag(self, tag: str) -> None:
        """Record an HTML tag or image; text in angle brackets that is not HTML is ignored."""
        match = _HTML_TAG.match(tag)
        if match is None:
            other = _HTML_OTHER.match(tag)
            if other is not None:
                name = other.group(1)
                self.html.setdefault(
                    f"<{name.lower()}>" if name[1:2].isalpha() else f"<{name}", None)
            return
        name = match["name"].lower()
        if name not in HTML_ELEMENTS or _is_placeholder(tag):
            return
        for attr, value in _ATTR.findall(match["attrs"]):
            if not value and attr.lower() not in _BOOLEAN_ATTRS:
                return  # "Alice <Head of Data>": prose in angle brackets
        if name == "img":
            if not match["close"]:
                self.images += 1
            return
        self.html.setdefault(f"<{name}>", None)


def _covered(pieces: list[str], pairs: list[tuple[int, int]]) -> int:
    """Characters of ``pieces`` inside any of the (opener, closer) index pairs, nested or
    overlapping pairs counted once: a sweep over the pairs in opener order."""
    total, reach = 0, -1
    for opener, closer in sorted(pairs):
        start = max(opener + 1, reach)
        if start < closer:
            total += sum(map(len, pieces[start:closer]))
        reach = max(reach, closer)
    return total


def _url_starts(text: str) -> list[int]:
    """Where bare URLs (``http://``, ``https://``, ``www.``) start, not inside a word, in order."""
    starts = []
    for needle in ("http", "www."):
        at = text.find(needle)
        while at != -1:
            if (needle == "www." or text.startswith(("://", "s://"), at + 4)) and not (
                    at and (text[at - 1].isalnum() or text[at - 1] in "@/.-_")):
                starts.append(at)
            at = text.find(needle, at + 4)
    starts.sort()
    return starts


def _allowed_href(href: str) -> bool:
    """A link target InMail may show: http(s), mailto, tel, or a scheme-less address."""
    scheme, colon, _ = href.partition(":")
    if not colon or "/" in scheme or "." in scheme:
        return True  # relative, or host:port
    return href.lower().startswith(_URL_SCHEMES)


def _trim_url(url: str) -> str:
    """A bare URL without the sentence punctuation after it (GFM's autolink rule)."""
    url = url.rstrip(_URL_TRAILING)
    while url.endswith(")") and url.count(")") > url.count("("):
        url = url[:-1].rstrip(_URL_TRAILING)
    return url


def _is_placeholder(text: str) -> bool:
    if text.startswith("{{"):
        return True
    inner = _PLACEHOLDER_SEPARATORS.sub(" ", text[1:-1]).strip().lower()
    return inner in PLACEHOLDER_NAMES


def _placeholders(source: str) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for match in _PLACEHOLDER.finditer(source):
        text = match.group()
        # {first_name}-style fields are placeholders whatever their name; {word} may be prose.
        if _is_placeholder(text) or (text[0] == "{" and "_" in text and text[1:-1].isidentifier()):
            found.setdefault(text, None)
    return tuple(found)


def preview(text: str, limit: int) -> str:
    """The first ``limit`` characters of rendered ``text`` on one line, cut at a word boundary
    with an ellipsis when it is longer (the ellipsis counts toward ``limit``)."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit]  # limit - 1 characters plus the ellipsis, or fewer at a word boundary
    space = cut.rfind(" ")
    if space > limit // 2:
        return cut[:space].rstrip(" ,;:-") + "…"
    return cut[:limit - 1] + "…"
