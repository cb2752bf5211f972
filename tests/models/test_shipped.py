"""The shipped builtin:spam-v1 model: verified, small, and sensible on InMail-like messages.

Its end-to-end figures (through the default policy) are in MODEL_CARD.md, measured with
``inmail-guard model evaluate --policy``; these tests check the artifact and its manifest."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from inmail_guard.models import BUILTIN_MODELS, load_model
from inmail_guard.models.artifact import resolve
from inmail_guard.models.features import (
    FEATURES_VERSION,
    INMAIL_PREFIX,
    LONG_INMAIL_PREFIX,
    inmail_text,
)
from inmail_guard.models.inmail import model_input
from inmail_guard.models.manifest import REQUIRED_FIELDS

HAM = [
    ("Senior backend engineer role at Northwind",
     "Hi Anna, I'm a recruiter at Northwind. Your work on data pipelines caught my eye. Would "
     "you be open to a short call next week about a senior engineer role? Best, Tom"),
    ("Quick question about your vendor onboarding",
     "Hello Marc, thanks for connecting at the conference. I'd love to hear how your team "
     "handles vendor onboarding today. Do you have 20 minutes on Thursday?"),
    ("Product manager opening, payments team",
     "Hi Priya, we are hiring a product manager for our payments team in Berlin. The role is "
     "hybrid. Happy to share the job description if you're interested."),
    ("Case study for your analytics group",
     "Dear Tom, I noticed you lead the analytics group at Contoso. We help teams reduce "
     "reporting costs. Could I send you a two-page case study? Thanks, Julia"),
    ("Following up on the UX research position",
     "Hi Sofia, following up on my note from last week about the UX research position. No "
     "pressure at all, just let me know if the timing is wrong."),
    ("Interview scheduling",
     "Hi Victor, thank you for applying. I'd like to schedule a call to discuss your "
     "background and the next steps in our hiring process. Are you free Tuesday afternoon?"),
]
SPAM = [
    ("EARN $5000 A WEEK FROM HOME",
     "Make money fast!!! Work from home and earn $$$ every day with our proven system. No "
     "experience needed. Click here now to start, limited spots! 100% guaranteed income!"),
    ("Your account has been suspended",
     "Your account has been suspended. Verify your password immediately at "
     "http://secure-login-verify.com or your account will be deleted within 24 hours."),
    ("Congratulations, you won!",
     "Congratulations! You have been selected to receive a $1000 gift card. Claim your "
     "prize now at www.free-prizes-now.biz before it expires! Call 0800 123 4567."),
    ("Business proposal",
     "Dear friend, I am a bank manager with 15 million dollars to transfer. I need your "
     "assistance and will give you 30% of the funds. Reply urgently with your bank account "
     "details and phone number."),
    ("Cheap meds online",
     "Buy cheap viagra and cialis online, no prescription needed! Best prices, discreet "
     "shipping. Order now and save 80%!!! Click here to visit our online pharmacy."),
    ("Double your bitcoin",
     "Investment opportunity of a lifetime!!! Double your money in 24 hours with our "
     "guaranteed trading system. Click the link, send your deposit and receive twice back."),
]


@pytest.fixture(scope="module")
def shipped():
    return load_model("builtin:spam-v1")


def test_builtin_resolves_to_the_packaged_file() -> None:
    assert BUILTIN_MODELS == ("spam-v1",)
    packaged = Path(str(resources.files("inmail_guard.models") / "spam-v1.joblib"))
    assert resolve("builtin:spam-v1") == packaged
    assert packaged.stat().st_size < 20 * 1024 * 1024


def test_manifest(shipped) -> None:
    m = shipped.manifest
    assert set(REQUIRED_FIELDS) <= set(m)
    assert shipped.name == "spam-v1"
    assert [d["file"] for d in m["training_data"]] == [
        "sms_spam_train.csv", "email_spam_train.csv", "train.csv"]
    assert [(d["ham"], d["spam"]) for d in m["training_data"]] == [
        (3862, 598), (2938, 1200), (1519, 1453)]
    assert set(m["versions"]) == {"python", "sklearn", "numpy", "scipy", "joblib"}
    assert m["features"] == FEATURES_VERSION
    assert m["params"]["inmail_form"] is True
    assert m["command"].startswith("inmail-guard model train ")


def test_inmails_are_scored_by_weights_trained_for_them_at_calibrated_thresholds(shipped):
    """No route, no partner: every InMail reaches the word pipeline trained in InMail form,
    with the threshold of its channel, chosen on validation folds (none hand-set): together,
    so that every file that can measure its target keeps it on the validation folds."""
    assert shipped.routes == {} and shipped.partners == {}
    assert set(shipped.thresholds) == {INMAIL_PREFIX, LONG_INMAIL_PREFIX}
    assert shipped.threshold == max(shipped.thresholds.values())
    metrics = shipped.manifest["metrics"]
    assert metrics["threshold_rule"]["rule"].startswith("joint:")
    for name, per_channel in metrics["threshold_per_file"].items():
        target = next(iter(per_channel.values()))["target_fpr"]
        validation = metrics["validation"][name]
        assert validation["ham_fpr"] <= target, name


def test_separates_inmail_fixtures(shipped) -> None:
    ham = [inmail_text(s, b) for s, b in HAM]
    spam = [inmail_text(s, b) for s, b in SPAM]
    margin = [shipped.spam_probability(t) - shipped.threshold_for(t) for t in ham + spam]
    assert max(margin[:len(ham)]) < 0 <= min(margin[len(ham):]), margin
    assert shipped.spam_probabilities(ham + spam) == pytest.approx(
        [shipped.spam_probability(t) for t in ham + spam], abs=1e-9)


#: Enron-style e-mail (lower-cased, tokenised with spaces, as the corpus is): ordinary business
#: mail and classic spam, sent as InMails (the subject line becomes the subject).
EMAIL_HAM = [
    "Subject: re : gas nominations for march\nthe revised volumes for meter 1234 are attached . "
    "please confirm them by friday . thanks , daren",
    "Subject: staff meeting moved\nthe staff meeting moves to thursday at 10 am in room 30 c . "
    "bring the updated schedules .",
    "Subject: re : contract review\ni looked over the draft agreement with the pipeline group . "
    "a few changes to section 4 , otherwise it is fine . let me know when you want to talk .",
]
EMAIL_SPAM = [
    "Subject: you have won ! ! !\ncongratulations ! you have been selected to receive $ 1000 . "
    "click here http : / / www . prizes . com to claim your prize now",
    "Subject: cheap meds online\nbuy viagra and cialis online , no prescription needed ! lowest "
    "prices , discreet shipping . order now",
    "Subject: make money from home\nearn $ 5000 a week working from home . no experience "
    "required . limited offer , reply today to get started !",
]


def test_separates_email_fixtures_sent_as_inmails(shipped) -> None:
    ham = [model_input(t) for t in EMAIL_HAM]
    spam = [model_input(t) for t in EMAIL_SPAM]
    assert max(shipped.spam_probability(t) - shipped.threshold_for(t) for t in ham) < 0
    assert min(shipped.spam_probability(t) - shipped.threshold_for(t) for t in spam) >= 0


def test_the_model_card_describes_the_shipped_artifact(shipped) -> None:
    card = (Path(str(resources.files("inmail_guard.models"))) / "MODEL_CARD.md").read_text()
    assert f"`{shipped.sha256}`" in card
    for prefix, threshold in shipped.thresholds.items():
        assert f"`{prefix}` {threshold}" in card
