"""The e-mail route's embedding partner: fitting, weight choice, saving, loading, scoring."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from click.testing import CliRunner
from sklearn.svm import LinearSVC

from inmail_guard.cli.model import model
from inmail_guard.models import artifact
from inmail_guard.models.artifact import ModelVerificationError, load_model_uncached, save_model
from inmail_guard.models.data import read_datasets
from inmail_guard.models.encoder import builtin_encoder_path
from inmail_guard.models.features import EMAIL_PREFIX, inmail_text
from inmail_guard.models.partner import EmbeddingPartner, Embeddings, fit_partners
from inmail_guard.models.train import (
    Pooled,
    TrainParams,
    choose_weight,
    crossval,
    errors_at_target,
    train,
    train_steps,
    wants_partner,
)
from model_pins import pin

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "models"
TINY, TINY_EMAIL = FIXTURES / "tiny.csv", FIXTURES / "tiny_email.csv"
PARAMS = TrainParams(seed=7, partner_weights=(0.5,))  # a partner whatever the folds say


@pytest.fixture(scope="module")
def embeddings() -> Embeddings:
    return Embeddings.builtin()


@pytest.fixture(scope="module")
def data() -> Pooled:
    return Pooled.of(read_datasets([TINY, TINY_EMAIL]))


@pytest.fixture(scope="module")
def partnered(data: Pooled, embeddings: Embeddings, tmp_path_factory: pytest.TempPathFactory
              ) -> Path:
    """A tiny model whose e-mail route has a partner at weight 0.5, saved; returns .joblib."""
    trained = train(data, PARAMS, embeddings=embeddings)
    out = tmp_path_factory.mktemp("partnered")
    partner = trained.partners[EMAIL_PREFIX]
    facts = {
        "threshold": trained.threshold, "thresholds": trained.thresholds,
        "routes": sorted(trained.routes),
        "partners": {EMAIL_PREFIX: {"encoder": builtin_encoder_path().name,
                                    "encoder_sha256": partner.encoder_sha256,
                                    "weight": partner.weight}},
        "created_at": "2026-11-27T12:00:00+00:00",
        "training_data": [d.describe() for d in read_datasets([TINY, TINY_EMAIL])],
        "metrics": {}, "command": "inmail-guard model train tiny.csv tiny_email.csv",
    }
    save_model(trained.pipeline, out, "partnered", facts, trained.routes, trained.partners)
    return out / "partnered.joblib"


def _emails(data: Pooled) -> list[str]:
    return [t for t in data.texts if t.startswith("Subject:")]


def test_training_chooses_the_weight_with_fewest_validation_errors(
        tiny_model_run: tuple[Path, str], embeddings: Embeddings) -> None:
    # The session's shared training (`model train --per-channel --seed 7`, i.e. `train()` with
    # TrainParams(seed=7)) records its choice in the manifest: read it there, not train again.
    manifest = json.loads((tiny_model_run[0] / "tiny.json").read_text())
    assert manifest["params"] == json.loads(json.dumps(TrainParams(seed=7).as_dict()))
    choice = manifest["metrics"]["email_partner"]
    errors = {float(w): n for w, n in choice["validation_errors"].items()}
    auc = {float(w): a for w, a in choice["validation_roc_auc"].items()}
    assert sorted(errors) == sorted(auc) == [0.0, 0.25, 0.5, 1.0]
    fewest = min(errors.values())
    best_auc = max(a for w, a in auc.items() if errors[w] == fewest)
    assert choice["weight"] == min(w for w in errors if errors[w] == fewest
                                   and auc[w] == best_auc)
    assert choice["encoder_sha256"] == embeddings.sha256
    # Weight 0 is "the route alone": then no partner ships.
    assert (EMAIL_PREFIX in manifest["partners"]) == (choice["weight"] > 0)


def test_choose_weight_fewest_errors_then_ranking_then_smaller() -> None:
    assert choose_weight({0.0: 36, 0.25: 35, 0.5: 37}, {0.0: 0.9, 0.25: 0.8, 0.5: 0.99}) == 0.25
    assert choose_weight({0.0: 36, 0.25: 36, 0.5: 37}, {0.0: 0.9993, 0.25: 0.9995,
                                                         0.5: 0.9999}) == 0.25
    assert choose_weight({0.0: 36, 0.25: 36}, {0.0: 0.99951, 0.25: 0.99951}) == 0.0


@pytest.mark.parametrize("weights", [(), (0.0, -0.5)])
def test_partner_weights_are_checked(weights: tuple[float, ...]) -> None:
    with pytest.raises(ValueError) as err:
        TrainParams(partner_weights=weights)
    assert str(err.value) == ("partner_weights must hold at least one weight, none negative "
                              f"(0: no partner); got {weights!r}")


def test_errors_at_target_counts_both_kinds_at_the_chosen_threshold() -> None:
    scores = np.array([0.1, 0.2, 0.3, 0.9, 0.8, 0.25])
    labels = np.array([0, 0, 0, 1, 1, 1])
    # At 0% FPR the threshold sits just above the top ham (0.3): the spam at 0.25 is missed.
    assert errors_at_target(scores, labels, 0.0) == (1, 0.3001)


def test_partner_scores_emails_and_leaves_other_channels_alone(partnered: Path,
                                                               data: Pooled) -> None:
    m = load_model_uncached(str(partnered), pin(partnered))
    assert list(m.partners) == [EMAIL_PREFIX] and m.partners[EMAIL_PREFIX].weight == 0.5
    emails = _emails(data)
    single = np.array([m.spam_probability(t) for t in emails])
    batch = np.array(m.spam_probabilities(emails))
    np.testing.assert_allclose(single, batch, rtol=0, atol=1e-12)
    route_alone = m.routes[EMAIL_PREFIX].predict_proba(emails)[:, 1]
    assert np.abs(single - route_alone).max() > 1e-3  # the partner changed the scores
    others = ["win a free phone now, text back", inmail_text("Hello", "Are you open to a role?")]
    assert m.spam_probabilities(others) == [m.pipeline.predict_proba([t])[0, 1] for t in others]
    assert m._encoder is not None  # loaded by the first e-mail, not before


def test_an_inmail_only_process_never_loads_the_encoder(partnered: Path) -> None:
    m = load_model_uncached(str(partnered), pin(partnered))
    m.spam_probability(inmail_text("Quick question", "Would you like to chat next week?"))
    m.spam_probabilities(["a short message"])
    assert m._encoder is None


def _copy(model: Path, tmp_path: Path) -> Path:
    for suffix in (".joblib", ".json"):
        (tmp_path / model.with_suffix(suffix).name).write_bytes(
            model.with_suffix(suffix).read_bytes())
    return tmp_path / model.name


def test_loader_refuses_a_partner_trained_with_another_encoder(partnered: Path,
                                                               tmp_path: Path) -> None:
    copy = _copy(partnered, tmp_path)
    manifest = json.loads(copy.with_suffix(".json").read_text())
    manifest["partners"]["e:"]["encoder_sha256"] = "0" * 64
    copy.with_suffix(".json").write_text(json.dumps(manifest))
    have = artifact.sha256_file(builtin_encoder_path())
    with pytest.raises(ModelVerificationError) as err:
        load_model_uncached(str(copy), pin(copy))
    assert str(err.value) == (
        f"{copy}: its 'e:' partner was trained with the sentence encoder of sha256 {'0' * 64}, "
        f"but minilm-l6-v2.npz here has sha256 {have} (manifest partnered.json). Refusing to "
        "unpickle it. Fix: retrain with: inmail-guard model train tiny.csv tiny_email.csv")


def test_loader_refuses_partners_the_manifest_does_not_name(partnered: Path,
                                                            tmp_path: Path) -> None:
    copy = _copy(partnered, tmp_path)
    manifest = json.loads(copy.with_suffix(".json").read_text())
    del manifest["partners"]
    copy.with_suffix(".json").write_text(json.dumps(manifest))
    with pytest.raises(ModelVerificationError) as err:
        load_model_uncached(str(copy), pin(copy))
    assert str(err.value) == (
        f"{copy}: its route partners (e:) are not the ones manifest partnered.json names "
        "(none), or not on a route. Fix: retrain with: inmail-guard model train tiny.csv "
        "tiny_email.csv")


def test_encoder_altered_after_loading_is_refused_at_first_email(
        partnered: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: Pooled) -> None:
    m = load_model_uncached(str(partnered), pin(partnered))  # verified against the encoder
    altered = tmp_path / "minilm-l6-v2.npz"
    raw = bytearray(builtin_encoder_path().read_bytes())
    raw[1000] ^= 0x01
    altered.write_bytes(bytes(raw))
    monkeypatch.setattr(artifact, "builtin_encoder_path", lambda: altered)
    with pytest.raises(ModelVerificationError, match=r"sha256 is [0-9a-f]{64}, but the model "
                                                     r"manifest pins [0-9a-f]{64}"):
        m.spam_probability(_emails(data)[0])
    assert m._encoder is None


def test_fit_partners_divides_by_out_of_fold_spread_and_calibrates() -> None:
    rng = np.random.default_rng(3)
    n = 120
    labels = np.repeat([0, 1], n // 2)
    features = sp.csr_matrix(rng.normal(size=(n, 6)) + labels[:, None] * 0.8)
    email = np.ones(n, dtype=bool)
    email[:10] = False  # rows of another channel train the route only
    embeddings = rng.normal(size=(email.sum(), 4)) + labels[email][:, None] * 0.8
    partners = fit_partners(LinearSVC(), features, labels, email, embeddings, 5, "ab" * 32,
                            weights=(0.0, 0.5, 1.0))
    assert sorted(partners) == [0.5, 1.0]
    half, full = partners[0.5], partners[1.0]
    assert half.route_scale == full.route_scale > 0 and half.partner_scale > 0
    assert half.a > 0 and full.a > 0  # higher combined score, higher spam probability
    d1 = np.array([-1.0, 0.0, 2.0])
    p = half.probabilities(d1, embeddings[:3])
    assert [half.probability(d, e) for d, e in zip(d1, embeddings[:3], strict=True)] == \
        pytest.approx(p.tolist(), abs=1e-15)
    assert half.probabilities(d1 + 1, embeddings[:3]).tolist() > p.tolist()


def test_probability_is_stable_far_from_the_threshold() -> None:
    partner = EmbeddingPartner(coef=np.zeros(2), intercept=0.0, route_scale=1.0,
                               partner_scale=1.0, weight=0.5, a=50.0, b=0.0,
                               encoder_sha256="0" * 64)
    assert partner.probability(-100.0, np.zeros(2)) == pytest.approx(0.0, abs=1e-300)
    assert partner.probability(100.0, np.zeros(2)) == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow in exp on the batch path either
        batch = partner.probabilities(np.array([-100.0, 100.0]), np.zeros((2, 2)))
    assert batch.tolist() == pytest.approx([0.0, 1.0], abs=1e-300)


def _without_emails(data: Pooled, per_label: int) -> Pooled:
    """``data`` less ``per_label`` e-mail rows of each label."""
    email = np.array([t.startswith("Subject:") for t in data.texts])
    drop = np.concatenate([np.flatnonzero(email & (data.labels == y))[:per_label]
                           for y in (0, 1)])
    return data.take(np.setdiff1d(np.arange(len(data.labels)), drop))


def test_no_partner_without_enough_email_rows_per_fit(data: Pooled) -> None:
    # 8 e-mail rows per label and 2 validation folds: each fit sees 4 of each label, enough
    # for the route (it needs 2 * val_folds per label) but not for the partner's own 5 folds.
    few = TrainParams(seed=7, val_folds=2)
    small = _without_emails(data, 2)
    assert wants_partner(data, few)
    assert not wants_partner(small, few)
    assert train_steps(small, few) == 3 + 3
    trained = train(small, few)
    assert list(trained.routes) == [EMAIL_PREFIX]
    assert trained.partners == {} and trained.partner_choice == {}


@pytest.mark.slow
def test_crossval_reports_each_folds_weight(data: Pooled, embeddings: Embeddings) -> None:
    twice = np.concatenate([np.arange(len(data.labels))] * 2)  # 20 e-mail rows per label
    result = crossval(data.take(twice), TrainParams(seed=7, partner_weights=(0.0, 0.5)),
                      folds=2, embeddings=embeddings)
    assert len(result["fold_partner_weights"]) == 2
    assert set(result["fold_partner_weights"]) <= {0.0, 0.5}


def test_cli_records_the_partner_choice_and_no_email_partner(
        tiny_model_run: tuple[Path, str], tmp_path: Path) -> None:
    # With the partner: the session's shared run (`model train tiny.csv tiny_email.csv
    # --seed 7 --per-channel`), not a second training of the same model.
    trained_dir, output = tiny_model_run
    manifest = json.loads((trained_dir / "tiny.json").read_text())
    choice = manifest["metrics"]["email_partner"]
    assert f"e-mail partner weight {choice['weight']} (validation errors per weight: " \
           in output
    assert (manifest["partners"] != {}) == (choice["weight"] > 0)
    runner = CliRunner()
    result = runner.invoke(model, ["train", str(TINY), str(TINY_EMAIL), "--out",
                                   str(tmp_path), "--name", "without", "--seed", "7",
                                   "--per-channel",
                                   "--no-email-partner"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "without.json").read_text())
    assert manifest["partners"] == {} and "email_partner" not in manifest["metrics"]
    assert manifest["params"]["email_partner"] is False
    assert manifest["command"].endswith("--no-email-partner")
    assert manifest["routes"] == ["e:"]
