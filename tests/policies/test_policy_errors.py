"""Every representative mistake gives exactly this message, at this file, line and column."""

from __future__ import annotations

import pytest

from inmail_guard.plugins.manager import Plugins
from inmail_guard.policies.check import check_policy
from inmail_guard.policies.loader import PolicyError, load_policy, load_policy_text

pytestmark = pytest.mark.usefixtures("in_fixtures")

EXPECTED = {
    "invalid/unknown_top_key.yaml": [
        "invalid/unknown_top_key.yaml:3:1: plns: unknown key 'plns' (did you mean 'plans'?);"
        " expected one of: name, description, extends, plans, credits, eligibility, blocklists,"
        " content, lifecycle, spam, rules_mode",
    ],
    "invalid/unknown_nested_key.yaml": [
        "invalid/unknown_nested_key.yaml:4:10: content.body.max_char: unknown key 'max_char'"
        " (did you mean 'max_chars'?); expected one of: required, max_chars",
    ],
    "invalid/wrong_type.yaml": [
        "invalid/wrong_type.yaml:3:28: plans.basic.monthly_credits: expected an integer,"
        " found 'ten' (string)",
    ],
    "invalid/bad_duration.yaml": [
        "invalid/bad_duration.yaml:4:26: lifecycle.expire_unopened_after: expected a duration"
        " such as 7d, 24h, 30m or 5s (a whole number and one of s, m, h, d, w), found '7days'",
    ],
    "invalid/restrict_below_reject.yaml": [
        # restrict_at (15) comes from builtin:default: the issue points at the key this file set
        "invalid/restrict_below_reject.yaml:4:3: spam.reject_at: expected restrict_at >="
        " reject_at, found restrict_at 15.0 < reject_at 20.0",
    ],
    "invalid/bad_blocklist_code.yaml": [
        "invalid/bad_blocklist_code.yaml:4:66: blocklists[0].code: expected one of"
        " recipient_protected, sender_banned or recipient_opted_out, found 'recipient_blocked'"
        " (did you mean 'recipient_protected'?)",
    ],
    "invalid/bad_detector_setting.yaml": [
        "invalid/bad_detector_setting.yaml:5:26: spam.detectors.test_string.score: expected a"
        " number of at least 0, found -1 (integer)",
        "invalid/bad_detector_setting.yaml:5:38: spam.detectors.test_string.marker: expected a"
        " string of at least 8 characters, found 'short' (string)",
        "invalid/bad_detector_setting.yaml:5:45: spam.detectors.test_string.scor: unknown key"
        " 'scor' (did you mean 'score'?); expected one of: enabled, score, max_score, on_error,"
        " marker",
    ],
    "invalid/missing_blocklist_file.yaml": [
        "invalid/missing_blocklist_file.yaml:6:5: blocklists[0].file: expected a readable file"
        " of member ids, found 'lists/competitors.txt' (no such file:"
        " invalid/lists/competitors.txt)",
    ],
    "invalid/duplicate_key.yaml": [
        "invalid/duplicate_key.yaml:5:3: plans.basic: duplicate key 'basic' (first at line 3,"
        " column 3); expected each key once in a mapping",
    ],
    "invalid/syntax_error.yaml": [
        "invalid/syntax_error.yaml:4:6: invalid YAML: expected ',' or '}', but got ':' (while"
        " parsing a flow mapping at line 3, column 10)",
    ],
    "invalid/tabs.yaml": [
        "invalid/tabs.yaml:3:1: expected spaces for indentation, found a tab",
        "invalid/tabs.yaml:4:1: expected spaces for indentation, found a tab",
    ],
    "invalid/not_a_mapping.yaml": [
        "invalid/not_a_mapping.yaml:1:1: expected a mapping of policy keys, found a list",
    ],
    "invalid/empty.yaml": [
        "invalid/empty.yaml:1:1: expected a mapping of policy keys, found an empty document",
    ],
    "invalid/three_mistakes.yaml": [
        "invalid/three_mistakes.yaml:4:28: plans.basic.monthly_credits: expected a number of at"
        " least 0, found -1 (integer)",
        "invalid/three_mistakes.yaml:7:19: lifecycle.retract_within: expected a duration such as"
        " 7d, 24h, 30m or 5s (a whole number and one of s, m, h, d, w), found 'soon'",
        "invalid/three_mistakes.yaml:11:3: spam.restriktion: unknown key 'restriktion' (did you"
        " mean 'restriction'?); expected one of: reject_at, restrict_at, restriction, detectors",
    ],
    "extends/cycle_a.yaml": [
        "extends/cycle_b.yaml:2:10: extends: extends cycle: extends/cycle_a.yaml ->"
        " extends/cycle_b.yaml -> extends/cycle_a.yaml",
    ],
    "extends/self.yaml": [
        "extends/self.yaml:2:10: extends: extends cycle: extends/self.yaml -> extends/self.yaml",
    ],
    "extends/missing_parent.yaml": [
        "extends/missing_parent.yaml:2:10: extends: expected a policy file to extend, found"
        " 'nowhere/base.yaml' (no such file: extends/nowhere/base.yaml)",
    ],
    "extends/bad_builtin.yaml": [
        "extends/bad_builtin.yaml:2:10: extends: expected a path to a policy file or"
        " builtin:default, found 'builtin:defualt' (did you mean 'builtin:default'?)",
    ],
    "extends/broken_parent.yaml": [
        # the mistake is in the parent, and is reported there
        "invalid/wrong_type.yaml:3:28: plans.basic.monthly_credits: expected an integer,"
        " found 'ten' (string)",
    ],
}


