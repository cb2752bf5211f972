"""Built-in advice: codes, messages and the cases that trigger each."""

from __future__ import annotations

import pytest

from inmail_guard.engine.content import parse_body
from inmail_guard.engine.types import Advice, Member
from inmail_guard.plugins.advice import (
    CODES,
    FOLLOW_UP_AFTER_MEETING,
    FORMATTING_OVERUSE,
    LONG_PARAGRAPH,
    MESSAGE_LONG,
    NO_CALL_TO_ACTION,
    SIMPLE_LANGUAGE,
    SUBJECT_MISSING,
    WEAK_SUBJECT,
    first_name,
    inmail_guard_advise,
    weak_subject,
)
from inmail_guard.reasons import REASON_CODES

SHORT_BODY = "Hi Dana, would you be open to a short call about the platform role at Acme?"


@pytest.fixture
def advice(make_message, make_facts):
    def call(subject: str = "Platform engineer role at Acme Berlin", body: str = SHORT_BODY,
             name: str | None = "Dana Smith", **facts: object) -> list[Advice]:
        msg = make_message(subject=subject, body=body)
        fct = make_facts(recipient=Member("r1", name=name), **facts)
        return inmail_guard_advise(message=msg, facts=fct,
                                   content=parse_body(body, max_source_chars=12000))

    return call


def codes(items: list[Advice]) -> list[str]:
    return [a.code for a in items]


def test_good_message_gets_no_advice(advice) -> None:
    assert advice() == []


def test_codes_are_documented() -> None:
    assert CODES == ("no_subject", "subject_weak", "message_long", "not_personalised",
                     "long_paragraph", "unfilled_placeholder", "formatting_overuse",
                     "no_call_to_action", "mention_shared_connections",
                     "follow_up_after_meeting", "simple_language", "profile_specifics")


def test_no_subject_is_advice_with_its_own_code_not_the_reason_code(advice) -> None:
    assert advice(subject="  ") == [Advice("no_subject", SUBJECT_MISSING)]
    assert "no_subject" not in REASON_CODES and "subject_missing" in REASON_CODES


def test_no_advice_code_is_a_reason_code() -> None:
    assert not set(CODES) & REASON_CODES


@pytest.mark.parametrize(
    ("subject", "why"),
    [
        ("Hi", "generic"), ("Hello!", "generic"), ("hey there", "generic"),
        ("Quick question", "generic"), ("Quick question?", "generic"),
        ("Following up", "generic"), ("Job opportunity", "generic"), ("Let's connect", "generic"),
        ("Re: our chat", "reply"), ("RE: your profile", "reply"), ("Fwd: role", "reply"),
        ("URGENT HIRING NOW", "caps"), ("STAFF ROLE AT ACME", "caps"),
        ("You won't believe this role", "clickbait"), ("Last chance to apply", "clickbait"),
        ("Congratulations, you've been selected", "clickbait"), ("Great role!!", "clickbait"),
        ("Earn $$ now", "clickbait"), ("100% remote, apply", "clickbait"),
        ("Role", "short"), ("Hey Dan", "short"), ("Job?", "short"),
    ],
)
def test_weak_subjects(advice, subject: str, why: str) -> None:
    assert weak_subject(subject) == why
    assert advice(subject=subject) == [Advice("subject_weak", WEAK_SUBJECT[why])]


@pytest.mark.parametrize(
    "subject",
    ["Platform engineer role at Acme Berlin", "Your talk on Kafka at PyCon", "AWS role in Dublin",
     "Re-architecting payments at Initech", "Quick question about your Kafka talk",
     "Staff SRE, remote (EU)", "Secretary role in Berlin", "Tools for freelancers in Lisbon"],
)
def test_good_subjects(subject: str) -> None:
    assert weak_subject(subject) is None


