"""The bulk detector: the same, or nearly the same, body sent to many recipients.

Bodies are compared by MinHash signatures, so the store keeps 64 small integers per recent send
instead of the text. :func:`fingerprint` is the one function both sides use:

* the store records ``BodyFingerprint(recipient_id, sent_at, fingerprint(message.body))`` for
  every accepted send and fills ``Facts.recent_bodies`` with the sender's records of at least
  the last ``window`` (24h by default): the detector asks for both through
  :meth:`BulkDetector.history` (the service never imports this module);
* the detector fingerprints the body being sent and counts the *distinct recipients*, other than
  this message's recipient, whose recorded body within ``window`` has an estimated Jaccard
  similarity of at least ``similarity``. It fires when that count reaches ``max_similar``: with
  the defaults, the 11th recipient of one body within 24h.

How a fingerprint is made (the contract: a change here invalidates stored fingerprints, so
:data:`FINGERPRINT_VERSION` must change with it):

1. the body's words, normalised as for the keywords detector (lower case, look-alike Unicode,
   zero-width characters, leetspeak and spaced letters undone; Markdown punctuation ignored);
2. each word hashed with CRC-32, each run of 3 words (a shingle) combined into a 64-bit hash;
   a body of one or two words is one shingle;
3. for each of 64 fixed hash functions ``h(x) = (a*x + b mod 2**64) >> 32`` (``a`` odd; ``a``
   and ``b`` from BLAKE2b of fixed labels, never Python's per-process ``hash``), the minimum
   over the shingles. A body without words has the empty fingerprint ``()``, similar to nothing.

The fraction of positions where two fingerprints agree estimates the Jaccard similarity of their
shingle sets; with 64 positions the standard error is at most 0.0625.
"""

from __future__ import annotations

import math
import struct
import zlib
from datetime import datetime, timedelta
from functools import lru_cache
from hashlib import blake2b
from typing import TYPE_CHECKING, ClassVar

import numpy as np
from pydantic import Field

from inmail_guard.engine.history import History
from inmail_guard.engine.types import BodyFingerprint, Facts, Message, Signal
from inmail_guard.plugins.base import Detector, DetectorConfig
from inmail_guard.plugins.hookspecs import hookimpl
from inmail_guard.plugins.text import normalise
from inmail_guard.policies.schema import Duration, format_duration

if TYPE_CHECKING:
    from inmail_guard.engine.content import Content

__all__ = ["FINGERPRINT_VERSION", "PERMUTATIONS", "BulkDetector", "fingerprint", "record"]

FINGERPRINT_VERSION = 1
PERMUTATIONS = 64
SHINGLE_WORDS = 3


def _seed(label: str) -> int:
    return int.from_bytes(blake2b(f"inmail-guard/minhash/v1/{label}".encode(),
                                  digest_size=8).digest(), "big")


# One row of PERMUTATIONS multipliers and offsets: shingles x permutations is the layout
# numpy reduces fastest (the minimum over the shingles runs down the columns).
_A = np.array([_seed(f"a{i}") | 1 for i in range(PERMUTATIONS)], dtype=np.uint64)
_B = np.array([_seed(f"b{i}") for i in range(PERMUTATIONS)], dtype=np.uint64)
# Multipliers that combine three word hashes into one shingle hash.
_P0, _P1 = np.uint64(_seed("p0") | 1), np.uint64(_seed("p1") | 1)
_SHIFT = np.uint64(32)
_PACK = struct.Struct(f">{PERMUTATIONS}I").pack

try:  # the same arithmetic in C, where the optional speedups were built (setup.py)
    from inmail_guard._speedups import MinHash
except ImportError:  # pragma: no cover - depends on the install
    MinHash = None  # type: ignore[assignment,misc]
try:  # apart: a build older than the comparison still has MinHash
    from inmail_guard._speedups import agreements
except ImportError:  # pragma: no cover - depends on the install
    agreements = None


def _hex(values: tuple[int, ...]) -> str:
    """A signature as the store keeps it (BodyFingerprint.minhash_hex)."""
    return _PACK(*values).hex()


def _numpy_agreements(mine: str, signatures: list[str]) -> list[int]:
    """Per signature, how many of its values equal ``mine``'s at the same position.

    Signatures are compared as the store keeps them, 8 lowercase hex digits per value
    (big-endian), never decoded: numpy reads each value's 8 ASCII digits as one 64-bit word,
    and two words are equal exactly when the values are (fixed-width lowercase digits, one text
    per value). Joining a heavy sender's 200 texts and comparing them costs ~30 µs; decoding
    them into ints cost the store ~280 µs. All texts are as long as ``mine``.
    """
    stored = np.frombuffer("".join(signatures).encode("ascii"), dtype=np.uint64)
    agree = stored.reshape(len(signatures), -1) == np.frombuffer(mine.encode("ascii"),
                                                                  dtype=np.uint64)
    return agree.sum(axis=1).tolist()  # type: ignore[no-any-return]