@pytest.mark.parametrize("fixture", sorted(EXPECTED))
def test_exact_messages(fixture: str) -> None:
    policy, issues = check_policy(fixture)
    assert policy is None
    assert [str(i) for i in issues] == EXPECTED[fixture]


def test_unknown_detector_names_the_installed_ones() -> None:
    installed = ", ".join(Plugins().detector_classes())
    assert "test_string" in installed
    policy, issues = check_policy("invalid/unknown_detector.yaml")
    assert policy is None
    assert [str(i) for i in issues] == [
        "invalid/unknown_detector.yaml:5:5: spam.detectors.shouting: unknown detector"
        f" 'shouting'; installed detectors: {installed}"
    ]


def test_unknown_rules_mode_key_is_located_at_the_key() -> None:
    policy, issues = check_policy("invalid/unknown_rules_mode.yaml")
    assert policy is None
    [only] = issues
    assert (only.file, only.line, only.column, only.path) == (
        "invalid/unknown_rules_mode.yaml", 5, 3, "rules_mode.no_such_rule")
    assert only.message.startswith(
        "expected a rule or enabled detector name, found 'no_such_rule' (known: ")
    assert "credits" in only.message and "test_string" in only.message


def test_all_errors_at_once_with_fields() -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy("invalid/three_mistakes.yaml")
    issues = caught.value.issues
    assert [(i.line, i.column, i.path) for i in issues] == [
        (4, 28, "plans.basic.monthly_credits"),
        (7, 19, "lifecycle.retract_within"),
        (11, 3, "spam.restriktion"),
    ]
    first = issues[0]
    assert (first.expected, first.found) == ("a number of at least 0", "-1 (integer)")
    assert str(caught.value) == "\n".join(EXPECTED["invalid/three_mistakes.yaml"])
    assert isinstance(caught.value, ValueError)


def test_load_policy_raises_what_check_policy_returns() -> None:
    for fixture in ("invalid/duplicate_key.yaml", "invalid/syntax_error.yaml",
                    "extends/cycle_a.yaml"):
        with pytest.raises(PolicyError) as caught:
            load_policy(fixture)
        assert [str(i) for i in caught.value.issues] == EXPECTED[fixture]


def test_missing_required_key_points_at_the_parent_mapping() -> None:
    text = "name: x\nplans:\n  basic: {}\n  pro:\n    monthly_credits: 1\n"
    with pytest.raises(PolicyError) as caught:
        load_policy_text(text, "p.yaml")
    assert str(caught.value) == (
        "p.yaml:3:10: plans.basic.monthly_credits: missing required key 'monthly_credits'")


