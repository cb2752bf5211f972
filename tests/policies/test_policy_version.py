"""The version: the same for the same meaning, different for any meaningful change."""

from __future__ import annotations

from pathlib import Path

import pytest

from inmail_guard.policies.loader import default_policy, load_located, load_policy_text
from inmail_guard.policies.schema import Policy

BASE = "name: v\nplans:\n  basic: {monthly_credits: 0}\n  pro: {monthly_credits: 5}\n"


def version(text: str) -> str:
    return load_policy_text(text).version


def test_extends_and_inline_give_the_same_version(in_fixtures: Path) -> None:
    overlay = load_policy_text((in_fixtures / "valid/overlay.yaml").read_text(),
                               str(in_fixtures / "valid/overlay.yaml"))
    inline = load_policy_text((in_fixtures / "valid/inline.yaml").read_text(),
                              str(in_fixtures / "valid/inline.yaml"))
    assert overlay.version == inline.version


def test_an_empty_overlay_of_the_shipped_policy_is_the_shipped_policy() -> None:
    assert version("extends: builtin:default\n") == default_policy().version


def test_loading_twice_gives_equal_versions() -> None:
    assert load_located("builtin:default")[0].version == default_policy().version


@pytest.mark.parametrize("same", [
    "# a comment\n" + BASE,
    "plans:\n  pro: {monthly_credits: 5}\n  basic: {monthly_credits: 0}\nname: v\n",
    "name: 'v'\nplans: {basic: {monthly_credits: 0}, pro: {monthly_credits: 5}}\n",
    BASE + "description: words do not change what a policy does\n",
    BASE + "lifecycle: {retract_within: 168h}\n",  # = the default 7d
    BASE + "spam: {reject_at: 10.0}\n",  # = the default 10
])
def test_same_meaning_same_version(same: str) -> None:
    assert version(same) == version(BASE)


@pytest.mark.parametrize("different", [
    BASE.replace("name: v", "name: w"),
    BASE.replace("monthly_credits: 5", "monthly_credits: 6"),
    BASE + "lifecycle: {retract_within: 6d}\n",
    BASE + "content: {formatting: [bold]}\n",
    BASE + "rules_mode: {credits: shadow}\n",
    BASE + "blocklists: [{name: l, applies_to: sender, ids: [a]}]\n",
    BASE + "spam: {detectors: {test_string: {score: 5}}}\n",
])
def test_any_meaningful_change_changes_the_version(different: str) -> None:
    assert version(different) != version(BASE)


def test_blocklist_file_contents_are_in_the_version(tmp_path: Path) -> None:
    ids = tmp_path / "ids.txt"
    policy_file = tmp_path / "p.yaml"
    policy_file.write_text(BASE + "blocklists: [{name: l, applies_to: sender, file: ids.txt}]\n")

    def current() -> str:
        return load_located(policy_file)[0].version

    ids.write_text("a\nb\n")
    first = current()
    ids.write_text("# reordered, commented, repeated\nb\n\na\na\n")
    assert current() == first
    ids.write_text("a\nb\nc\n")
    assert current() != first
    # the same ids inline mean the same thing
    inline = BASE + "blocklists: [{name: l, applies_to: sender, ids: [b, a]}]\n"
    assert version(inline) == first


def test_version_is_set_by_the_loader_only() -> None:
    bare = Policy.model_validate({"name": "x", "plans": {"basic": {"monthly_credits": 0}}})
    assert bare.version == "sha256:unversioned"
