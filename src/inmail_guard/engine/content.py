"""Parse an InMail body (a Markdown subset) into what the content rules need.

The body is CommonMark (markdown-it-py's ``commonmark`` preset, raw HTML recognised) plus
``~~strikethrough~~``. :func:`parse_body` returns a :class:`Content`: the rendered plain text that
the body length limit counts, the formatting constructs used, link targets, images and raw HTML.
It only describes the body; the rules in ``rules.py`` decide what is allowed.

How the length is counted (the contract, also in docs/content.md):

* ``length`` is ``len(text)``: Unicode code points, spaces and newlines included. No
  normalisation: an emoji is 1, but a ZWJ emoji sequence or a letter plus a combining accent
  counts each code point.
* Markup is not counted: ``**``, ``_``, ``~~``, backticks, ``#``, ``>``, list markers, link
  brackets and link URLs. A link's visible text is counted; an autolink's visible text is its URL.
  Backslash escapes and entities count as the one character they produce. Image alt text is not
  counted (images are reported separately).
* Line breaks inside a paragraph (soft or hard) count as one ``"\\n"``. Two blocks (paragraphs,
  list items, headings, code blocks...) on adjacent source lines are joined by ``"\\n"``; blocks
  separated by one or more blank lines are joined by ``"\\n\\n"``. Leading and trailing
  whitespace of the whole text is not counted.
* So ordinary prose (no Markdown markup, no lines starting or ending with whitespace, no runs of
  3+ newlines) renders to exactly itself, and the rendered text is never longer than the source.

Raw HTML is never rendered: it counts literally (as if escaped), ``<img>`` tags are counted in
``images`` and every other tag, comment or declaration is named in ``raw_html``.

Containers nested past markdown-it's limit (about 9 levels of lists or 19 of blockquotes) make it
drop text; such a body is counted literally, markup included, and flagged ``"deep_nesting"``.

Two cheap paths avoid markdown-it, whose parse costs far more than the engine's whole budget:

* a source longer than ``max_source_chars`` is not parsed at all (``truncated_parse=True``);
* a source containing nothing that could start a Markdown or HTML construct is returned as is
  (``_is_plain``; a property test checks it against the full parse).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from markdown_it import MarkdownIt
from markdown_it.token import Token

__all__ = [
    "DEEP_NESTING",
    "FORMATTING_NAMES",
    "PRODUCT_FORMATTING",
    "SOURCE_LIMIT_FACTOR",
    "Content",
    "parse_body",
]

#: The engine passes ``max_source_chars = SOURCE_LIMIT_FACTOR * body max_chars``. Markup and URLs
#: are not counted, so a valid body may be longer than the limit, but not 4 times longer in any
#: realistic message; anything beyond is rejected as too long without being parsed.
SOURCE_LIMIT_FACTOR = 4

#: The formatting the product allows (DESIGN.md section 1), as named in ``Content.formatting``.
PRODUCT_FORMATTING: frozenset[str] = frozenset(
    {"bold", "italic", "strikethrough", "bullet_list", "numbered_list", "link"}
)

_BLOCK_FORMATTING = {
    "bullet_list_open": "bullet_list",
    "ordered_list_open": "numbered_list",
    "heading_open": "heading",
    "blockquote_open": "blockquote",
    "table_open": "table",
    "hr": "horizontal_rule",
    "code_block": "code",
    "fence": "code",
}
#: Reported when containers nest so deep that markdown-it stops parsing and drops the rest.
DEEP_NESTING = "deep_nesting"
_INLINE_FORMATTING = {
    "strong_open": "bold",
    "em_open": "italic",
    "s_open": "strikethrough",
    "link_open": "link",
    "code_inline": "code",
}

#: Every name ``Content.formatting`` can hold for the parser configured here. A token type this
#: module does not know (a future markdown-it rule) is reported under its own name, so a policy
#: listing allowed names still rejects it.
FORMATTING_NAMES: frozenset[str] = (
    frozenset(_BLOCK_FORMATTING.values())
    | frozenset(_INLINE_FORMATTING.values())
    | {DEEP_NESTING, "excessive_markup"}
)

# Tokens that carry no formatting of their own: structure, or closers of something counted at
# its opener.
_NEUTRAL_BLOCK = frozenset(
    {"paragraph_open", "paragraph_close", "list_item_open", "list_item_close", "inline"}
)
_NEUTRAL_INLINE = frozenset({"text", "text_special", "softbreak", "hardbreak"})

# Raw HTML pieces: a tag (group 1 = optional "/", group 2 = name), or a comment / processing
# instruction / CDATA section / declaration.
_HTML_PIECE = re.compile(
    r"<(/?)([A-Za-z][A-Za-z0-9-]*)|<(!--|\?|!\[CDATA\[|![A-Za-z]+)",
)

# The fast path (``_is_plain``): a source with none of the following renders to exactly itself
# (markdown-it makes one paragraph of literal text per blank-line-separated chunk). Derived from
# markdown-it-py's commonmark block and inline rules plus strikethrough; deliberately
# conservative, and checked against the full parse by a property test.
#
# Characters that start an inline construct wherever they appear: emphasis, code spans,
# backslash escapes, raw HTML and autolinks, links and images (`!` alone is text), and the
# characters markdown-it's normalize step rewrites (CR, NUL). Tabs are excluded outright
# because of their column arithmetic in indentation. `~~` is strikethrough or a fence; a single
# `~` is text. Checked with `in` (memchr speed): one regex character class costs ~5 ns per
# character, several times more than all these scans together.
_PLAIN_BREAKERS = ("*", "_", "`", "\\", "<", "[", "\t", "\r", "\x00", "~~")
# `&` is text unless it starts a character reference.
_ENTITY = re.compile(r"&#?[A-Za-z0-9]+;")
# What a line may not start with: a block marker (ATX heading, blockquote, setext underline,
# bullet list or thematic break, ordered list) or whitespace (indented code; stripped).
_LINE_START = r"[#>=+\-\s]|\d+[.)](?!\S)"
_FIRST_LINE_BREAKER = re.compile(_LINE_START)
# After a newline: the same line starts, except that one blank line (a paragraph break) is fine
# but two are not (three newlines render as two); a newline ending the text (stripped); a newline
# after whitespace (trailing spaces are stripped, two of them make a hard break). Every branch
# starts with a literal newline so the regex engine skips quickly to the next one.
_NEWLINE_BREAKER = re.compile(r"\n(?:[#>=+\-]|[^\S\n]|\d+[.)](?!\S)|\n\n|\Z|(?<=[^\S\n]\n))")


def _is_plain(source: str) -> bool:
    """True if ``source`` certainly renders to itself with no formatting, links or images."""
    for breaker in _PLAIN_BREAKERS:
        if breaker in source:
            return False
    if "&" in source and _ENTITY.search(source) is not None:
        return False
    if _FIRST_LINE_BREAKER.match(source) is not None or source[-1:].isspace():
        return False
    return "\n" not in source or _NEWLINE_BREAKER.search(source) is None


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
    """Link and autolink targets (as normalised by markdown-it), in order of appearance."""
    images: int
    """Markdown images plus raw HTML ``<img>`` tags."""
    raw_html: tuple[str, ...]
    """Raw HTML found, other than ``<img>``: ``"<b>"``, ``"<script>"``, ``"<!--"``...; lower-case
    tag names, closing tags folded into their opening name, first occurrence order, no repeats."""
    source_length: int
    """``len(source)``."""
    truncated_parse: bool = False
    """True when the source was longer than ``max_source_chars`` and was not parsed: ``text`` is
    then the unparsed source and only ``length`` is meaningful (the body is too long)."""


_NO_FORMATTING: frozenset[str] = frozenset()


def _make_parser() -> MarkdownIt:
    # html=True (the commonmark default) so raw HTML is recognised and reported, never passed
    # through as if it were text the user meant.
    return MarkdownIt("commonmark", {"html": True}).enable("strikethrough")


_MD = _make_parser()
# markdown-it silently drops everything inside a container opened at this token level (its
# ``maxNesting``, 20 levels; a bullet list costs 2 per level). Dropped text would escape the
# length limit yet may still be shown by another renderer, so such a body is counted literally.
_DEEPEST_LEVEL = _MD.options.maxNesting - 1


MAX_OPEN_BRACKETS = 200
MAX_EMPHASIS_DELIMITERS = 600
EXCESSIVE_MARKUP = "excessive_markup"
_EXCESSIVE = frozenset({EXCESSIVE_MARKUP})


def parse_body(source: str, *, max_source_chars: int) -> Content:
    """Parse a message body.

    ``max_source_chars`` bounds the work: a longer source is not parsed and comes back with
    ``truncated_parse=True`` and ``length == len(source)``, so the caller reports it as too long.
    Rendering never lengthens text, so a source within the body limit is always within it after
    rendering too; parsing is still needed to find formatting, links and images.
    """
    n = len(source)
    if n > max_source_chars:
        return Content(source, n, _NO_FORMATTING, (), 0, (), n, True)
    if _is_plain(source):
        return Content(source, n, _NO_FORMATTING, (), 0, (), n)
    if (source.count("[") > MAX_OPEN_BRACKETS
            or source.count("*") + source.count("_") > MAX_EMPHASIS_DELIMITERS):
        # markdown-it's link and emphasis parsing is super-linear in unmatched delimiters
        # (12,000 "[" take ~0.25 s, "*a" x 6,000 ~0.09 s). No real InMail has hundreds of links
        # or emphasis runs: count the body literally and flag it, which the engine rejects as
        # formatting_not_allowed.
        return Content(source, n, _EXCESSIVE, (), 0, (), n)
    return _parse_full(source)


def _parse_full(source: str) -> Content:
    """Parse with markdown-it, no shortcuts. Exposed for tests of the fast path."""
    chunks: list[str] = []
    formatting: set[str] = set()
    links: list[str] = []
    html: dict[str, None] = {}  # ordered set
    images = 0
    prev_end: int | None = None  # source line after the previous emitted block

    tokens = _MD.parse(source)
    for token in tokens:
        kind = token.type
        if kind == "inline":
            chunk, inline_images = _render_inline(token.children or (), formatting, links, html)
            images += inline_images
        elif kind in ("code_block", "fence"):
            formatting.add("code")
            chunk = token.content.rstrip("\n")
        elif kind == "html_block":
            chunk = token.content.rstrip("\n")
            images += _scan_html(chunk, html)
        else:
            name = _BLOCK_FORMATTING.get(kind)
            if name is not None:
                formatting.add(name)
            elif kind not in _NEUTRAL_BLOCK and not kind.endswith("_close"):
                formatting.add(kind.removesuffix("_open"))
            continue
        if not chunk:
            continue
        start, end = token.map if token.map else (prev_end or 0, prev_end or 0)
        if prev_end is not None:
            chunks.append("\n" if start <= prev_end else "\n\n")
        chunks.append(chunk)
        prev_end = end

    if any(token.level >= _DEEPEST_LEVEL for token in tokens):
        # Some text may have been dropped: count everything, markup included.
        formatting.add(DEEP_NESTING)
        text = source.strip()
    else:
        text = "".join(chunks).strip()
    return Content(
        text,
        len(text),
        frozenset(formatting),
        tuple(links),
        images,
        tuple(html),
        len(source),
    )


def _render_inline(
    children: Sequence[Token],
    formatting: set[str],
    links: list[str],
    html: dict[str, None],
) -> tuple[str, int]:
    parts: list[str] = []
    images = 0
    for child in children:
        kind = child.type
        if kind in ("text", "text_special"):
            parts.append(child.content)
        elif kind in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif kind == "image":
            images += 1  # alt text (the children) is not rendered
        elif kind == "html_inline":
            parts.append(child.content)
            images += _scan_html(child.content, html)
        else:
            name = _INLINE_FORMATTING.get(kind)
            if name is not None:
                formatting.add(name)
                if kind == "link_open":
                    links.append(str(child.attrGet("href") or ""))
                elif kind == "code_inline":
                    parts.append(child.content)
            elif kind not in _NEUTRAL_INLINE and not kind.endswith("_close"):
                formatting.add(kind.removesuffix("_open"))
    return "".join(parts), images


def _scan_html(fragment: str, html: dict[str, None]) -> int:
    """Record raw HTML names found in ``fragment``; return how many ``<img>`` tags it has."""
    images = 0
    for match in _HTML_PIECE.finditer(fragment):
        slash, tag, other = match.groups()
        if tag is not None:
            tag = tag.lower()
            if tag == "img":
                if not slash:
                    images += 1
                continue
            html.setdefault(f"<{tag}>", None)
        elif other.startswith("!") and other[1:2].isalpha():
            html.setdefault(f"<{other.lower()}>", None)  # <!doctype>
        else:
            html.setdefault(f"<{other}", None)  # "<!--", "<?", "<![CDATA["
    return images