def test_missing_top_level_keys_point_at_the_document() -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy_text("# comment\ndescription: no name, no plans\n")
    assert str(caught.value) == (
        "<string>:2:1: name: missing required key 'name'\n"
        "<string>:2:1: plans: missing required key 'plans'")


@pytest.mark.parametrize(("snippet", "expected"), [
    ("credits: {timezone: Mars/Olympus}",
     "<string>:4:21: credits.timezone: expected an IANA time zone such as UTC or Europe/Dublin,"
     " found 'Mars/Olympus'"),
    ("eligibility: {honor_blocks: maybe}",
     "<string>:4:29: eligibility.honor_blocks: expected true or false, found 'maybe' (string)"),
    ("content: {formatting: [bold, blink]}",
     "<string>:4:30: content.formatting[1]: expected one of bold, italic, strikethrough,"
     " bullet_list, numbered_list or link, found 'blink' (did you mean 'link'?)"),
    ("rules_mode: {credits: off}",
     "<string>:4:23: rules_mode.credits: expected one of enforce or shadow, found false"
     " (boolean)"),
    ("blocklists: [{name: Bad-Name, applies_to: sender, ids: []}]",
     "<string>:4:21: blocklists[0].name: expected a name of lower-case letters, digits and _,"
     " starting with a letter, found 'Bad-Name' (string)"),
    ("blocklists: [{name: nothing, applies_to: sender}]",
     "<string>:4:14: blocklists[0]: expected at least one of ids, file or match"),
    ("blocklists: [{name: m, applies_to: sender, match: {is_staff: true}}]",
     "<string>:4:52: blocklists[0].match.is_staff: expected member attributes among plan,"
     " profile_public, accepts_inmail, is_employee, found 'is_staff'"),
    ("blocklists: [{name: a, applies_to: sender, ids: []}, {name: a, applies_to: sender, ids: []}]",
     "<string>:4:61: blocklists[1].name: expected unique blocklist names, found 'a' twice"),
    ("spam: {restriction: {durations: []}}",
     "<string>:4:33: spam.restriction.durations: expected at least 1 item, found a list"),
    ("lifecycle: {preview_chars: 0}",
     "<string>:4:28: lifecycle.preview_chars: expected a number greater than 0, found 0"
     " (integer)"),
    ("content: [bold]",
     "<string>:4:10: content: expected a mapping, found a list"),
    ("credits: {rollover_cap: 2147483648}",
     "<string>:4:25: credits.rollover_cap: expected a number of at most 2147483647, found"
     " 2147483648 (integer)"),
])
def test_schema_messages(snippet: str, expected: str) -> None:
    assert _refused(snippet) == expected


def _refused(snippet: str) -> str:
    """The error of a one-plan policy with ``snippet`` added."""
    text = f"name: x\nplans:\n  basic: {{monthly_credits: 0}}\n{snippet}\n"
    with pytest.raises(PolicyError) as caught:
        load_policy_text(text)
    return str(caught.value)


@pytest.mark.parametrize(("snippet", "expected"), [
    # pydantic's lax mode read each of these as another value, silently
    ("eligibility: {honor_opt_out: 'yes'}",
     "<string>:4:30: eligibility.honor_opt_out: expected true or false, found 'yes' (string)"),
    ("eligibility: {honor_blocks: 0}",
     "<string>:4:29: eligibility.honor_blocks: expected true or false, found 0 (integer)"),
    ("credits: {rollover_cap: '10'}",
     "<string>:4:25: credits.rollover_cap: expected an integer, found '10' (string)"),
    ("credits: {rollover_cap: true}",
     "<string>:4:25: credits.rollover_cap: expected an integer, found true (boolean)"),
    ("credits: {rollover_cap: 10.0}",
     "<string>:4:25: credits.rollover_cap: expected an integer, found 10.0 (number)"),
    ("spam: {reject_at: '12'}",
     "<string>:4:19: spam.reject_at: expected a number, found '12' (string)"),
])
def test_a_value_of_another_yaml_type_is_refused_not_converted(snippet: str,
                                                               expected: str) -> None:
    assert _refused(snippet) == expected


