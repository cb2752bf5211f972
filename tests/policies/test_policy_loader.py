"""load_policy / default_policy / load_policy_text, extends merging and blocklist files."""

from __future__ import annotations

from pathlib import Path

import pytest

import inmail_guard as ig
from inmail_guard.policies.loader import (
    PolicyError,
    default_policy,
    load_policy,
    load_policy_text,
    read_blocklist_file,
)
from inmail_guard.policies.schema import Policy


def test_default_policy_is_cached_and_builtin_path_means_it() -> None:
    first = default_policy()
    assert default_policy() is first
    assert load_policy("builtin:default") is first
    assert first.source == "builtin:default"
    assert first.name == "inmail-default"
    assert first.version.startswith("sha256:") and len(first.version) == 7 + 64
    assert ig.default_policy() is first and ig.load_policy is load_policy


def test_the_shipped_policy_is_the_product_rules() -> None:
    policy = default_policy()
    assert {n: p.monthly_credits for n, p in policy.plans.items()} == {
        "basic": 0, "job_seeker": 5, "premium_business": 10, "sales_navigator_team": 10,
        "sales_navigator_team_advanced": 25, "recruiter_lite": 25, "recruiter_corporate": 50}
    assert policy.content.body.max_chars == 3000
    assert policy.lifecycle.expire_unopened_after.days == 7


def test_load_policy_accepts_str_and_path(in_fixtures: Path) -> None:
    by_str = load_policy("valid/minimal.yaml")
    by_path = load_policy(in_fixtures / "valid" / "minimal.yaml")
    assert isinstance(by_str, Policy)
    assert by_str.version == by_path.version
    assert by_str.source == "valid/minimal.yaml"
    assert by_path.source == str(in_fixtures / "valid" / "minimal.yaml")
    assert by_str.extends is None


def test_load_policy_text() -> None:
    policy = load_policy_text("name: t\nplans: {basic: {monthly_credits: 1}}\n")
    assert policy.source == "<string>"
    assert policy.plans["basic"].monthly_credits == 1
    assert load_policy_text("name: t\nplans: {basic: {monthly_credits: 1}}\n", "t.yaml"
                            ).source == "t.yaml"


def test_load_policy_text_extends_the_builtin() -> None:
    policy = load_policy_text("name: mine\nextends: builtin:default\n")
    assert policy.extends == "builtin:default"
    assert policy.plans == default_policy().plans


def test_unreadable_policy_file_is_a_policy_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(PolicyError) as caught:
        load_policy(missing)
    assert str(caught.value) == (
        f"{missing}:1:1: cannot read the policy file: No such file or directory")


def test_a_misspelt_builtin_policy_is_named_with_the_fix() -> None:
    with pytest.raises(PolicyError) as caught:
        load_policy("builtin:defualt")
    assert str(caught.value) == (
        "builtin:defualt:1:1: no built-in policy 'builtin:defualt' (did you mean"
        " 'builtin:default'?); expected a policy file or builtin:default")


def test_a_misspelt_builtin_on_the_command_line_is_exit_2_without_a_file_error() -> None:
    from click.testing import CliRunner

    from inmail_guard.cli import main

    result = CliRunner().invoke(main, ["policy", "explain", "builtin:defualt"])
    assert result.exit_code == 2, result.output
    assert result.output == ("Error: builtin:defualt:1:1: no built-in policy 'builtin:defualt'"
                             " (did you mean 'builtin:default'?); expected a policy file or"
                             " builtin:default\n")


# --- extends ---------------------------------------------------------------------------------


def test_extends_merge_semantics(in_fixtures: Path) -> None:
    child = load_policy("extends/child.yaml")
    assert child.name == "child"
    assert child.extends == "base.yaml"  # what it extended, as written
    assert child.description == ""  # a description is never inherited (issue #17)
    # mappings merge recursively: pro overridden, basic inherited
    assert {n: p.monthly_credits for n, p in child.plans.items()} == {"basic": 0, "pro": 20}
    assert child.content.subject.max_chars == 80
    assert child.content.subject.required is True  # sibling key inherited
    # lists are replaced whole
    assert child.content.formatting == ["link"]
    assert [str(d) for d in child.spam.restriction.durations] == ["2:00:00"]
    assert child.spam.restrict_at == 20  # from base
    # blocklists merge by name: vips replaced in place (its file is gone), press appended
    assert [b.name for b in child.blocklists] == ["staff", "vips", "press"]
    assert child.blocklist_ids("vips") == frozenset({"v-9"})
    assert child.blocklist_ids("press") == frozenset({"p-1"})
    assert child.blocklists[0].match == {"is_employee": True}


def test_extends_chain_and_parent_relative_files(in_fixtures: Path) -> None:
    base = load_policy("extends/base.yaml")
    # lists/vips.txt is relative to base.yaml, wherever it is loaded from
    assert base.blocklist_ids("vips") == frozenset({"v-1", "v-2"})
    grandchild = load_policy("extends/sub/grandchild.yaml")
    assert grandchild.extends == "../child.yaml"
    assert grandchild.plans["basic"].monthly_credits == 1
    assert grandchild.plans["pro"].monthly_credits == 20
    assert [b.name for b in grandchild.blocklists] == ["staff", "vips", "press"]


def test_child_keeps_parent_blocklist_file_relative_to_parent(in_fixtures: Path) -> None:
    text = "name: c\nextends: base.yaml\nplans: {basic: {monthly_credits: 3}}\n"
    policy = load_policy_text(text, str(in_fixtures / "extends" / "inline-child.yaml"))
    assert policy.blocklist_ids("vips") == frozenset({"v-1", "v-2"})


