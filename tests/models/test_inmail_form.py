"""Training in InMail form (``models/inmail.py``, ``train.train_inmail``): every row as the
``classifier`` detector sees it, text normalised, one threshold per InMail channel."""

from __future__ import annotations

import json
from pathlib import Path

from inmail_guard.models import load_model
from inmail_guard.models.features import (
    INMAIL_PREFIX,
    LONG_INMAIL_PREFIX,
    LONG_INMAIL_WORDS,
    channel_prefix,
    inmail_text,
    tokens,
)
from inmail_guard.models.inmail import model_input
from model_pins import pin

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "models"
TINY = FIXTURES / "tiny.csv"
TINY_EMAIL = FIXTURES / "tiny_email.csv"


def test_model_input_is_what_the_detector_scores():
    assert model_input("Subject: role\n**Hi** Ana, a call?") == inmail_text("role",
                                                                          "Hi Ana, a call?")
    assert model_input("free entry! txt now") == inmail_text("Hello", "free entry! txt now")


def test_a_text_already_in_inmail_form_is_kept():
    text = inmail_text("role", "Hi Ana")
    assert model_input(text) is text


def test_long_inmails_have_a_channel_of_their_own():
    short = inmail_text("s", " ".join(["word"] * (LONG_INMAIL_WORDS - 2)))
    long = inmail_text("s", " ".join(["word"] * (LONG_INMAIL_WORDS + 1)))
    assert (channel_prefix(short), channel_prefix(long)) == (INMAIL_PREFIX, LONG_INMAIL_PREFIX)


def test_features_read_through_obfuscation():
    plain = tokens("Verify your account to claim the free gift")
    assert tokens("V\u0435rify y\u043eur \u0430ccount to cl\u200baim the fr33 g i f t") == plain
    assert tokens("Verify\u2066 your\u2069 account to claim the free gift\ufe0f") == plain


def test_the_model_has_one_threshold_per_inmail_channel_and_no_route(tiny_inmail_dir: Path):
    manifest = json.loads((tiny_inmail_dir / "tiny.json").read_text())
    assert manifest["params"]["inmail_form"] is True
    assert manifest["routes"] == [] and manifest["partners"] == {}
    assert set(manifest["thresholds"]) <= {INMAIL_PREFIX, LONG_INMAIL_PREFIX}
    assert manifest["threshold"] == max(manifest["thresholds"].values())
    per_file = manifest["metrics"]["threshold_per_file"]
    # tiny.csv has 30 ham: too few to measure a 0.5% rate, so it reports but does not choose.
    assert per_file["tiny.csv"][INMAIL_PREFIX]["chooses"] is False
    assert per_file["tiny.csv"][INMAIL_PREFIX]["target_fpr"] == 0.005
    assert per_file["tiny_email.csv"][INMAIL_PREFIX]["target_fpr"] == 0.01  # e-mail-shaped
    # The channels' thresholds are chosen together; neither file can measure its target, so
    # none has a false-positive budget to keep.
    rule = manifest["metrics"]["threshold_rule"]
    assert rule["rule"].startswith("joint:") and rule["fp_budget"] == {}
    model = load_model(str(tiny_inmail_dir / "tiny.joblib"), pin(tiny_inmail_dir / "tiny.joblib"))
    text = model_input("Subject: hi\nshort note")
    assert model.threshold_for(text) == manifest["thresholds"][INMAIL_PREFIX]
    assert "--per-channel" not in manifest["command"]


def test_a_file_weight_is_recorded_and_changes_the_fit(tmp_path: Path):
    from click.testing import CliRunner

    from inmail_guard.cli.model import model

    def train(name: str, *extra: str) -> dict:
        result = CliRunner().invoke(model, ["train", str(TINY), str(TINY_EMAIL), "--out",
                                            str(tmp_path), "--name", name, "--seed", "7",
                                            *extra], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return json.loads((tmp_path / f"{name}.json").read_text())

    plain = train("plain")
    heavy = train("heavy", "--weight", "tiny_email.csv=5")
    assert heavy["params"]["file_weights"] == {"tiny_email.csv": 5.0}
    assert "--weight tiny_email.csv=5" in heavy["command"]
    assert plain["params"]["file_weights"] == {}
    text = model_input("Subject: quarterly report\nthe numbers are attached , thanks")
    p_plain = load_model(str(tmp_path / "plain.joblib"),
                         pin(tmp_path / "plain.joblib")).spam_probability(text)
    p_heavy = load_model(str(tmp_path / "heavy.joblib"),
                         pin(tmp_path / "heavy.joblib")).spam_probability(text)
    assert p_plain != p_heavy


def test_a_bad_weight_names_the_expected_form(tmp_path: Path):
    from click.testing import CliRunner

    from inmail_guard.cli.model import model

    result = CliRunner().invoke(model, ["train", str(TINY), "--out", str(tmp_path),
                                        "--weight", "tiny.csv=0"])
    assert result.exit_code == 2
    assert "'tiny.csv=0': expected FILE=WEIGHT with the data file's name and a weight above " \
        "0, such as train.csv=5." in result.output


def test_evaluate_scores_an_inmail_form_model_on_each_rows_inmail_form(tiny_inmail_dir: Path):
    from click.testing import CliRunner

    from inmail_guard.cli.model import model
    from inmail_guard.models.data import read_datasets
    from inmail_guard.models.train import Pooled, as_inmail, per_source_metrics

    artifact = tiny_inmail_dir / "tiny.joblib"
    result = CliRunner().invoke(model, ["evaluate", str(artifact), str(TINY_EMAIL), "--json",
                                        "--sha256", pin(artifact)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)["metrics"]["tiny_email.csv"]
    loaded = load_model(str(artifact), pin(artifact))
    rows = as_inmail(Pooled.of(read_datasets([TINY_EMAIL])))
    scores = loaded.spam_probabilities(rows.texts)
    cut = [loaded.threshold_for(t) for t in rows.texts]
    import numpy as np

    want = per_source_metrics(rows, np.asarray(scores), np.asarray(cut))["tiny_email.csv"]
    assert got["confusion"] == want["confusion"]
    assert got["threshold"] == want["threshold"] == loaded.thresholds["n:"]
