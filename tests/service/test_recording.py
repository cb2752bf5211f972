"""Opt-in recording of evaluated sends, replayed against a candidate policy."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

import inmail_guard as ig
from inmail_guard.cli import main
from inmail_guard.service import InMailService
from inmail_guard.service.recording import Recorder, RecordingSettings

from .cast import cast, msg


def recorded(directory: Path) -> list[dict]:
    return [json.loads(line) for f in sorted(directory.glob("*.jsonl"))
            for line in f.read_text().splitlines()]


@pytest.fixture
def recording_service(store, clock, tmp_path):
    recorder = Recorder(RecordingSettings(tmp_path / "rec", timedelta(days=2), "hash"))
    svc = InMailService(ig.default_policy(), store, clock=clock, recorder=recorder)
    yield cast(svc), tmp_path / "rec"
    svc.close()


def test_sends_are_recorded_with_hashed_bodies_and_replayable(recording_service, tmp_path):
    svc, directory = recording_service
    accepted = svc.send(msg())
    rejected = svc.send(msg("alice", "carol"))  # a 1st-degree connection
    assert accepted.accepted and not rejected.accepted
    records = recorded(directory)
    assert [r["decision"]["outcome"] for r in records] == ["accepted", "rejected"]
    first = records[0]["message"]
    body = msg().body
    assert "body" not in first
    assert first["body_sha256"] == hashlib.sha256(body.encode()).hexdigest()
    assert first["body_length"] == len(body)
    assert records[1]["facts"]["connection_degree"] == 1

    stricter = tmp_path / "stricter.yaml"
    stricter.write_text("name: stricter\nextends: builtin:default\n"
                        "plans: {premium_business: {monthly_credits: 0}}\n")
    files = sorted(directory.glob("*.jsonl"))
    result = CliRunner().invoke(main, ["replay", str(files[0]), "--policy", str(stricter),
                                       "--no-progress"])
    assert result.exit_code == 1, result.output  # something flipped
    assert "accepted→rejected" in result.output
    assert "plan_has_no_credits" in result.output


def test_recording_is_off_without_configuration(store, clock, monkeypatch):
    monkeypatch.delenv("INMAIL_GUARD_RECORD_DIR", raising=False)
    svc = InMailService(ig.default_policy(), store, clock=clock)
    assert svc.recorder is None
    svc.close()


def test_old_record_files_are_purged(tmp_path):
    from datetime import UTC, datetime

    directory = tmp_path / "rec"
    directory.mkdir()
    (directory / "evaluations-2026-03-01-1.jsonl").write_text("{}\n")
    (directory / "evaluations-2026-03-09-1.jsonl").write_text("{}\n")
    (directory / "notes.txt").write_text("kept")
    recorder = Recorder(RecordingSettings(directory, timedelta(days=2)))
    assert recorder.purge(datetime(2026, 3, 10, 12, tzinfo=UTC)) == 1
    assert sorted(p.name for p in directory.iterdir()) == [
        "evaluations-2026-03-09-1.jsonl", "notes.txt"]


def test_settings_from_env_name_the_variable_on_error() -> None:
    assert RecordingSettings.from_env({}) is None
    with pytest.raises(ValueError, match="INMAIL_GUARD_RECORD_BODIES: expected hash or full"):
        RecordingSettings.from_env({"INMAIL_GUARD_RECORD_DIR": "x",
                                    "INMAIL_GUARD_RECORD_BODIES": "plain"})
    settings = RecordingSettings.from_env({"INMAIL_GUARD_RECORD_DIR": "x",
                                           "INMAIL_GUARD_RECORD_RETENTION": "7d"})
    assert settings == RecordingSettings(Path("x"), timedelta(days=7), "hash")
