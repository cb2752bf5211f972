"""What one policy file may cost is bounded: its size, the values its aliases add, its nesting.
Over a bound, loading stops at once with a message at the file, line and column where the bound
was crossed (docs/policies.md "Limits")."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from inmail_guard.policies.loader import PolicyError, load_policy, load_policy_text
from inmail_guard.policies.yamlpos import MAX_ALIAS_VALUES, MAX_DEPTH, MAX_DOCUMENT_BYTES

HEAD = "name: p\nplans: {basic: {monthly_credits: 0}}\n"


def laughs(levels: int, indent: str) -> str:
    """"Billion laughs": each level a list of nine aliases of the one before."""
    lines = [f"{indent}l0: &l0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"{indent}l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]"
              for n in range(1, levels)]
    return "\n".join(lines) + "\n"


def messages(text: str, source: str = "p.yaml") -> list[str]:
    with pytest.raises(PolicyError) as err:
        load_policy_text(text, source)
    return [str(i) for i in err.value.issues]


# Six levels: 9**6 values (531,441) from ~400 bytes took 2.4 s and 200 MB to fail without the
# bound (each level more: 9 times that). The aliases of l1, l2 and l3 add 90 + 819 + 7,380
# values; the first *l3 of l4 (7,381 more) crosses 10,000.
BOMBS = {
    "in a detector's settings": (
        HEAD + "spam:\n  detectors:\n    volume:\n" + laughs(6, "      "),
        "p.yaml:10:16: aliases add more than 10,000 values to this document (*l3 adds 7,381,"
        " 15,670 so far); write the values out or use fewer aliases"),
    "in blocklist ids": (
        HEAD + "blocklists:\n  - name: b\n    applies_to: sender\n    ids: &ids\n"
        + laughs(6, "      - ").replace("      - l", "      - {l").replace("]\n", "]}\n"),
        "p.yaml:11:19: aliases add more than 10,000 values to this document (*l3 adds 7,381,"
        " 15,670 so far); write the values out or use fewer aliases"),
}


@pytest.mark.parametrize("where", BOMBS)
def test_an_alias_bomb_stops_where_it_crosses_the_bound(where):
    text, expected = BOMBS[where]
    assert len(text) < 700
    started = time.perf_counter()
    assert messages(text) == [expected]
    assert time.perf_counter() - started < 1.0


def test_aliases_within_the_bound_load_as_if_written_out():
    written = HEAD + "blocklists:\n" + "".join(
        f"  - {{name: b{i}, applies_to: sender, code: sender_banned, ids: [m{i}]}}\n"
        for i in range(3))
    aliased = HEAD + "blocklists:\n" + (
        "  - {name: b0, ids: [m0], <<: &sender {applies_to: sender, code: sender_banned}}\n"
        + "".join(f"  - {{name: b{i}, ids: [m{i}], <<: *sender}}\n" for i in (1, 2)))
    assert load_policy_text(aliased).version == load_policy_text(written).version


def test_the_alias_bound_counts_every_value_added():
    def ids(aliases: int) -> str:
        return (HEAD + "blocklists:\n  - {name: b, applies_to: sender, ids: [&id m1"
                + ", *id" * aliases + "]}\n")

    assert load_policy_text(ids(MAX_ALIAS_VALUES)).blocklist_ids("b") == frozenset({"m1"})
    over = ids(MAX_ALIAS_VALUES + 1)
    column = over.splitlines()[3].rindex("*id") + 1
    assert messages(over) == [
        f"p.yaml:4:{column}: aliases add more than 10,000 values to this document (*id adds 1,"
        " 10,001 so far); write the values out or use fewer aliases"]


def test_an_alias_inside_the_value_it_names_is_refused():
    text = HEAD + "spam:\n  detectors:\n    volume: &v\n      x: *v\n"
    assert messages(text) == [
        "p.yaml:6:10: the alias *v is inside the value it names (&v at line 5, column 13);"
        " expected a value that does not contain itself"]


def test_nesting_is_bounded_as_written_and_through_aliases():
    def nested(levels: int) -> str:  # the document's mapping is the first level
        return HEAD + "description: " + "[" * (levels - 1) + "]" * (levels - 1) + "\n"

    assert messages(nested(MAX_DEPTH)) == [  # not a depth error
        "p.yaml:3:14: description: expected a string, found a list"]
    assert messages(nested(MAX_DEPTH + 1)) == [  # at the bracket that opens level 65
        f"p.yaml:3:{13 + MAX_DEPTH}: expected at most 64 levels of nested mappings and lists,"
        " found more"]
    # 40 levels under an anchor, aliased 30 levels down: each alone is fine, together 70.
    anchored = "&a " + "[" * 40 + "]" * 40
    nested = "[" * 29 + "*a" + "]" * 29
    text = HEAD + f"x-a: {anchored}\ndescription: {nested}\n"
    assert messages(text) == [
        "p.yaml:4:43: expected at most 64 levels of nested mappings and lists, found more once"
        " *a is expanded"]


def test_a_file_over_1_mib_is_refused_where_it_crosses_the_bound(tmp_path: Path):
    line = "# " + "x" * 97 + "\n"  # 100 bytes
    lines = (MAX_DOCUMENT_BYTES - len(HEAD)) // 100
    path = tmp_path / "big.yaml"
    path.write_text(HEAD + line * lines)
    assert load_policy(path).name == "p"  # up to the bound: loads
    path.write_text(HEAD + line * (lines + 1))
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    # the first byte past the bound: in the first line that does not fit whole
    column = MAX_DOCUMENT_BYTES - len(HEAD) - 100 * lines + 1
    assert [str(i) for i in err.value.issues] == [
        f"{path}:{3 + lines}:{column}: expected a policy file of at most 1,048,576 bytes"
        f" (1 MiB), found {len(HEAD) + 100 * (lines + 1):,} bytes; put long id lists in a"
        " blocklist file (blocklists[].file)"]
    # a policy that extends it gets the same issue, in the file it extends
    child = tmp_path / "child.yaml"
    child.write_text("extends: big.yaml\nname: child\n")
    with pytest.raises(PolicyError) as err:
        load_policy(child)
    assert [(i.file, i.line, i.column) for i in err.value.issues] == [
        (str(path), 3 + lines, column)]
