"""``inmail-guard model evaluate --policy``: labelled rows sent as InMails, counted end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from inmail_guard.cli.model import model
from inmail_guard.policies.loader import default_policy, load_policy
from inmail_guard.workflow import endtoend
from inmail_guard.workflow.endtoend import NEUTRAL_SUBJECT, inmail_form
from model_pins import pin

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ROWS = FIXTURES / "endtoend" / "rows.csv"
NO_CLASSIFIER = FIXTURES / "endtoend" / "no-classifier.yaml"
TINY = FIXTURES / "models" / "tiny.csv"
TINY_EMAIL = FIXTURES / "models" / "tiny_email.csv"


def test_an_sms_like_row_is_the_body_under_the_neutral_subject():
    assert inmail_form("Are you free?") == (NEUTRAL_SUBJECT, "Are you free?", False)


def test_an_email_row_gives_its_subject_line_as_the_subject_and_the_rest_as_the_body():
    assert inmail_form("subject: budget review\n\nplease send it .") == (
        "budget review", "please send it .", False)


def test_an_email_row_without_a_body_sends_its_subject_as_the_body():
    assert inmail_form("Subject: meet on friday") == ("meet on friday", "meet on friday", False)


def test_an_empty_subject_line_becomes_the_neutral_subject():
    assert inmail_form("Subject:\nhello there") == (NEUTRAL_SUBJECT, "hello there", False)


def test_a_body_over_the_limit_is_cut_at_the_last_space_before_it():
    assert inmail_form("aaa bbb ccc", max_body_chars=9) == (NEUTRAL_SUBJECT, "aaa bbb", True)
    assert inmail_form("aaaaaaaaaa", max_body_chars=4) == (NEUTRAL_SUBJECT, "aaaa", True)


def test_rows_are_sent_through_the_policy_and_every_rejection_counts_with_its_reason():
    policy = load_policy(NO_CLASSIFIER)
    result = CliRunner().invoke(model, ["evaluate", "--policy", str(NO_CLASSIFIER), str(ROWS),
                                        "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    m = report["metrics"]["rows.csv"]
    # ham-image (image_not_allowed) and email-long-subject (subject_too_long) are ham the
    # product rejects; spam-marker is caught by test_string; spam-missed goes through;
    # ham-long is cut to the body limit and sent.
    assert m["confusion"] == {"tn": 3, "fp": 2, "fn": 1, "tp": 1}
    assert m["reasons"] == {"image_not_allowed": {"ham": 1}, "spam_detected": {"spam": 1},
                            "subject_too_long": {"ham": 1}}
    assert m["detectors"] == {"test_string": {"spam": 1}}
    assert m["bodies_cut"] == 1
    assert (m["precision"], m["recall"], m["f1"], m["ham_fpr"]) == (0.3333, 0.5, 0.4, 0.4)
    assert report["policy"] == policy.name
    assert report["crossval"] is None


def test_the_table_names_the_reason_codes_per_label():
    result = CliRunner().invoke(model, ["evaluate", "--policy", str(NO_CLASSIFIER), str(ROWS)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "| rows.csv | 7 | 5 | 2 | 0.3333 | 0.5000 | 0.4000 | 0.4000 | 3 | 2 | 1 | 1 | 1 |" \
        in result.output
    assert "| image_not_allowed | 1 / 0 |" in result.output
    assert "| spam_detected | 0 / 1 |" in result.output


def test_a_model_given_with_the_policy_replaces_its_classifier_model(tiny_model_dir: Path):
    tiny = str(tiny_model_dir / "tiny.joblib")
    swapped = endtoend.with_model(default_policy(), tiny)
    assert swapped.spam.detectors["classifier"]["model"] == tiny
    assert swapped.spam.detectors["classifier"]["score"] == \
        default_policy().spam.detectors["classifier"]["score"]
    result = CliRunner().invoke(model, ["evaluate", tiny, "--policy", "builtin:default",
                                        str(TINY), "--json", "--sha256", pin(tiny)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["model"] == tiny


def test_a_policy_without_a_classifier_cannot_take_a_model(tmp_path: Path):
    bare = tmp_path / "bare.yaml"
    bare.write_text("name: bare\nplans: {p: {monthly_credits: 5}}\n", encoding="utf-8")
    result = CliRunner().invoke(model, ["evaluate", "builtin:spam-v1", "--policy", str(bare),
                                        str(ROWS)])
    assert result.exit_code == 1
    assert "policy bare: it has no classifier detector to put the model in. Fix: enable " \
        "spam.detectors.classifier in the policy." in result.output


def test_crossval_trains_a_model_per_fold_and_sends_every_row_once():
    result = CliRunner().invoke(model, [
        "evaluate", "--policy", "builtin:default", str(TINY), "--train-also", str(TINY_EMAIL),
        "--crossval", "2", "--seed", "7", "--no-email-partner", "--json"],
        catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["crossval"] == 2
    assert len(report["fold_thresholds"]) == 2
    m = report["metrics"]["tiny.csv"]
    assert (m["rows"], m["ham"], m["spam"]) == (60, 30, 30)  # tiny_email.csv is never scored
    assert list(report["metrics"]) == ["tiny.csv"]


@pytest.mark.parametrize("args, message", [
    (["--crossval", "2", "builtin:spam-v1"], "--crossval trains a model per fold: give no "
                                             "MODEL with it"),
])
def test_crossval_with_a_model_is_refused(args: list[str], message: str):
    result = CliRunner().invoke(model, ["evaluate", "--policy", "builtin:default", *args,
                                        str(ROWS)])
    assert result.exit_code == 2
    assert message in result.output


def test_crossval_without_a_policy_is_refused():
    result = CliRunner().invoke(model, ["evaluate", "builtin:spam-v1", str(ROWS),
                                        "--crossval", "2"])
    assert result.exit_code == 2
    assert "--crossval and --train-also need --policy" in result.output


def test_a_malformed_csv_names_the_line_and_the_fix(tmp_path: Path):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,label,text\n1,maybe,hello\n", encoding="utf-8")
    result = CliRunner().invoke(model, ["evaluate", "--policy", str(NO_CLASSIFIER), str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:2: column 'label' (row '1'): expected 'ham' or 'spam', found 'maybe'. " \
        "Fix: label the row ham or spam." in result.output


def test_an_unpinned_model_path_is_refused_with_the_fix(tiny_model_dir: Path):
    tiny = str(tiny_model_dir / "tiny.joblib")
    result = CliRunner().invoke(model, ["evaluate", tiny, "--policy", "builtin:default",
                                        str(TINY)])
    assert result.exit_code == 1
    assert f"{tiny}: not pinned: a model inmail-guard does not ship is only loaded with the " \
        "sha256 its user pins" in result.output