#: The C comparison (~9 µs for 200 texts, ~3x faster; the same counts: tests/test_speedups.py),
#: else numpy's.
_agreements = agreements if agreements is not None else _numpy_agreements


def _numpy_minhash(hashes: list[int]) -> tuple[int, ...]:
    """Steps 2-3 of the module docstring over the words' CRC-32s (at least 3 of them)."""
    w = np.array(hashes, dtype=np.uint64)
    shingles = w[:-2] * _P0 + w[1:-1] * _P1 + w[2:]  # wraps modulo 2**64, on purpose
    hashed = shingles[:, None] * _A  # (shingles, PERMUTATIONS)
    hashed += _B
    # The shift is monotonic, so shifting the 64 minima equals taking the minima of the shifts.
    return tuple((hashed.min(axis=0) >> _SHIFT).tolist())


#: The C MinHash (~10x faster, bit-identical: tests/test_speedups.py), else numpy's.
_minhash = (MinHash(_A.tolist(), _B.tolist(), int(_P0), int(_P1)) if MinHash is not None
            else _numpy_minhash)


def fingerprint(text: str) -> tuple[int, ...]:
    """The MinHash signature of a body: :data:`PERMUTATIONS` ints in ``[0, 2**32)``, or ``()``.

    Deterministic across processes, machines and Python versions (see the module docstring).
    The last few results are remembered: a send's body is fingerprinted by this detector and
    again by the store that records it, and the second time costs nothing.
    """
    return _fingerprint(text)


@lru_cache(maxsize=32)
def _fingerprint(text: str) -> tuple[int, ...]:
    words = normalise(text).words
    if not words:
        return ()
    hashes = list(map(zlib.crc32, " ".join(words).encode("utf-8", "surrogatepass").split()))
    if len(hashes) < SHINGLE_WORDS:
        hashes += [0] * (SHINGLE_WORDS - len(hashes))
    return _minhash(hashes)


def similarity(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """Estimated Jaccard similarity of the bodies behind two fingerprints (0 if incomparable)."""
    if not a or len(a) != len(b):
        return 0.0
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


def record(message: Message, sent_at: datetime) -> BodyFingerprint:
    """What the store keeps of an accepted send, for ``Facts.recent_bodies``."""
    return BodyFingerprint(message.recipient_id, sent_at, fingerprint(message.body))


class BulkDetector(Detector):
    name = "bulk"
    expensive = True
    needs_body: ClassVar[bool] = True  # replay skips it for records whose body is only a hash

    class Config(DetectorConfig):
        score: float = Field(6.0, ge=0)
        window: Duration = Field(
            timedelta(hours=24), description="Recent bodies sent within this long count."
        )
        max_similar: int = Field(
            10, ge=1, description="This many other recipients of a similar body score."
        )
        similarity: float = Field(
            0.8, gt=0, le=1, description="Estimated Jaccard similarity that counts as similar."
        )

    config: Config

    def history(self) -> History:
        """Every accepted send keeps its body's :func:`fingerprint`; a send reads back the
        sender's fingerprints of the last ``window``."""
        return History(bodies_window=self.config.window, fingerprint=fingerprint,
                       fingerprint_version=FINGERPRINT_VERSION)

    def check(self, message: Message, facts: Facts, content: Content) -> Signal | None:
        cfg = self.config
        since = facts.now - cfg.window
        to = message.recipient_id
        candidates = [b for b in facts.recent_bodies
                      if b.sent_at > since and b.recipient_id != to and b.size == PERMUTATIONS]
        # Cheap exit, before any hashing: too few other recipients to ever reach max_similar.
        if len({b.recipient_id for b in candidates}) < cfg.max_similar:
            return None
        mine = fingerprint(message.body)
        if not mine:
            return None
        # Compared as text, never decoded: the store's fingerprints arrive as the hex it keeps,
        # a caller's are packed here (a value outside 32 bits raises struct.error, as packing
        # always has).
        agree = _agreements(_hex(mine), [b.minhash_hex for b in candidates])
        needed = math.ceil(cfg.similarity * PERMUTATIONS - 1e-9)
        similar = {b.recipient_id for b, n in zip(candidates, agree, strict=True)
                   if n >= needed}
        if len(similar) < cfg.max_similar:
            return None
        window = format_duration(cfg.window)
        return self.signal(
            cfg.score,
            f"a similar body went to {len(similar)} other recipients in the last {window}"
            f" (limit {cfg.max_similar}, similarity >= {cfg.similarity:g})",
            similar_recipients=len(similar), max_similar=cfg.max_similar,
            similarity=cfg.similarity, window=window, compared=len(candidates),
        )


@hookimpl
def inmail_guard_detectors() -> list[type[Detector]]:
    return [BulkDetector]
