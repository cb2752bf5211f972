from __future__ import annotations

import json
from pathlib import Path

import pytest

from inmail_guard.workflow.qa import CorpusError, read_corpus, run_qa, split_text, suggest
from inmail_guard.workflow.qa_report import qa_markdown

from .policies import controlled_policy

CORPUS = Path(__file__).parent / "data" / "corpus.csv"


def test_hits_and_overall_on_the_fixture_corpus() -> None:
    report = run_qa(CORPUS, controlled_policy())
    assert (report.n_spam, report.n_ham, report.default_subjects) == (3, 5, 1)
    marker = report.hits["spam.detectors.test_string"]
    assert (marker.spam, marker.ham) == (2, 0)
    assert "content.formatting" not in report.hits  # h5's '#' line is text, not a heading
    by_score, any_reason = report.overall
    assert (by_score.tp, by_score.fp) == (2, 0)
    assert by_score.precision == 1.0
    assert by_score.recall == pytest.approx(2 / 3)
    assert by_score.ham_fpr == 0.0
    assert (any_reason.tp, any_reason.fp) == (2, 0)
    assert any_reason.ham_fpr == 0.0
    assert [s.target_fpr for s in report.suggestions] == [0.001, 0.005, 0.01]


def test_markdown_report_lines() -> None:
    md = qa_markdown(run_qa(CORPUS, controlled_policy())).splitlines()
    assert "| test_string | detector | 2 | 66.67% | 0 | 0.00% | 1.000 |" in md
    assert not any(line.startswith("| content.formatting") for line in md)
    assert "| spam score ≥ reject_at (10) | 2 | 0 | 100.00% | 66.67% | 0.00% |" in md
    assert "| rejected for any reason | 2 | 0 | 100.00% | 66.67% | 0.00% |" in md


def test_suggested_thresholds_from_the_score_distribution() -> None:
    ham = [i / 100 for i in range(1000)]  # 0.00 .. 9.99
    spam = [5.0] * 50 + [20.0] * 50
    one = suggest(ham, spam, 0.01)  # 10 ham may score at or above: 9.90 .. 9.99
    assert (one.reject_at, one.fpr, one.recall, one.note) == (9.9, 0.01, 0.5, "")
    tenth = suggest(ham, spam, 0.001)  # one ham may: above 9.98, in steps of 0.1
    assert (tenth.reject_at, tenth.fpr) == (10.0, 0.0)
    assert suggest([0.0] * 10, [], 0.01).note.startswith("only 10 ham messages")
    assert suggest([], [1.0], 0.01).reject_at is None


def test_subject_line() -> None:
    assert split_text("Subject: Hi there\nBody\nmore") == ("Hi there", "Body\nmore", False)
    assert split_text("subject:x\n\nBody") == ("x", "Body", False)
    assert split_text("Just a body") == ("Hello", "Just a body", True)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", ":1: the file is empty. Fix: start it with the header line 'id,label,text'."),
        ("id,text\n1,hi\n", ":1: header: missing column(s) label"),
        ("id,label,text\n1,ham,hi\n2,hm,hello\n", ":3: field 'label': expected ham or spam,"
                                                  " found 'hm'"),
        ("id,label,text\n1,ham,\"multi\nline\"\n1,spam,x\n",
         ":4: field 'id': duplicate id '1' (first on line 2)"),
        ("id,label,text\n1,ham\n", ":2: field 'text': missing (the row has 2 fields"),
        ("id,label,text\n1,ham,   \n", ":2: field 'text': empty"),
        ("id,label,text\n,ham,hi\n", ":2: field 'id': empty"),
    ],
)
def test_bad_csv_names_line_and_field(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(CorpusError) as info:
        list(read_corpus(path))
    assert str(info.value).startswith(str(path))
    assert error in str(info.value)


def test_cli_qa(tmp_path: Path, runner, policy_cli) -> None:
    text = runner.invoke(policy_cli, ["qa", str(CORPUS)])
    assert text.exit_code == 0, text.output
    assert "Hits by rule and detector" in text.output
    assert "Suggested reject_at (currently 10)" in text.output
    data = json.loads(runner.invoke(policy_cli, ["qa", str(CORPUS), "--format", "json"]).output)
    assert (data["n_spam"], data["n_ham"]) == (3, 5)
    bad = tmp_path / "bad.csv"
    bad.write_text("id,label,text\n1,maybe,hi\n")
    result = runner.invoke(policy_cli, ["qa", str(bad), "--policy", "builtin:default"])
    assert result.exit_code == 2
    assert "bad.csv:2: field 'label': expected ham or spam, found 'maybe'" in result.output
