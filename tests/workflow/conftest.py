from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from inmail_guard.cli.policy_tools import register


@pytest.fixture
def policy_cli() -> click.Group:
    """A ``policy`` group with our commands, independent of the real group's other verbs."""

    @click.group()
    def policy() -> None:
        pass

    register(policy)
    return policy


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()
