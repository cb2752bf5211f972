"""Tests for inmail_guard.engine.content: what is read, rendered, counted and reported."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inmail_guard.engine.content import (
    FORMATTING_NAMES,
    PRODUCT_FORMATTING,
    SOURCE_LIMIT_FACTOR,
    Content,
    parse_body,
    preview,
)

BODY_LIMIT = 3000
MAX_SOURCE = SOURCE_LIMIT_FACTOR * BODY_LIMIT


def parse(source: str) -> Content:
    return parse_body(source, max_source_chars=MAX_SOURCE)


# --- the six supported constructs: rendered without their markup ----------------------------


@pytest.mark.parametrize(
    ("source", "text", "formatting"),
    [
        ("Hi **there**", "Hi there", {"bold"}),
        ("Hi __there__", "Hi there", {"bold"}),
        ("Hi *there*", "Hi there", {"italic"}),
        ("Hi _there_", "Hi there", {"italic"}),
        ("Hi ~~there~~", "Hi there", {"strikethrough"}),
        ("***both***", "both", {"bold", "italic"}),
        ("a*b*c", "abc", {"italic"}),  # `*` may emphasise inside a word (CommonMark)
        ("- one\n- two\n* three\n+ four", "one\ntwo\nthree\nfour", {"bullet_list"}),
        ("1. one\n2. two", "one\ntwo", {"numbered_list"}),
        ("3) three\n4) four", "three\nfour", {"numbered_list"}),
        ("- a\n  1. b\n- c", "a\nb\nc", {"bullet_list", "numbered_list"}),
        ("- **bold** item", "bold item", {"bullet_list", "bold"}),
        ("* *italic item*", "italic item", {"bullet_list", "italic"}),
        ("See [our roles](https://example.com/jobs?id=1)", "See our roles", {"link"}),
        ("[**Apply**](https://example.com)", "Apply", {"link", "bold"}),
    ],
)
def test_supported_construct_renders_without_markup(
    source: str, text: str, formatting: set[str]
) -> None:
    body = parse(source)
    assert body.text == text
    assert body.length == len(text)
    assert body.formatting == frozenset(formatting)
    assert body.source_length == len(source)
    assert body.truncated_parse is False


def test_formatting_names_are_exactly_the_product_ones() -> None:
    product = {"bold", "italic", "strikethrough", "bullet_list", "numbered_list", "link"}
    assert product == PRODUCT_FORMATTING
    assert FORMATTING_NAMES == PRODUCT_FORMATTING


# --- everything else a person types is literal text -----------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "Thanks,\nSam\n---\nSam Lee | Head of Data",  # signature under ---
        "Part one\n- - - -\nPart two",  # spaced separator
        "Part one\n***\nPart two",
        "Part one\n___\nPart two",
        "Part one\n* * *\nPart two",
        "Quarterly update\n================\nNumbers are up.",  # title over ===
        "Title\n-----\nbody",
        "> On Monday you wrote:\n> can we talk?\nSure, Tuesday works.",  # quoted lines
        "Run `pip install acme` first, then `acme init`.",  # code in a sentence
        "Ship to:\n    Acme GmbH\n    Hauptstr. 5\n    10115 Berlin",  # indented address
        "Office:\n\t12 Main St\n\tSpringfield",  # tab-indented
        "Please ask Alice <Head of Data> for the deck.",  # angle brackets, not HTML
        "# of years in role: 5\n## of reports: 3",  # `#` at line start
        "- - - - - - forwarded by Jane Doe/HOU/ECT on 01/02/2001 - - - - - -\nsee below",
        "#hiring #remote",
        "Use a < b and c > d, or x <= 3.",
        "No: file_name_here, my_var and snake_case_names stay.",
        "2 * 3 * 4 = 24, and 5*",
        "Cost: ~$20~ per seat",
        "C:\\Users\\dana\\report.docx",
        "1.5 million users, 2019. was a good year",
        "Shopping list\n-\n+\n*",
        "    code-like indented line\n        deeper",
        "~~~\nnot a fence\n~~~",
        "```\nnot a fence\n```",
        "| a | b |\n|---|---|\n| 1 | 2 |",
        "&amp; &copy; &#65; stay as typed",
    ],
)
def test_ordinary_text_is_literal(source: str) -> None:
    body = parse(source)
    expected = "\n".join(line.rstrip(" \t") for line in source.split("\n")).strip()
    assert body.text == expected
    assert body.formatting == frozenset()
    assert body.images == 0
    assert body.length == len(expected)


def test_deep_list_indentation_is_a_list_not_code() -> None:
    source = "Plan:\n  - one\n      - two\n          - three\n              - four"
    body = parse(source)
    assert body.text == "Plan:\none\ntwo\nthree\nfour"
    assert body.formatting == {"bullet_list"}


def test_a_list_item_may_start_with_a_negative_number() -> None:
    assert parse("- -5 degrees").text == "-5 degrees"


def test_escapes_count_as_the_character() -> None:
    body = parse(r"5 \* 3 \_ \[x\] \\ \q")
    assert body.text == r"5 * 3 _ [x] \ \q"
    assert body.formatting == frozenset()


def test_code_span_keeps_markup_inside_it_literal() -> None:
    body = parse("Try `**not bold**` and `a_b_c`")
    assert body.text == "Try `**not bold**` and `a_b_c`"
    assert body.formatting == frozenset()


def test_unclosed_delimiters_stay_literal() -> None:
    body = parse("**half bold and _half italic and ~~half struck")
    assert body.text == "**half bold and _half italic and ~~half struck"
    assert body.formatting == frozenset()


def test_empty_body() -> None:
    assert parse("") == Content("", 0, frozenset(), (), 0, (), 0)
    assert parse(" \n\n ").length == 0


# --- links ----------------------------------------------------------------------------------


def test_link_counts_visible_text_not_url() -> None:
    body = parse("See [our roles](https://example.com/jobs?id=1) today")
    assert body.text == "See our roles today"
    assert body.length == 19
    assert body.links == ("https://example.com/jobs?id=1",)


def test_autolinks_count_their_url_as_text() -> None:
    body = parse("Mail <sam@example.com> or see <https://example.com/a>")
    assert body.text == "Mail sam@example.com or see https://example.com/a"
    assert body.formatting == {"link"}
    assert body.links == ("mailto:sam@example.com", "https://example.com/a")


def test_bare_urls_are_links_without_sentence_punctuation() -> None:
    body = parse("See https://bit.ly/abc. Or (www.example.com/x_y_z), and https://w.org/a_(b).")
    assert body.links == ("https://bit.ly/abc", "www.example.com/x_y_z", "https://w.org/a_(b)")
    assert body.formatting == {"link"}
    assert body.text == (
        "See https://bit.ly/abc. Or (www.example.com/x_y_z), and https://w.org/a_(b).")


@pytest.mark.parametrize("source", ["[x](javascript:alert)", "[x](vbscript:x)", "[x](data:x)"])
def test_unsafe_link_scheme_is_literal_text(source: str) -> None:
    body = parse(source)
    assert (body.links, body.formatting, body.text) == ((), frozenset(), source)


# --- images and HTML ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "images"),
    [
        ("![](https://x.example/a.png)", 1),
        ("![alt text](a.png) and ![b](b.png)", 2),
        ("[![logo](l.png)](https://x.example)", 1),
        ('look <img src="a.png">', 1),
        ("look <IMG SRC=a.png>", 1),
        ("look <Img src=a.png/>", 1),
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
    assert body.formatting == frozenset()


def test_html_tags_are_text_and_named_once_in_order() -> None:
    source = "Hi <B>there</b> <script>alert(1)</script> <b>again</b> <a href='x'>y</a>"
    body = parse(source)
    assert body.raw_html == ("<b>", "<script>", "<a>")
    assert body.text == source
    assert body.formatting == frozenset()


def test_comments_declarations_and_processing_instructions_are_named() -> None:
    body = parse("a <!-- hidden --> b <?php echo 1; ?> c <!DOCTYPE html> d <![CDATA[x]]>")
    assert body.raw_html == ("<!--", "<?", "<!doctype>", "<![CDATA[")


@pytest.mark.parametrize(
    "source",
    ["Alice <Head of Data>", "Dear <first name>", "salary < 100k and 3 <4 and a<b",
     "<Title> <Last Name>", "Bob <b.smith@corp> wrote", "<table of contents>"],
)
def test_angle_brackets_that_are_not_html_are_not_named(source: str) -> None:
    assert parse(source).raw_html == ()


# --- template placeholders ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "found"),
    [
        ("Dear <first name>,", ("<first name>",)),
        ("Hi {{ first_name }} at {{company}}", ("{{ first_name }}", "{{company}}")),
        ("Hi {first_name}, {Company Name} is hiring", ("{first_name}", "{Company Name}")),
        ("Hi [Name], I saw [Company]", ("[Name]", "[Company]")),
        ("Hi %FIRSTNAME%, re %JOB_TITLE%", ("%FIRSTNAME%", "%JOB_TITLE%")),
        ("Dear <<Recipient>> and again <<Recipient>>", ("<Recipient>",)),
        ("Alice <Head of Data> said 50% to 60%", ()),
        ("[our page](https://example.com) and {braces} and [1]", ()),
    ],
)
def test_unfilled_placeholders_are_found(source: str, found: tuple[str, ...]) -> None:
    assert parse(source).placeholders == found


# --- counting -------------------------------------------------------------------------------


def test_visible_3000_with_markup_is_exactly_3000() -> None:
    a, b, c = "a" * 1000, "b" * 1000, "c" * 990
    source = f"**{a}** _{b}_ ~~{c}~~ [0123456](https://x.example/a-long-url)"
    body = parse(source)
    assert body.text == f"{a} {b} {c} 0123456"
    assert body.length == BODY_LIMIT


@pytest.mark.parametrize(
    ("source", "text"),
    [
        ("one\ntwo", "one\ntwo"),
        ("one\n\n\n\ntwo", "one\n\n\n\ntwo"),  # blank lines count as typed
        ("one  \ntwo\t\nthree", "one\ntwo\nthree"),  # trailing whitespace is not counted
        ("one\r\ntwo\rthree", "one\ntwo\nthree"),  # CRLF and CR are one newline each
        ("\n\n  one\n\n", "one"),  # leading/trailing whitespace of the body is not counted
        ("Intro:\n- a\n- b\nafter", "Intro:\na\nb\nafter"),
        ("one\n   two", "one\n   two"),  # indentation counts
    ],
)
def test_newlines_and_whitespace_count_as_documented(source: str, text: str) -> None:
    assert parse(source).text == text


@pytest.mark.parametrize(
    ("source", "length"),
    [("😀", 1), ("👍🏽", 2), ("👨\u200d👩\u200d👧", 5), ("é", 1), ("e\u0301", 2),
     ("**日本語**", 3)],
)
def test_length_counts_code_points(source: str, length: int) -> None:
    assert parse(source).length == length


def test_source_over_max_is_not_parsed() -> None:
    source = "**" * 6001
    body = parse_body(source, max_source_chars=12000)
    assert body.truncated_parse is True
    assert (body.length, body.text, body.formatting) == (12002, source, frozenset())


def test_source_at_max_is_parsed() -> None:
    body = parse_body("**" + "x" * 11996 + "**", max_source_chars=12000)
    assert body.truncated_parse is False
    assert body.length == 11996
    assert body.formatting == {"bold"}


@pytest.mark.parametrize("unit", ["[", "![", "*a", "_a", "`", "<", "** ", "[a](", "http://x"])
def test_unmatched_delimiters_parse_in_bounded_work(unit: str) -> None:
    """No super-linear work on adversarial markup (pytest-timeout bounds the worst case)."""
    source = (unit * 12000)[:12000]
    body = parse_body(source, max_source_chars=12000)
    assert body.length <= 12000


# Characters that mean something somewhere, mixed with prose.
_PIECES = ["- ", "1. ", "    ", "```", "~~", "**", "*", "_", "<img src=x>", "<b>", "&amp;",
           "[a](b)", "![a](b)", "<http://a>", "https://x.io/a_b.", "\n\n", "\n", "---", "\\*",
           "`a`", "{{x}}", "word", " word ", "\r\n", "\t", "é", "😀"]
_BODIES = st.lists(st.one_of(st.sampled_from(_PIECES), st.characters()), max_size=40).map("".join)


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(_BODIES)
def test_rendering_never_lengthens(source: str) -> None:
    body = parse(source)
    assert body.length == len(body.text) <= len(source)


_PLAIN_CHARS = st.sampled_from(list("abc XYZ.,;:!?()&#=>'\"é😀\n"))  # no digits: "1. a" is a list


@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(_PLAIN_CHARS, max_size=60).map("".join))
def test_text_without_supported_markup_renders_to_itself(source: str) -> None:
    body = parse(source)
    assert body.text == "\n".join(line.rstrip(" \t") for line in source.split("\n")).strip()
    assert body.formatting == frozenset()


# --- preview --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("Short one", 20, "Short one"),
        ("Hello Dana,\n\nI saw your talk", 40, "Hello Dana, I saw your talk"),
        ("Hello Dana, would you be open to a call", 20, "Hello Dana, would…"),
        ("one two three four", 13, "one two…"),  # the ellipsis counts toward the limit
        ("Supercalifragilisticexpialidocious word", 10, "Supercali…"),  # no boundary in reach
        ("exactly ten", 11, "exactly ten"),
    ],
)
def test_preview_cuts_at_a_word_boundary_with_an_ellipsis(
    text: str, limit: int, expected: str
) -> None:
    got = preview(text, limit)
    assert got == expected
    assert len(got) <= limit