@pytest.mark.parametrize(("words", "long"), [(100, False), (101, True)])
def test_message_long_boundary(advice, words: int, long: bool) -> None:
    body = "Dana " + " ".join(["word"] * (words - 2)) + " call?"
    # Split into short paragraphs of short sentences so only the length matters.
    body = "\n\n".join(" ".join(body.split()[i:i + 20]) + "." for i in range(0, words, 20))
    assert codes(advice(body=body)) == (["message_long"] if long else [])
    if long:
        assert advice(body=body)[0].message == MESSAGE_LONG == (
            "Messages under 100 words get more replies.")


@pytest.mark.parametrize(
    ("name", "body", "personal"),
    [
        ("Dana Smith", SHORT_BODY, True),
        ("Dana Smith", "hi dana, a short note about the role.", True),
        ("Dana Smith", "Hello, a short note about the role at Danaher.", False),
        ("Dana Smith", "Hello, a short note about the role.", False),
        ("José Núñez", "Hola Jose, a short note about the role.", True),
        ("Dr. Ana Lima", "Dear Ana, a short note about the role.", True),
        ("Dr. Ana Lima", "Dear Dr. Lima, a short note about the role.", False),
        (None, "Hello, a short note about the role.", True),
        ("", "Hello, a short note about the role.", True),
    ],
)
def test_not_personalised(advice, name, body: str, personal: bool) -> None:
    got = advice(body=body, name=name)
    assert codes(got) == ([] if personal else ["not_personalised"])
    if not personal:
        assert got[0].message == (f"Address {first_name(name)} by name: personalised messages"
                                  " get more replies.")


@pytest.mark.parametrize(("words", "long"), [(80, False), (81, True)])
def test_long_paragraph_boundary(advice, words: int, long: bool) -> None:
    body = "Hi Dana.\n\n" + " ".join(["word"] * words) + "\n\nBest, Sam"
    got = advice(body=body)
    assert ("long_paragraph" in codes(got)) is long
    if long:
        assert Advice("long_paragraph", LONG_PARAGRAPH) in got


def test_several_at_once(advice) -> None:
    body = " ".join(["word"] * 120)
    assert codes(advice(subject="Hi", body=body)) == [
        "subject_weak", "message_long", "not_personalised", "long_paragraph",
        "no_call_to_action", "simple_language"]


def test_first_name() -> None:
    assert first_name("Dana Smith") == "Dana"
    assert first_name("  Prof. Dr. Grace Hopper") == "Grace"
    assert first_name(None) is None
    assert first_name("Dr.") is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("Dear <first name>, your profile stood out.",
         "Fill in the template field <first name> before sending:"
         " the recipient would see it as typed."),
        ("Hi {{first_name}}, I saw [Company] is hiring and %TITLE% roles open.",
         "Fill in the template fields {{first_name}}, [Company], %TITLE% before sending:"
         " the recipient would see it as typed."),
    ],
)
def test_unfilled_placeholder_is_named(advice, body: str, message: str) -> None:
    assert Advice("unfilled_placeholder", message) in advice(body=body)


@pytest.mark.parametrize(
    "body",
    ["Alice <Head of Data> suggested I write.", "See [our page](https://example.com).",
     "Use {braces} like this, or 50% off.", "Dana, your profile stood out."],
)
def test_no_placeholder_advice_for_ordinary_brackets(advice, body: str) -> None:
    assert "unfilled_placeholder" not in codes(advice(body=body))


# --- style advice (#19) -----------------------------------------------------------------------


@pytest.mark.parametrize(("body", "overused"), [
    ("Hi Dana, **this role is remote, senior, well paid and starts soon**. Open to a chat?",
     True),
    ("Hi Dana, this role is **remote**, senior and well paid. Open to a chat?", False),
    ("Hi Dana, see https://a.example, https://b.example, https://c.example and"
     " https://d.example. Open to a chat?", True),
    ("Hi Dana, see https://a.example and https://b.example. Open to a chat?", False),
])
def test_formatting_overuse(advice, body: str, overused: bool) -> None:
    got = advice(body=body)
    assert ("formatting_overuse" in codes(got)) is overused
    if overused:
        assert Advice("formatting_overuse", FORMATTING_OVERUSE) in got


