"""The store's form of a BodyFingerprint (``engine.history.stored_fingerprint``): the hex text it
keeps, decoded into ``minhash`` only when read, and in every other way a BodyFingerprint."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import struct
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import TypeAdapter

from fingerprint_helpers import decoded
from inmail_guard.engine.history import stored_fingerprint
from inmail_guard.engine.types import BodyFingerprint, Facts, Member

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
VALUES = (0, 1, 2**32 - 1, 123456789) * 16
HEX = struct.pack(">64I", *VALUES).hex()


def test_the_hex_text_is_the_callers_values() -> None:
    plain = BodyFingerprint("r1", NOW, VALUES)
    assert plain.minhash_hex == HEX and plain.size == 64
    stored = stored_fingerprint("r1", NOW, HEX)
    assert stored.minhash_hex == HEX and stored.size == 64
    assert not decoded(stored)  # size and text need no decoding
    assert stored.minhash == VALUES
    assert decoded(stored) and stored.minhash is stored.minhash  # decoded once, kept


def test_either_form_equals_the_other_and_hashes_alike() -> None:
    plain, stored = BodyFingerprint("r1", NOW, VALUES), stored_fingerprint("r1", NOW, HEX)
    assert stored == plain and plain == stored
    assert (stored != plain) is False and (plain != stored) is False
    assert hash(stored) == hash(plain) and len({stored, plain}) == 1
    assert isinstance(stored, BodyFingerprint)
    assert stored != BodyFingerprint("r1", NOW, (*VALUES[:-1], 7))
    assert stored != BodyFingerprint("r2", NOW, VALUES)
    assert stored != BodyFingerprint("r1", NOW + timedelta(seconds=1), VALUES)
    assert stored != VALUES


def test_facts_with_either_form_serialise_the_same() -> None:
    """The replay recorder and /v1/evaluate's JSON: ``minhash`` is a list of ints either way."""
    adapter = TypeAdapter(Facts)

    def facts(body: BodyFingerprint) -> Facts:
        return Facts(Member("s1"), Member("r1"), NOW, recent_bodies=(body,))

    plain = adapter.dump_json(facts(BodyFingerprint("r1", NOW, VALUES)))
    assert adapter.dump_json(facts(stored_fingerprint("r1", NOW, HEX))) == plain
    assert adapter.dump_python(facts(stored_fingerprint("r1", NOW, HEX)), mode="json")[
        "recent_bodies"] == [{"recipient_id": "r1", "sent_at": "2026-11-27T10:00:00Z",
                              "minhash": list(VALUES)}]
    assert adapter.validate_json(plain).recent_bodies[0] == stored_fingerprint("r1", NOW, HEX)


def test_it_is_frozen() -> None:
    stored = stored_fingerprint("r1", NOW, HEX)
    for name, value in (("recipient_id", "x"), ("minhash_hex", "00" * 4), ("minhash", ()),
                        ("size", 1)):
        with pytest.raises(dataclasses.FrozenInstanceError,
                           match=f"cannot assign to field '{name}'"):
            setattr(stored, name, value)
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot delete field 'sent_at'"):
        del stored.sent_at
    assert (stored.recipient_id, stored.sent_at, stored.minhash_hex, stored.size) == (
        "r1", NOW, HEX, 64)


def test_it_pickles_copies_and_replaces() -> None:
    stored = stored_fingerprint("r1", NOW, HEX)
    for other in (pickle.loads(pickle.dumps(stored)), copy.copy(stored), copy.deepcopy(stored)):
        assert other == stored and other.minhash_hex == HEX
    later = dataclasses.replace(stored, sent_at=NOW + timedelta(hours=1))
    assert later == BodyFingerprint("r1", NOW + timedelta(hours=1), VALUES)
    assert later.minhash_hex == HEX and later.size == 64
    assert stored.sent_at == NOW  # unchanged


def test_a_text_of_another_length_is_refused() -> None:
    with pytest.raises(ValueError) as error:
        stored_fingerprint("r1", NOW, "0000000")
    assert str(error.value) == "minhash_hex: expected 8 hex digits per value, found 7 characters"
    with pytest.raises(ValueError) as error:  # the class itself too (pickle, copy)
        type(stored_fingerprint("r1", NOW, HEX))("r1", NOW, HEX + "0")
    assert str(error.value) == (
        "minhash_hex: expected 8 hex digits per value, found 513 characters")


def test_text_that_is_not_hex_fails_when_read() -> None:
    stored = stored_fingerprint("r1", NOW, "zz" * 4)
    assert stored.size == 1
    with pytest.raises(ValueError, match="non-hexadecimal"):
        stored.minhash  # noqa: B018
    assert not decoded(stored)


def test_a_callers_value_outside_32_bits_has_no_hex() -> None:
    with pytest.raises(struct.error):
        BodyFingerprint("r1", NOW, (2**32,)).minhash_hex  # noqa: B018
    assert BodyFingerprint("r1", NOW, ()).minhash_hex == ""
