"""The service is a package of collaborators over a store beneath it; the import paths callers
used before the split keep working."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import inmail_guard as ig

PACKAGE = Path(ig.__file__).parent

#: Every public name ``inmail_guard.service`` offered before it became a package.
NAMES = ("ERROR_CODES", "GROUP_BY", "SEND_TEXT_LIMITS", "Analytics", "Conversation",
         "ConversationMessage", "ConversationSummary", "Counts", "Credits", "GroupBy",
         "InMail", "InMailService", "InMailStatus", "InboxItem", "ManualClock", "Recorder",
         "RecordingSettings", "ReportResult", "Restriction", "RetractResult", "SendResult",
         "SenderCard", "ServiceError", "check_service_policy", "check_text",
         "decision_from_dict", "inmail_event_fields", "iso", "new_id", "request_hash",
         "utc_now")


@pytest.mark.parametrize("name", NAMES)
def test_every_name_the_service_module_offered_is_still_importable(name):
    import inmail_guard.service as service

    assert getattr(service, name) is not None


def test_the_package_exports_the_service_lazily():
    from inmail_guard.service import InMailService, ManualClock, ServiceError

    assert (ig.InMailService, ig.ManualClock, ig.ServiceError) == (
        InMailService, ManualClock, ServiceError)


def test_no_flat_service_modules_remain():
    flat = sorted(p.name for p in PACKAGE.glob("*.py")
                  if p.name.startswith("service") or p.name == "recording.py")
    assert flat == []


def test_the_store_imports_nothing_above_it():
    """Importing every store module loads no module of the service, API, CLI, workflow,
    plugins or policies (the engine's plain types, among them the stored form of a body
    fingerprint in engine.history, and the leaf modules are allowed)."""
    modules = sorted(f"inmail_guard.store.{p.stem}" for p in (PACKAGE / "store").glob("*.py")
                     if p.stem != "__init__")
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "print(sorted(m for m in sys.modules if m.startswith('inmail_guard.')"
            " and not m.startswith(('inmail_guard.store', 'inmail_guard.textnorm'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    leaves = {"inmail_guard.body", "inmail_guard.bounds", "inmail_guard.fieldpath",
              "inmail_guard.reasons"}
    assert sorted(set(ast.literal_eval(out)) - leaves) == [
        "inmail_guard.engine", "inmail_guard.engine.history", "inmail_guard.engine.types"]
