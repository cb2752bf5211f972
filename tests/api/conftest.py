from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from inmail_guard.api import Settings, create_app

SERVICE_KEY = "svc-test-key-0123456789"
ADMIN_KEY = "adm-test-key-9876543210"
KEYS_ENV = f"svc:service:{SERVICE_KEY},ops:admin:{ADMIN_KEY}"
SVC = {"Authorization": f"Bearer {SERVICE_KEY}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
NOW = "2026-11-27T09:00:00Z"


def evaluate_body(**message: Any) -> dict[str, Any]:
    msg = {"sender_id": "alice", "recipient_id": "bob", "subject": "Hello",
           "body": "Hi Bob, would you be open to a chat?", **message}
    return {
        "message": msg,
        "facts": {"sender": {"id": "alice", "plan": "premium_business"},
                  "recipient": {"id": "bob"}, "now": NOW, "connection_degree": 3},
    }


def member_body(**attrs: Any) -> dict[str, Any]:
    """A full ``PUT /v1/members/{id}`` body (every attribute is required), with overrides."""
    return {"plan": "basic", "profile_public": True, "accepts_inmail": True,
            "is_employee": False, "name": None, "photo_url": None, "headline": None,
            "company": None, "role": None, **attrs}


def key_file(path: Path, entries: list[tuple[str, str, str]]) -> Path:
    path.write_text(json.dumps([
        {"name": n, "role": r, "sha256": hashlib.sha256(k.encode()).hexdigest()}
        for n, r, k in entries]))
    return path


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[Callable[..., TestClient]]:
    clients: list[TestClient] = []

    def make(**overrides: Any) -> TestClient:
        settings = Settings(keys_env=KEYS_ENV, db=str(tmp_path / "api.db"))
        for key, value in overrides.items():
            setattr(settings, key, value)
        client = TestClient(create_app(settings), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    return make_client()
