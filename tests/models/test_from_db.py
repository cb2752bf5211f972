"""``model train --from-db``: the store's verdicts (reported = spam, replied = ham) as training
rows, counted in the manifest (``store/verdicts.py``)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

import inmail_guard as ig
from inmail_guard.cli.model import model
from inmail_guard.policies.loader import load_policy
from inmail_guard.service import InMailService
from inmail_guard.store import Store
from inmail_guard.store.verdicts import verdicts

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TINY = FIXTURES / "models" / "tiny.csv"
NO_CLASSIFIER = FIXTURES / "endtoend" / "no-classifier.yaml"
SPAM = ["Pay the $150 training fee today to start your remote data entry job",
        "Deposit our check and send the balance to the equipment vendor by Zelle",
        "Receive customer payments into your account and forward them, keep 10%",
        "Buy six gift cards for a client and text me the codes, keep it quiet",
        "Verify your account password at the security portal within 24 hours",
        "Send your SSN and bank login so payroll can set up direct deposit",
        "Our AI crypto bot makes 4% a day, minimum deposit only $250",
        "Reship the parcels you receive with the labels we email you, $25 each"]
HAM = ["Would you be open to a call about the staff engineer role on our payments team?",
       "Thanks for your talk at the meetup, could we discuss a co-hosted webinar?",
       "I am a PhD student studying onboarding; would you do a 30 minute interview?",
       "Our fund invests in logistics software and I would love to meet for coffee",
       "We met at the Hamburg fair; here is the summary of cold chain monitoring I promised",
       "Fellow alum here, could I ask how you moved from teaching into UX research?",
       "The hospital is hiring a nurse manager for cardiac step-down, interested?",
       "Would your team try our scheduling tool with one department for a month?"]


@pytest.fixture
def db(tmp_path: Path, clock: object) -> Path:
    """A SQLite store in which bob reported 8 InMails and one more after replying to it,
    replied to 8 others, and left 2 unanswered."""
    path = tmp_path / "verdicts.db"
    store = Store(f"sqlite:///{path}")
    svc = InMailService(load_policy(NO_CLASSIFIER), store, clock=clock)  # type: ignore[arg-type]
    svc.put_member(ig.Member("bob"))
    senders = iter(range(100))

    def send(subject: str, body: str) -> str:
        # One sender each: three reports would restrict a sender (abuse_reports).
        sender = f"sender{next(senders)}"
        svc.put_member(ig.Member(sender, plan="recruiter_corporate"))
        clock.advance(timedelta(minutes=7))  # type: ignore[attr-defined]
        result = svc.send(ig.Message(sender, "bob", subject, body))
        assert result.decision.outcome == "accepted", result.decision.reasons
        return result.inmail.id

    for i, body in enumerate(SPAM):
        svc.report(send(f"Opportunity {i}", body), "bob", "spam")
    for i, body in enumerate(HAM):
        svc.reply(send(f"Hello {i}", body), "bob", "Sure, happy to talk")
    both = send("Both", "Click to claim the prize waiting in your account today")
    svc.reply(both, "bob", "What is this?")
    svc.report(both, "bob", "spam")
    send("Silence", "Would you review our white paper on warehouse robotics?")
    send("Silence 2", "A quick question about your open-source parser")
    svc.close()
    store.close()
    return path


def test_reported_inmails_are_spam_and_replied_unreported_ones_ham(db: Path) -> None:
    store = Store(f"sqlite:///{db}")
    try:
        found = verdicts(store)
    finally:
        store.close()
    assert [v.body for v in found if v.spam] == [*SPAM, "Click to claim the prize waiting in "
                                                 "your account today"]
    assert [v.body for v in found if not v.spam] == HAM
    assert found[0].subject == "Opportunity 0"


def test_train_from_db_adds_the_verdicts_and_counts_them_in_the_manifest(
        db: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    result = CliRunner().invoke(model, ["train", str(TINY), "--from-db", str(db), "--out",
                                        str(out), "--name", "fromdb", "--seed", "7"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"--from-db sqlite:///{db}: 9 reported InMails (spam), 8 replied to (ham)" \
        in result.output
    manifest = json.loads((out / "fromdb.json").read_text())
    entries = {d["file"]: d for d in manifest["training_data"]}
    assert {k: v for k, v in entries[f"db:sqlite:///{db}"].items() if k != "sha256"} == {
        "file": f"db:sqlite:///{db}", "rows": 17, "ham": 8, "spam": 9}
    assert entries["tiny.csv"]["rows"] == 60
    assert f"--from-db sqlite:///{db}" in manifest["command"]


def test_the_store_alone_can_train_a_model(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "m"
    result = CliRunner().invoke(model, ["train", "--from-db", f"sqlite:///{db}", "--out",
                                        str(out), "--name", "store-only", "--min-df", "1"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    manifest = json.loads((out / "store-only.json").read_text())
    assert [(d["file"], d["ham"], d["spam"]) for d in manifest["training_data"]] == [
        (f"db:sqlite:///{db}", 8, 9)]


def test_a_missing_database_file_is_refused_with_the_fix(tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    result = CliRunner().invoke(model, ["train", "--from-db", str(missing), "--out",
                                        str(tmp_path / "m")])
    assert result.exit_code == 1
    assert (f"--from-db sqlite:///{missing}: no such SQLite file '{missing}'. Fix: give the "
            "file the service runs on (inmail-guard serve --db).") in result.output
    assert not missing.exists()


def test_train_needs_data_or_a_database(tmp_path: Path) -> None:
    result = CliRunner().invoke(model, ["train", "--out", str(tmp_path / "m")])
    assert result.exit_code == 2
    assert "give at least one DATA.csv, or --from-db URL" in result.output