@pytest.mark.parametrize(("body", "missing"), [
    ("Hi Dana, I lead the data team at Acme and we are growing fast in Berlin this year.",
     True),
    ("Hi Dana, I lead the data team at Acme and we are growing fast. Open to a call?", False),
    ("Hi Dana, I lead the data team at Acme and we are growing fast. Let me know.", False),
    ("Hi Dana, quick note from Acme.", False),  # too short to judge
])
def test_no_call_to_action(advice, body: str, missing: bool) -> None:
    got = advice(body=body)
    assert ("no_call_to_action" in codes(got)) is missing
    if missing:
        assert Advice("no_call_to_action", NO_CALL_TO_ACTION) in got


def test_shared_connections_are_worth_a_mention(advice) -> None:
    got = advice(shared_connections=3)
    assert Advice("mention_shared_connections", "You have 3 connections in common: mentioning"
                  " one gets more replies.") in got
    mentioned = SHORT_BODY.replace("Hi Dana,", "Hi Dana, Sam Lee (a mutual connection) said")
    assert "mention_shared_connections" not in codes(advice(body=mentioned,
                                                            shared_connections=3))
    assert "mention_shared_connections" not in codes(advice(shared_connections=0))


@pytest.mark.parametrize(("body", "prior", "hint"), [
    ("Hi Dana, great meeting you! Would you be open to a call about the role?", False, True),
    ("Hi Dana, great meeting you at PyCon! Would you be open to a call?", False, False),
    ("Hi Dana, great meeting you on Tuesday! Would you be open to a call?", False, False),
    ("Hi Dana, great meeting you! Would you be open to a call about the role?", True, False),
    ("Hi Dana, we should meet sometime. Would you be open to a call?", False, False),
])
def test_follow_up_after_meeting(advice, body: str, prior: bool, hint: bool) -> None:
    got = advice(body=body, prior_conversation=prior)
    assert ("follow_up_after_meeting" in codes(got)) is hint
    if hint:
        assert Advice("follow_up_after_meeting", FOLLOW_UP_AFTER_MEETING) in got


def test_simple_language(advice) -> None:
    long_sentence = ("Hi Dana, " + " ".join(["our platform team that works across several"
                                             " time zones"] * 5) + ". Open to a call?")
    assert Advice("simple_language", SIMPLE_LANGUAGE) in advice(body=long_sentence)
    short = "Hi Dana. " + " ".join(["We build data tools."] * 8) + " Open to a call?"
    assert "simple_language" not in codes(advice(body=short))


@pytest.mark.parametrize(("profile", "body", "hint"), [
    ({"company": "Northwind", "role": "Staff Engineer"}, SHORT_BODY,
     "Mention something specific from their profile (Staff Engineer at Northwind): specific"
     " messages get more replies."),
    ({"company": "Northwind", "role": "Staff Engineer"},
     "Hi Dana, your work at Northwind caught my eye. Open to a call?", None),
    ({"role": "Staff Engineer"}, "Hi Dana, as a staff engineer you may enjoy this. A call?",
     None),
    ({"headline": "Building payment rails for emerging markets"},
     "Hi Dana, I read about your payment work. Would you be open to a call?", None),
    ({"headline": "Building payment rails for emerging markets"}, SHORT_BODY,
     "Mention something specific from their profile (“Building payment rails for emerging"
     " markets”): specific messages get more replies."),
    ({}, SHORT_BODY, None),
])
def test_profile_specifics(make_message, make_facts, profile: dict[str, str], body: str,
                           hint: str | None) -> None:
    facts = make_facts(recipient=Member("r1", name="Dana Smith", **profile))
    got = inmail_guard_advise(message=make_message(body=body), facts=facts,
                              content=parse_body(body, max_source_chars=12000))
    found = [a.message for a in got if a.code == "profile_specifics"]
    assert found == ([hint] if hint else [])