def test_errors_in_an_overlay_name_the_file_that_wrote_the_key(in_fixtures: Path) -> None:
    text = ("name: c\nextends: base.yaml\nblocklists:\n"
            "  - {name: press, applies_to: recipient, ids: [], code: nope}\n")
    with pytest.raises(PolicyError) as caught:
        load_policy_text(text, "extends/overlay-of-base.yaml")
    [only] = caught.value.issues
    # index 0 as written in this file, although press is the third list after merging
    assert str(only) == (
        "extends/overlay-of-base.yaml:4:57: blocklists[0].code: expected one of"
        " recipient_protected, sender_banned or recipient_opted_out, found 'nope'")


def test_a_child_can_disable_a_parent_blocklist_by_name() -> None:
    text = ("name: c\nextends: builtin:default\nblocklists:\n"
            "  - {name: platform_employees, applies_to: recipient, ids: []}\n")
    policy = load_policy_text(text)
    assert [b.name for b in policy.blocklists] == ["platform_employees", "banned_senders"]
    assert policy.blocklists[0].match is None


# --- blocklist files ---------------------------------------------------------------------------


def test_blocklist_file_format(in_fixtures: Path) -> None:
    assert read_blocklist_file("valid/banned.txt") == frozenset({"m-100", "m-101", "m-102"})
    policy = load_policy("valid/overlay.yaml")
    assert policy.blocklist_ids("banned_senders") == frozenset({"m-100", "m-101", "m-102"})
    assert policy.blocklist_ids("competitors") == frozenset({"m-900", "m-901"})


def test_blocklist_file_and_inline_ids_are_one_set(tmp_path: Path) -> None:
    (tmp_path / "ids.txt").write_text("\ufeffa\r\nb\n\n  # c\nd # e\n", encoding="utf-8")
    (tmp_path / "p.yaml").write_text(
        "name: p\nplans: {basic: {monthly_credits: 0}}\n"
        "blocklists: [{name: l, applies_to: sender, file: ids.txt, ids: [z, a]}]\n")
    policy = load_policy(tmp_path / "p.yaml")
    assert policy.blocklist_ids("l") == frozenset({"a", "b", "d", "z"})


def test_a_million_ids_load_quickly(tmp_path: Path) -> None:
    import time

    ids = [f"member-{i:09d}" for i in range(1_000_000)]
    (tmp_path / "big.txt").write_text("# one million\n" + "\n".join(ids) + "\n")
    (tmp_path / "p.yaml").write_text(
        "name: big\nextends: builtin:default\n"
        "blocklists: [{name: big, applies_to: sender, file: big.txt, code: sender_banned}]\n")
    started = time.perf_counter()
    policy = load_policy(tmp_path / "p.yaml")
    elapsed = time.perf_counter() - started
    assert len(policy.blocklist_ids("big")) == 1_000_000
    assert "member-000123456" in policy.blocklist_ids("big")
    assert elapsed < 15  # ~0.5-1 s on a laptop; generous for loaded CI machines


def test_policy_validate_names_a_misspelt_builtin_rather_than_a_missing_file() -> None:
    from click.testing import CliRunner

    from inmail_guard.cli import main

    result = CliRunner().invoke(main, ["policy", "validate", "builtin:defualt"])
    assert result.exit_code == 2
    assert result.output.endswith(
        "Error: Invalid value for 'FILES...': no built-in policy 'builtin:defualt' (did you"
        " mean 'builtin:default'?); expected a policy file or builtin:default.\n")


def test_a_blocklisted_id_no_member_could_have_is_an_error_with_its_place(
        tmp_path: Path) -> None:
    # A zero-width space pasted with an id: the service refuses such an id for a member, so
    # the list would never match anyone, silently. In a comment it is only text.
    (tmp_path / "banned.txt").write_text(
        "alice\n# a comment with \u200b inside\nbob\ncar\u200bol dave\n", encoding="utf-8")
    (tmp_path / "p.yaml").write_text(
        "name: p\nextends: builtin:default\nblocklists:\n"
        "  - {name: banned, applies_to: sender, file: banned.txt, code: sender_banned}\n"
        "  - name: inline\n    applies_to: recipient\n    ids: [erin, \"fr\\u200bank\"]\n",
        encoding="utf-8")
    with pytest.raises(PolicyError) as raised:
        load_policy(tmp_path / "p.yaml")
    assert [str(i) for i in raised.value.issues] == [
        f"{tmp_path / 'p.yaml'}:4:40: blocklists[0].file: expected a readable file of member"
        " ids, found 'banned.txt' (" + str(tmp_path / "banned.txt") + ":4: 'car\\u200bol'"
        " contains U+200B (ZERO WIDTH SPACE), an invisible or control character)",
        f"{tmp_path / 'p.yaml'}:7:17: blocklists[1].ids[1]: expected a member id without"
        " invisible or control characters, found 'fr\\u200bank', which contains U+200B"
        " (ZERO WIDTH SPACE), an invisible or control character",
    ]


def test_ids_in_other_scripts_and_with_separators_of_any_kind_are_fine(tmp_path: Path) -> None:
    (tmp_path / "ids.txt").write_text("zoë\u2028田中\u0085bob\tcarol\x0bdave\n",
                                      encoding="utf-8")
    (tmp_path / "p.yaml").write_text(
        "name: p\nplans: {basic: {monthly_credits: 0}}\n"
        "blocklists: [{name: l, applies_to: sender, file: ids.txt, ids: [Émile]}]\n",
        encoding="utf-8")
    assert load_policy(tmp_path / "p.yaml").blocklist_ids("l") == frozenset(
        {"zoë", "田中", "bob", "carol", "dave", "Émile"})
