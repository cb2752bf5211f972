"""Tests for inmail_guard.engine.content: rendering, counting, reporting, guard, fast path."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inmail_guard.engine import content
from inmail_guard.engine.content import (
    DEEP_NESTING,
    FORMATTING_NAMES,
    PRODUCT_FORMATTING,
    SOURCE_LIMIT_FACTOR,
    Content,
    _is_plain,
    _parse_full,
    parse_body,
)

BODY_LIMIT = 3000
MAX_SOURCE = SOURCE_LIMIT_FACTOR * BODY_LIMIT


def parse(source: str) -> Content:
    return parse_body(source, max_source_chars=MAX_SOURCE)


# --- formatting constructs: rendered text, length, names ------------------------------------


@pytest.mark.parametrize(
    ("source", "text", "formatting"),
    [
        ("Hi **there**", "Hi there", {"bold"}),
        ("Hi __there__", "Hi there", {"bold"}),
        ("Hi *there*", "Hi there", {"italic"}),
        ("Hi _there_", "Hi there", {"italic"}),
        ("Hi ~~there~~", "Hi there", {"strikethrough"}),
        ("***both***", "both", {"bold", "italic"}),
        ("- one\n- two\n* three", "one\ntwo\nthree", {"bullet_list"}),  # two lists
        ("1. one\n2. two", "one\ntwo", {"numbered_list"}),
        ("3) three\n4) four", "three\nfour", {"numbered_list"}),
        ("- a\n  1. b\n- c", "a\nb\nc", {"bullet_list", "numbered_list"}),
        ("# Title", "Title", {"heading"}),
        ("Title\n=====", "Title", {"heading"}),
        ("### Title ###", "Title", {"heading"}),
        ("> quoted", "quoted", {"blockquote"}),
        ("use `x = 1` here", "use x = 1 here", {"code"}),
        ("    indented code", "indented code", {"code"}),
        ("```py\nfenced\n```", "fenced", {"code"}),
        ("~~~\nfenced\n~~~", "fenced", {"code"}),
        ("a\n\n---\n\nb", "a\n\nb", {"horizontal_rule"}),
        ("a\n\n***\n\nb", "a\n\nb", {"horizontal_rule"}),
    ],
)
def test_construct_renders_without_markup(source: str, text: str, formatting: set[str]) -> None:
    body = parse(source)
    assert body.text == text
    assert body.length == len(text)
    assert body.formatting == frozenset(formatting)
    assert body.source_length == len(source)
    assert body.truncated_parse is False


def test_link_counts_visible_text_not_url() -> None:
    body = parse("See [our roles](https://example.com/jobs?id=1) today")
    assert body.text == "See our roles today"
    assert body.length == 19
    assert body.formatting == {"link"}
    assert body.links == ("https://example.com/jobs?id=1",)


def test_autolinks_count_their_url_as_text() -> None:
    body = parse("Mail <sam@example.com> or see <https://example.com/a>")
    assert body.text == "Mail sam@example.com or see https://example.com/a"
    assert body.length == 49
    assert body.formatting == {"link"}
    assert body.links == ("mailto:sam@example.com", "https://example.com/a")


def test_links_in_order_with_reference_links() -> None:
    body = parse("[b](https://b.example) then [a][ref]\n\n[ref]: https://a.example")
    assert body.text == "b then a"
    assert body.links == ("https://b.example", "https://a.example")


def test_link_url_is_normalised_by_markdown_it() -> None:
    assert parse("[x](https://example.com/a b)").links == ()  # a space ends the URL: no link
    assert parse("[x](<https://example.com/a b>)").links == ("https://example.com/a%20b",)


def test_javascript_link_is_not_a_link() -> None:
    body = parse("[x](javascript:alert(1))")
    assert body.links == ()
    assert body.formatting == frozenset()
    assert body.text == "[x](javascript:alert(1))"


def test_escapes_and_entities_count_as_the_character_they_produce() -> None:
    body = parse(r"5 \* 3 &amp; &copy; &#65;")
    assert body.text == "5 * 3 & © A"
    assert body.length == 11
    assert body.formatting == frozenset()


def test_empty_body() -> None:
    assert parse("") == Content("", 0, frozenset(), (), 0, (), 0)
    assert parse(" \n\n ").text == ""
    assert parse(" \n\n ").length == 0


def test_product_formatting_names_are_reportable() -> None:
    product = {"bold", "italic", "strikethrough", "bullet_list", "numbered_list", "link"}
    assert product == PRODUCT_FORMATTING
    assert PRODUCT_FORMATTING < FORMATTING_NAMES
    others = {"heading", "blockquote", "code", "horizontal_rule", "table", "deep_nesting",
              "excessive_markup"}
    assert others == FORMATTING_NAMES - PRODUCT_FORMATTING


# --- markup is not counted against the limit ------------------------------------------------


def test_visible_3000_with_markup_is_exactly_3000() -> None:
    a, b, c = "a" * 1000, "b" * 1000, "c" * 990
    source = f"**{a}** _{b}_ ~~{c}~~ [0123456](https://x.example/a-long-url)"
    body = parse(source)
    assert len(source) == 3042
    assert body.text == f"{a} {b} {c} 0123456"
    assert body.length == BODY_LIMIT


def test_visible_3001_with_markup_is_3001() -> None:
    body = parse("**" + "b" * 3001 + "**")
    assert body.length == 3001


# --- images and raw HTML --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "images"),
    [
        ("![](https://x.example/a.png)", 1),
        ("![alt text](a.png) and ![b](b.png)", 2),
        ("[![logo](l.png)](https://x.example)", 1),
        ('look <img src="a.png">', 1),
        ("look <IMG SRC=a.png>", 1),
        ("look <Img src=a.png/>", 1),
        ('<img src="a.png">', 1),  # alone on a line: an HTML block, not inline HTML
        ("<div>\n<img src=a.png><img src=b.png>\n</div>", 2),
        ("a </img> b", 0),
        ("no image here", 0),
    ],
)
def test_images_are_counted(source: str, images: int) -> None:
    assert parse(source).images == images


def test_image_alt_text_is_not_counted_and_image_is_not_formatting() -> None:
    body = parse("Hello ![a long alt text](a.png) world")
    assert body.text == "Hello  world"
    assert body.length == 12
    assert body.formatting == frozenset()


def test_img_tag_is_not_reported_as_raw_html() -> None:
    body = parse("x <img src=a.png> y")
    assert body.raw_html == ()
    assert body.images == 1
    assert body.text == "x <img src=a.png> y"  # raw HTML is never rendered: counted literally


def test_raw_html_tags_are_named_once_in_order() -> None:
    body = parse("Hi <B>there</b> <script>alert(1)</script> <b>again</b>")
    assert body.raw_html == ("<b>", "<script>")
    assert body.text == "Hi <B>there</b> <script>alert(1)</script> <b>again</b>"
    assert body.length == len(body.text) == 54
    assert body.formatting == frozenset()
    assert body.images == 0


def test_html_block_is_counted_literally_and_reported() -> None:
    body = parse("Intro\n\n<div class=x>\n<p>hi</p>\n</div>\n\nOutro")
    assert body.raw_html == ("<div>", "<p>")
    assert body.text == "Intro\n\n<div class=x>\n<p>hi</p>\n</div>\n\nOutro"


def test_comments_declarations_and_processing_instructions_are_reported() -> None:
    body = parse("a <!-- hidden --> b <?php echo 1; ?> c <!DOCTYPE html> d <![CDATA[x]]>")
    assert body.raw_html == ("<!--", "<?", "<!doctype>", "<![CDATA[")


def test_text_that_only_looks_like_html_is_text() -> None:
    body = parse("salary < 100k and 3 <4 and a<b")
    assert body.raw_html == ()
    assert body.text == "salary < 100k and 3 <4 and a<b"


# --- newline counting (docs/content.md) -----------------------------------------------------


@pytest.mark.parametrize(
    ("source", "text"),
    [
        ("one\ntwo", "one\ntwo"),  # soft break: one "\n"
        ("one\n\ntwo", "one\n\ntwo"),  # paragraph break: "\n\n"
        ("one\n\n\n\n\ntwo", "one\n\ntwo"),  # extra blank lines collapse
        ("one  \ntwo", "one\ntwo"),  # hard break (two spaces): one "\n", spaces not counted
        ("one\\\ntwo", "one\ntwo"),  # hard break (backslash)
        ("one \n   two", "one\ntwo"),  # spaces around a soft break are not counted
        ("one\r\ntwo", "one\ntwo"),  # CRLF is one newline
        ("\n\n  one\n\n", "one"),  # leading/trailing whitespace is not counted
        ("- a\n- b", "a\nb"),  # tight list: items on adjacent lines
        ("- a\n\n- b", "a\n\nb"),  # loose list: a blank line between items
        ("Intro:\n- a\n- b\nafter", "Intro:\na\nb\nafter"),
        ("Intro:\n\n1. a\n2. b\n\nOutro", "Intro:\n\na\nb\n\nOutro"),
        ("# Head\ntext", "Head\ntext"),
        ("- a\n\n  second paragraph of a\n- b", "a\n\nsecond paragraph of a\nb"),
        ("> a\n>\n> b", "a\n\nb"),
    ],
)
def test_newlines_count_as_documented(source: str, text: str) -> None:
    body = parse(source)
    assert body.text == text
    assert body.length == len(text)


def test_ordinary_prose_renders_to_itself() -> None:
    source = (
        "Hi Dana! I saw your talk (great slides) at the 2024 conference.\n"
        "Would you be open to a chat? Our team is ~20 people; R&D is in Berlin.\n\n"
        "#hiring - no pressure. 3.5 years of Go is plenty.\n\n"
        "Best,\nSam"
    )
    body = parse(source)
    assert body.text == source
    assert body.length == len(source) == body.source_length
    assert body.formatting == frozenset()


def _nested_list(depth: int) -> str:
    return "".join("  " * i + f"- item{i}\n" for i in range(depth))


def test_nested_list_within_markdown_it_limit_renders() -> None:
    body = parse(_nested_list(8))
    assert body.text == "\n".join(f"item{i}" for i in range(8))
    assert body.formatting == {"bullet_list"}


def test_nesting_past_markdown_it_limit_is_counted_literally() -> None:
    # markdown-it drops the content of containers past maxNesting; that text must not escape
    # the length limit, so the whole source counts and the body is flagged.
    source = _nested_list(12) + "[hidden](https://x.example) ![i](i.png)"
    body = parse(source)
    assert DEEP_NESTING == "deep_nesting"
    assert body.formatting == {"bullet_list", DEEP_NESTING}
    assert body.text == source
    assert body.length == len(source)


def test_deep_blockquote_is_flagged() -> None:
    body = parse("> " * 25 + "hi")
    assert DEEP_NESTING in body.formatting
    assert body.length == 52


# --- unicode: code points -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "length"),
    [
        ("😀", 1),
        ("😀😀😀", 3),
        ("👍🏽", 2),  # emoji + skin tone modifier
        ("👨\u200d👩\u200d👧", 5),  # ZWJ family: 3 emoji + 2 joiners
        ("é", 1),  # precomposed
        ("e\u0301", 2),  # e + combining acute: not normalised
        ("**日本語**", 3),
    ],
)
def test_length_counts_code_points(source: str, length: int) -> None:
    assert parse(source).length == length


# --- the pre-parse guard --------------------------------------------------------------------


class _ExplodingParser:
    def parse(self, src: str) -> list[object]:
        raise AssertionError("markdown-it must not be called")


def test_source_over_max_is_not_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(content, "_MD", _ExplodingParser())
    source = "**" * 6001  # would need a real parse, and is 12,002 chars
    body = parse_body(source, max_source_chars=12000)
    assert body.truncated_parse is True
    assert body.length == 12002
    assert body.source_length == 12002
    assert body.text == source
    assert body.formatting == frozenset()
    assert body.images == 0


def test_source_at_max_is_parsed() -> None:
    body = parse_body("**" + "x" * 11996 + "**", max_source_chars=12000)
    assert body.truncated_parse is False
    assert body.length == 11996
    assert body.formatting == {"bold"}


def test_source_limit_factor() -> None:
    assert SOURCE_LIMIT_FACTOR == 4


# --- the fast path --------------------------------------------------------------------------


def test_plain_prose_skips_markdown_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(content, "_MD", _ExplodingParser())
    source = "Hi Sam!\nThanks (really) for the note: 10 out of 10.\n\nBest, Dana"
    assert parse(source) == Content(source, len(source), frozenset(), (), 0, (), len(source))


@pytest.mark.parametrize(
    "source",
    [
        "a*b",
        "snake_case",
        "a `b`",
        "a \\ b",
        "a <b",
        "a [b",
        "a\tb",
        "a\r\nb",
        "a\x00b",
        "a ~~b",
        "a &amp; b",
        "# a",
        "a\n> b",
        "a\n===",
        "a\n-",
        "+ a",
        "1. a",
        "a\n2) b",
        " a",
        "a ",
        "a\n b",
        "a \nb",
        "a\u00a0\nb",
        "\na",
        "a\n",
        "a\n\n\nb",
    ],
)
def test_fast_path_declines_markdown_specials(source: str) -> None:
    assert _is_plain(source) is False


# Characters that are special somewhere in Markdown (or whitespace of some kind), mixed with
# prose, so that many generated strings are plain but only just.
_TRICKY = list(
    " \n\t\r>-+*_=#`~[]()!<&\\;:.)1290aBz\u00a0\u2028\u2003\x0b\x0c\x1c\x85\u0301é😀|/\"'@"
)
_PIECES = [
    "- ",
    "1. ",
    "1) ",
    "    ",
    "```",
    "~~",
    "**",
    "<img src=x>",
    "<b>",
    "&amp;",
    "&#x41;",
    "&nope",
    "[a](b)",
    "![a](b)",
    "<http://a>",
    "\n\n",
    "---",
    "===",
    "word",
    " word ",
]
_MARKDOWNISH = st.lists(
    st.one_of(st.sampled_from(_TRICKY), st.sampled_from(_PIECES)), max_size=40
).map("".join)
# Prose-like: no character that always blocks the fast path, so most examples take it.
_PROSEISH = st.lists(
    st.sampled_from([*"abc XYZ.,;:!?()]~&#-+=>'\"0123\n\u00a0\u2028\x0c\x85é😀", "\n\n"]),
    max_size=60,
).map("".join)


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(_MARKDOWNISH, _PROSEISH, st.text(max_size=50)))
def test_fast_path_equals_full_parse(source: str) -> None:
    full = _parse_full(source)
    if _is_plain(source):
        assert full == Content(source, len(source), frozenset(), (), 0, (), len(source))
    assert parse(source) == full


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(_MARKDOWNISH, st.text(max_size=50)))
def test_rendering_never_lengthens(source: str) -> None:
    body = _parse_full(source)
    assert body.length == len(body.text)
    assert body.length <= len(source)


@pytest.mark.parametrize("unit", ["[", "![", "*a", "_a"])
def test_pathological_markup_is_not_parsed(unit: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """markdown-it is super-linear in unmatched delimiters: such bodies are flagged unparsed."""
    source = (unit * 3000)[:3000]

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("parser must not run")

    monkeypatch.setattr(content._MD, "parse", boom)
    result = parse_body(source, max_source_chars=12_000)
    assert result.formatting == frozenset({"excessive_markup"})
    assert (result.length, result.text) == (3000, source)