@pytest.mark.parametrize(("snippet", "expected"), [
    ("{keywords: {score_per_hit: '2.5'}}",
     "p.yaml:4:41: spam.detectors.keywords.score_per_hit: expected a number, found '2.5'"
     " (string)"),
    ("{volume: {enabled: 'false'}}",
     "p.yaml:4:33: spam.detectors.volume.enabled: expected true or false, found 'false'"
     " (string)"),
    ("{volume: {per_hour: 25.0}}",
     "p.yaml:4:34: spam.detectors.volume.per_hour: expected an integer, found 25.0 (number)"),
])
def test_a_detector_setting_of_another_yaml_type_is_refused(tmp_path, monkeypatch, snippet: str,
                                                            expected: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.yaml").write_text("extends: builtin:default\nname: x\nspam:\n"
                                     f"  detectors: {snippet}\n")
    policy, issues = check_policy("p.yaml", build_engine=False)
    assert (policy, [str(i) for i in issues]) == (None, [expected])


@pytest.mark.parametrize(("name", "expected"), [
    ("x" * 201, "expected a string of at most 200 characters, found 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                "xxxxxxxxxxxxxxxxxxxxxxxxxxxx...' (string)"),
    ('"a\\nb"', "expected one line of text, without control characters or bidi embeddings,"
                " overrides or isolates (U+202A-U+202E, U+2066-U+2069), found 'a\\nb' (string)"),
    ('"\\u202eevil"', "expected one line of text, without control characters or bidi"
                      " embeddings, overrides or isolates (U+202A-U+202E, U+2066-U+2069), found"
                      " '\\u202eevil' (string)"),
])
def test_the_policy_name_is_one_short_line(name: str, expected: str) -> None:
    # It is in every decision, the decision log and a /metrics label: a 1 MB scalar, or a
    # newline or bidi override in a log line, was accepted.
    with pytest.raises(PolicyError) as caught:
        load_policy_text(f"name: {name}\nplans:\n  basic: {{monthly_credits: 0}}\n")
    assert str(caught.value) == f"<string>:1:7: name: {expected}"


def test_a_whole_float_is_still_a_number_where_a_number_is_expected() -> None:
    policy = load_policy_text("name: x\nplans:\n  basic: {monthly_credits: 0}\n"
                              "spam: {reject_at: 12, restrict_at: 20.0}\n")
    assert (policy.spam.reject_at, policy.spam.restrict_at) == (12, 20.0)


def test_credits_beyond_the_stores_integers_are_refused_at_the_value() -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy_text("name: x\nplans:\n  basic: {monthly_credits: 100000000000}\n")
    assert str(caught.value) == (
        "<string>:3:28: plans.basic.monthly_credits: expected a number of at most 2147483647,"
        " found 100000000000 (integer)")


@pytest.mark.parametrize(("text", "expected"), [
    ("name: x\nplans: \x07\n",
     "<string>:2:8: invalid YAML: expected printable text, found the control character U+0007"),
    ("name: x\n---\nname: y\n",
     "<string>:2:1: invalid YAML: expected a single document in the stream, but found another"
     " document"),
    ("a: b: c\n", "<string>:1:5: invalid YAML: mapping values are not allowed here"),
    # merge keys work; an explicit key after a merge is no duplicate; errors in merged keys
    # point at the mapping they came from
    ("name: x\nplans:\n  a: &d {monthly_credits: 1}\n  b: {<<: *d, monthly_credits: 2}\n"
     "  c: {<<: *d, credits: 3}\n",
     "<string>:5:15: plans.c.credits: unknown key 'credits' (did you mean 'monthly_credits'?);"
     " expected one of: monthly_credits"),
])
def test_yaml_level_messages(text: str, expected: str) -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy_text(text)
    assert str(caught.value) == expected
