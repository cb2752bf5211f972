"""The Playground's logic: examples, request validation, candidate policies and their errors at
their lines, the engines it keeps."""

from __future__ import annotations

import pytest

import inmail_guard as ig
from inmail_guard.api.console.playground import (
    EXAMPLES,
    FormState,
    PlaygroundEngines,
    evaluate,
    load_candidate,
    signal_rows,
    spam_scale,
)

LIVE = ig.default_policy()


@pytest.mark.parametrize("name, outcome, codes", [
    ("accepted", "accepted", ()), ("opted_out", "rejected", ("recipient_opted_out",)),
    ("spammy", "rejected", ("spam_detected",)),
    ("no_credits", "rejected", ("plan_has_no_credits",)),
    ("connection", "rejected", ("recipient_is_connection",))])
def test_each_example_gets_the_decision_its_label_promises(name, outcome, codes):
    assert name in EXAMPLES
    result = evaluate(FormState.example_state(name), LIVE, PlaygroundEngines())
    assert result.decision is not None
    assert (result.decision.outcome, result.decision.codes) == (outcome, codes)
    assert f"({outcome})" in EXAMPLES[name][0] or name == "spammy"


def test_signal_bars_are_scaled_to_restrict_at_with_reject_at_marked():
    decision = evaluate(FormState.example_state("spammy"), LIVE, PlaygroundEngines()).decision
    assert decision is not None
    rows = {r["detector"]: r for r in signal_rows(decision)}
    assert rows["keywords"]["score"] == 10.0 and rows["keywords"]["width"] == 66.7
    assert rows["automation"]["width"] == 40.0
    scale = spam_scale(decision)
    assert (scale["width"], scale["reject_pos"]) == (100.0, 66.7)  # 26 is past restrict_at 15


@pytest.mark.parametrize("text, line, column, path, message", [
    ("name: x\nextends: /etc/passwd\n", 2, 1, "extends",
     "extends: a candidate pasted in the console cannot name a file on the server; use inline"
     " values or builtin:default"),
    ("extends: builtin:default\nname: x\nblocklists:\n"
     "  - {name: b, applies_to: sender, file: ids.txt, code: sender_banned}\n",
     4, 35, "blocklists.0.file", "file: a candidate pasted"),
    ("extends: builtin:default\nname: x\nspam:\n  detectors:\n    classifier:\n"
     "      model: ../../models/evil.joblib\n", 6, 7, "spam.detectors.classifier.model",
     "model: a candidate pasted"),
    ("extends: builtin:default\nname: x\nspam:\n  reject_at: lots\n", 4, 14,
     "spam.reject_at", "expected a number, found 'lots' (string)"),
    ("name: [unclosed\n", 2, 1, "", "expected"),
    ("", 1, 1, "", "the candidate policy is empty: paste a policy's YAML"),
])
def test_a_candidate_is_refused_with_each_problem_at_its_line(text, line, column, path,
                                                              message):
    policy, issues = load_candidate(text)
    assert policy is None
    first = issues[0]
    assert (first["line"], first["column"], first["path"]) == (line, column, path)
    assert message in first["message"]


def test_a_candidate_that_does_not_compile_is_shown_at_the_line_of_the_setting():
    state = FormState.example_state("accepted")
    state.policy_mode = "candidate"
    state.candidate = ("extends: builtin:default\nname: x\nspam:\n  detectors:\n"
                       "    nosuch: {}\n")
    result = evaluate(state, LIVE, PlaygroundEngines())
    assert result.decision is None
    (issue,) = result.policy_issues
    assert (issue["line"], issue["column"], issue["path"]) == (5, 5, "spam.detectors.nosuch")
    assert issue["message"].startswith("unknown detector 'nosuch'; installed detectors:")


def test_a_candidate_that_reuses_values_through_aliases_is_bounded_not_walked_forever():
    laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)},"
        f" *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)},"
        f" *{chr(97 + i)}, *{chr(97 + i)}]\n" for i in range(9))
    policy, issues = load_candidate(laughs)
    assert policy is None
    assert "alias" in issues[0]["message"]


def test_a_valid_candidate_decides_and_its_engine_is_kept_per_version():
    engines = PlaygroundEngines(size=2)
    state = FormState.example_state("accepted")
    state.policy_mode = "candidate"
    state.candidate = ("extends: builtin:default\nname: tight\nplans:\n"
                       "  recruiter_lite: {monthly_credits: 4}\n")
    result = evaluate(state, LIVE, engines)
    assert result.decision is not None
    assert result.decision.codes == ("credits_exhausted",)
    assert result.policy_name == "tight"
    again = evaluate(state, LIVE, engines)
    assert again.decision is not None and again.policy_version == result.policy_version
    assert len(engines._engines) == 1


def test_bad_facts_json_says_where():
    state = FormState.example_state("accepted")
    state.facts = '{"sender": {"id": "a",}}'
    result = evaluate(state, LIVE, PlaygroundEngines())
    assert result.decision is None
    assert result.request_issues == [{"field": "facts", "message":
                                      "not valid JSON at line 1, column 23: Expecting"
                                      " property name enclosed in double quotes"}]
