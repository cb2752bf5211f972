"""Fixtures the service tests share."""

from __future__ import annotations

import pytest

from .cast import cast


@pytest.fixture
def svc(service):
    """An InMailService over the ``store`` fixture, with the cast of members in place."""
    return cast(service)
