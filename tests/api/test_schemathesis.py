"""Property-based: every operation of the live OpenAPI schema, with valid and invalid input,
must answer without a server error and as its schema says (status, content type, body)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from inmail_guard.api import Settings, create_app

from .conftest import ADMIN, KEYS_ENV

_DB = Path(tempfile.mkdtemp(prefix="inmail-guard-schemathesis-")) / "api.db"
app = create_app(Settings(keys_env=KEYS_ENV, db=str(_DB)))
schema = schemathesis.openapi.from_asgi("/openapi.json", app)
schema.config.generation.update(max_examples=25, deterministic=True)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@schema.parametrize()
@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case):
    case.call_and_validate(headers=ADMIN, checks=CHECKS)
