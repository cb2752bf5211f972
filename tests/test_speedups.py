"""The optional C speedups (``inmail_guard/_speedups.c``) must give exactly what the Python
(and numpy) code they stand in for gives.

"Exactly" is bit for bit: the classifier's table adds the same doubles in the same order as the
Python loop, and MinHash wraps modulo 2**64 as numpy does, so the tests below compare with
``==``, not ``approx``. Without a C compiler at install the speedups are not built and these
tests skip, saying so; with ``CI=true`` they fail instead, so CI cannot silently test the
pure-Python paths only.
"""

from __future__ import annotations

import math
import random
import re
import zlib
from pathlib import Path

import pytest

from inmail_guard.models import load_model, scorer
from inmail_guard.models.artifact import load_model_uncached
from inmail_guard.models.features import inmail_text
from inmail_guard.models.scorer import CompiledScorer
from model_pins import pin
from unavailable import skip_or_fail

if not scorer.ACCELERATOR_AVAILABLE:
    skip_or_fail("the C speedups inmail_guard._speedups are not built (no C compiler at install?);"
                 " reinstall with gcc or cc on PATH: pip install -e '.[test]'", module=True)

from inmail_guard._speedups import MinHash, Table, agreements

#: One text of each kind the features treat apart; the word salads below do the heavy lifting.
KINDS = {
    "empty": "",
    "one word and !": "thanks!",
    "ordinary outreach": "Would a 20-minute chat on Thursday about the platform team suit you?",
    "spam, URL, currency": "WIN A FREE CRUISE!!! Reply now: www.prize-claim.example.com, £1.50/min",
    "SMS, long numbers": "URGENT: your mobile 07700900123 won 2000 cash, text CLAIM to 88088",
    "e-mail channel": "Subject: re : gas nominations\nplease see the attached 12345 schedule",
    "InMail channel": inmail_text("Hiring a platform lead", "Hi Mei, loved your talk. Coffee?"),
    "repeats (tf > 1)": "cash cash cash prize prize win win win !!! $$$",
    "unknown tokens only": "qqzx unknownword zzyx",
    "one word 300 times": "again " * 300,
}
TEXTS = list(KINDS.values())


@pytest.fixture(scope="module")
def shipped():
    return load_model("builtin:spam-v1")


def _salad(vocabulary: list[str], rng: random.Random, words: int) -> str:
    """Words the model knows, many repeated: most keys hit, many with tf > 1."""
    return " ".join(rng.choice(vocabulary) for _ in range(words))


def _texts(pipeline) -> list[str]:
    rng = random.Random(20261127)
    known = sorted({t.split(" ")[0].split(":")[-1] for t in pipeline[0].vocabulary_})
    common = known[:40]  # a small pool: repeated words and bigrams
    texts = list(TEXTS)
    for i in range(150):
        body = _salad(common if i % 2 else known, rng, rng.choice([1, 5, 20, 100, 700]))
        texts += [body, inmail_text("Quick question", body), f"Subject: re : hi\n{body}"]
    return texts


@pytest.fixture(scope="module")
def routed(tmp_path_factory: pytest.TempPathFactory):
    """A model with an e-mail route (``--per-channel``), trained on the tiny fixtures: the
    shipped one has none since it is trained in InMail form."""
    from click.testing import CliRunner

    from inmail_guard.cli.model import model
    from inmail_guard.models import load_model

    data = Path(__file__).parent / "fixtures" / "models"
    out = tmp_path_factory.mktemp("routed")
    result = CliRunner().invoke(model, [
        "train", str(data / "tiny.csv"), str(data / "tiny_email.csv"), "--out", str(out),
        "--name", "routed", "--per-channel", "--no-email-partner", "--seed", "7"])
    assert result.exit_code == 0, result.output
    return load_model(str(out / "routed.joblib"), pin(out / "routed.joblib"))


def test_loaded_models_score_with_the_accelerator(shipped, routed) -> None:
    assert shipped.scorer.accelerated
    routed.spam_probability("Subject: hi\nlunch ?")
    assert routed._scorers["e:"].accelerated


def test_word_pipeline_scores_bit_for_bit_as_the_python_loop(shipped) -> None:
    fast = CompiledScorer.from_pipeline(shipped.pipeline, accelerated=True)
    slow = CompiledScorer.from_pipeline(shipped.pipeline, accelerated=False)
    assert fast.accelerated and not slow.accelerated
    for text in _texts(shipped.pipeline):
        assert fast.decision(text) == slow.decision(text), text[:80]
        assert fast.probability(text) == slow.probability(text), text[:80]
    for prefix in ("e:", "s:", "n:", "m:"):  # each channel's table, whatever the text says
        assert fast.decision("free cash now !!!", prefix) == slow.decision(
            "free cash now !!!", prefix)


def test_email_route_scores_bit_for_bit_as_the_python_loop(shipped, routed) -> None:
    route = routed.routes["e:"]
    fast = CompiledScorer.from_pipeline(route, channels=("e:",), accelerated=True)
    slow = CompiledScorer.from_pipeline(route, channels=("e:",), accelerated=False)
    for text in _texts(shipped.pipeline)[::3]:
        mail = text if text.startswith("Subject:") else f"Subject: x\n{text}"
        assert fast.decision(mail, "e:") == slow.decision(mail, "e:"), mail[:80]


def test_the_pure_python_path_is_still_the_pipeline(shipped) -> None:
    """What the C path is compared with is itself right (test_scorer checks the default)."""
    slow = CompiledScorer.from_pipeline(shipped.pipeline, accelerated=False)
    for text in TEXTS:
        want = float(shipped.pipeline.predict_proba([text])[0, 1])
        assert slow.probability(text) == pytest.approx(want, abs=1e-9)


def test_tables_hold_the_compiled_values(shipped) -> None:
    slow = CompiledScorer.from_pipeline(shipped.pipeline, channels=("n:",), accelerated=False)
    fast = CompiledScorer.from_pipeline(shipped.pipeline, channels=("n:",), accelerated=True)
    table, native = slow._tables["n:"], fast._tables["n:"]
    assert isinstance(native, Table) and isinstance(table, dict)
    assert len(native) == len(table) > 50_000
    for key in [*list(table)[:500], ("free", "entry"), "xdoc"]:
        assert native.get(key) == table.get(key)
    assert native.get("no-such-feature") is None
    assert native.get(("no", "such-bigram")) is None


def test_decision_counts_repeats_with_sublinear_tf() -> None:
    table = Table({"a": (1.0, 2.0), ("a", "b"): (3.0, 4.0)})
    # "a" twice: tf = 1 + ln 2; ("a", "b") once; "q" unknown. Same formula as the Python loop.
    tf = 1.0 + math.log(2)
    sq = 3.0 + tf * tf * 1.0
    num = 4.0 + tf * 2.0
    assert table.decision(["a", "q", ("a", "b"), "a"], 0.5, True) == num / math.sqrt(sq) + 0.5
    assert table.decision(["a", "a"], 0.5, False) == (2 * 2.0) / math.sqrt(4 * 1.0) + 0.5
    assert table.decision([], -1.25, True) == -1.25  # nothing known: the intercept
    assert table.decision(["q", "r"], -1.25, True) == -1.25


def test_keys_equal_but_not_identical_match() -> None:
    table = Table({"hello": (1.0, 1.0), ("big", "deal"): (2.0, 3.0)})
    built = "".join(["hel", "lo"])  # another object, same text
    assert built is not "hello"  # noqa: F632
    assert table.get(built) == (1.0, 1.0)
    assert table.get(("".join(["b", "ig"]), "deal")) == (2.0, 3.0)


class _Colliding(str):
    """Every instance hashes alike: the table must probe past other keys, as a dict does."""

    def __hash__(self) -> int:
        return 7


def test_colliding_hashes_probe_to_the_right_key() -> None:
    keys = [_Colliding(w) for w in ("alpha", "beta", "gamma")]
    table = Table({k: (float(i), float(10 * i)) for i, k in enumerate(keys)})
    assert [table.get(_Colliding(w)) for w in ("alpha", "beta", "gamma")] == [
        (0.0, 0.0), (1.0, 10.0), (2.0, 20.0)]
    assert table.get(_Colliding("delta")) is None
    want = 20.0 / math.sqrt(2.0)
    assert table.decision([_Colliding("gamma"), _Colliding("delta")], 0.0, True) == want


def test_many_keys_use_the_heap_path() -> None:
    """Over 512 keys the per-call scratch is allocated, not on the stack: same result."""
    words = [f"w{i}" for i in range(2000)]
    keys: list = [*words, *words[:10], "unknown"]
    table = {w: (1.0 + i % 7, 0.5 - i % 3) for i, w in enumerate(words)}

    def scorer_of(accelerated: bool) -> CompiledScorer:
        return CompiledScorer({"n:": dict(table)}, 0.25, 1.0, 0.0, True, len(words),
                              base=lambda text: keys, accelerated=accelerated)

    fast, slow = scorer_of(True), scorer_of(False)
    assert isinstance(fast._tables["n:"], Table)
    assert fast.decision("ignored", "n:") == slow.decision("ignored", "n:")
    assert fast.decision("ignored", "n:") != 0.25


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"a": 1.0}, "Table values must be (idf_sq, wx) tuples of two floats, found 1.0"),
        ({"a": (1.0,)}, "Table values must be (idf_sq, wx) tuples of two floats, found (1.0,)"),
        ({"a": ("x", 1.0)}, "must be real number, not str"),
    ],
)
def test_bad_tables_are_refused(mapping, message) -> None:
    with pytest.raises(TypeError, match=re.escape(message)):
        Table(mapping)


def test_bad_decision_arguments_are_refused() -> None:
    table = Table({"a": (1.0, 1.0)})
    with pytest.raises(TypeError, match="keys must be a list"):
        table.decision(("a",), 0.0, True)
    with pytest.raises(TypeError, match="takes exactly 3 arguments"):
        table.decision(["a"], 0.0)
    with pytest.raises(TypeError, match="unhashable type: 'list'"):
        table.decision([["a"]], 0.0, True)
    with pytest.raises(TypeError, match="unhashable type: 'list'"):  # as Counter(keys) does
        Table({}).decision([["a"]], 0.0, True)
    with pytest.raises(TypeError, match="Table"):
        Table([("a", (1.0, 1.0))])


def test_a_table_is_initialised_once() -> None:
    """Another __init__ (say from a key's __eq__ during decision) would free the arrays that
    decision is reading; one that failed leaves an empty table, which may be initialised."""
    table = Table({"a": (1.0, 2.0)})
    with pytest.raises(TypeError, match="Table is immutable"):
        table.__init__({"b": (3.0, 4.0)})
    assert len(table) == 1 and table.get("a") == (1.0, 2.0) and table.get("b") is None
    blank = Table.__new__(Table)
    assert (len(blank), blank.get("a"), blank.decision(["a"], 0.5, True)) == (0, None, 0.5)
    with pytest.raises(TypeError):
        blank.__init__({"a": (1.0, 2.0), "b": (1.0, "x")})
    assert len(blank) == 0
    blank.__init__({"a": (1.0, 2.0)})
    assert blank.get("a") == (1.0, 2.0)


def test_a_dict_changing_while_it_is_copied_is_refused() -> None:
    """A key's __hash__ that grows or shrinks the dict must not write past the arrays."""
    mapping: dict = {}
    armed = [False]

    class Growing(str):
        def __hash__(self) -> int:
            if armed[0] and len(mapping) < 7:  # within the arrays' 8 slots: no endless probe
                mapping[f"new{len(mapping)}"] = (1.0, 1.0)
            return str.__hash__(self)

    class Shrinking(str):
        def __hash__(self) -> int:
            if armed[0]:
                mapping.clear()
            return str.__hash__(self)

    for kind in (Growing, Shrinking):
        armed[0] = False
        mapping.clear()
        mapping.update({kind(w): (1.0, 1.0) for w in "abcd"})
        armed[0] = True
        with pytest.raises(RuntimeError, match="the dict changed size while it was copied"):
            Table(mapping)


def test_keys_whose_hash_changes_the_list_score_as_the_python_loop() -> None:
    """decision() must not read the keys list past its end when a key's __hash__ empties it;
    Counter then stops where the list stops, and so does the C loop."""
    keys: list = []

    class Clearing(str):
        def __hash__(self) -> int:
            keys.clear()
            return str.__hash__(self)

    def base(text: str) -> list:
        keys[:] = [Clearing("a"), *["b"] * 600]
        return keys

    table = {"a": (1.0, 2.0), "b": (4.0, 3.0)}
    fast, slow = (CompiledScorer({"n:": dict(table)}, 0.25, 1.0, 0.0, True, 2, base=base,
                                 accelerated=accelerated) for accelerated in (True, False))
    assert fast.decision("x", "n:") == slow.decision("x", "n:") == 2.0 + 0.25


def test_accelerated_true_without_the_accelerator_is_refused(shipped, monkeypatch) -> None:
    monkeypatch.setattr(scorer, "ACCELERATOR_AVAILABLE", False)
    with pytest.raises(RuntimeError, match=r"the C accelerator inmail_guard\._speedups is not"):
        CompiledScorer.from_pipeline(shipped.pipeline, channels=(), accelerated=True)
    assert not CompiledScorer.from_pipeline(shipped.pipeline, channels=()).accelerated


@pytest.mark.slow
def test_a_model_loaded_without_the_accelerator_scores_the_same(monkeypatch) -> None:
    texts = [*TEXTS, "Subject: hi\nfree meds now"]
    fast = load_model_uncached("builtin:spam-v1")
    want = [fast.spam_probability(t) for t in texts]
    monkeypatch.setattr(scorer, "ACCELERATOR_AVAILABLE", False)
    slow = load_model_uncached("builtin:spam-v1")
    assert not slow.scorer.accelerated
    assert [slow.spam_probability(t) for t in texts] == want


# --- MinHash: the bulk detector's fingerprint -------------------------------------------------


def test_bulk_uses_the_c_minhash() -> None:
    from inmail_guard.plugins import bulk

    assert isinstance(bulk._minhash, MinHash)


@pytest.mark.parametrize("words", [3, 4, 17, 40, 500, 5000])
def test_minhash_equals_numpy_bit_for_bit(words: int) -> None:
    from inmail_guard.plugins import bulk

    rng = random.Random(words)
    for _ in range(50):
        hashes = [rng.getrandbits(32) for _ in range(words)]
        assert bulk._minhash(list(hashes)) == bulk._numpy_minhash(list(hashes))
    extremes = [0, 2**32 - 1, 1, 2**31] * 3  # wrap-around at both ends
    assert bulk._minhash(extremes) == bulk._numpy_minhash(extremes)


def test_fingerprints_of_bodies_are_unchanged() -> None:
    """The stored format's contract (FINGERPRINT_VERSION 1): the C path must not change it."""
    from inmail_guard.plugins import bulk

    body = "Hi Anna, would you be open to a short call next week about a senior engineer role?"
    fast = bulk._fingerprint.__wrapped__(body)
    words = bulk.normalise(body).words
    hashes = list(map(zlib.crc32, " ".join(words).encode().split()))
    assert fast == bulk._numpy_minhash(hashes)
    assert len(fast) == bulk.PERMUTATIONS and all(0 <= v < 2**32 for v in fast)
    assert bulk._fingerprint.__wrapped__("Hi") == bulk._numpy_minhash(
        [zlib.crc32(b"hi"), 0, 0])


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (([1], [1, 2], 1, 1), ValueError, "MinHash(): a and b must be as long, found 1 and 2"),
        (([], [], 1, 1), ValueError, "MinHash(): a must hold 1 to 256 ints, found 0"),
        (((1,), [1], 1, 1), TypeError, "MinHash(): a must be a list of ints"),
        (([-1], [1], 1, 1), OverflowError, "can't convert negative int to unsigned"),
    ],
)
def test_bad_minhash_parameters_are_refused(args, error, message) -> None:
    with pytest.raises(error, match=re.escape(message)):
        MinHash(*args)


def test_bad_minhash_input_is_refused() -> None:
    minhash = MinHash([3, 5], [7, 11], 13, 17)
    assert minhash([1, 2, 3]) == ((3 * (1 * 13 + 2 * 17 + 3) + 7) >> 32,
                                  (5 * (1 * 13 + 2 * 17 + 3) + 11) >> 32)
    with pytest.raises(ValueError, match="MinHash needs at least 3 word hashes, found 2"):
        minhash([1, 2])
    with pytest.raises(TypeError, match="must be list"):
        minhash((1, 2, 3))
    with pytest.raises(TypeError):
        minhash([1, "2", 3])
    with pytest.raises(ValueError, match="was not initialised"):
        MinHash.__new__(MinHash)([1, 2, 3])


def test_a_failed_minhash_init_leaves_it_as_it_was() -> None:
    minhash = MinHash([3, 5], [7, 11], 13, 17)
    want = minhash([2**40, 2**41, 2**42])
    with pytest.raises(OverflowError):
        minhash.__init__([2**40, 2**41], [-1, 0], 13, 17)  # a is good, b is not
    assert minhash([2**40, 2**41, 2**42]) == want


# --- agreements: the bulk detector's comparison of stored fingerprints ----------------------


def test_bulk_uses_the_c_comparison() -> None:
    from inmail_guard.plugins import bulk

    assert bulk._agreements is agreements


@pytest.mark.parametrize("signatures", [1, 2, 200, 1000])
def test_agreements_count_as_numpy_does(signatures: int) -> None:
    from inmail_guard.plugins import bulk

    rng = random.Random(signatures)
    mine = tuple(rng.getrandbits(32) for _ in range(bulk.PERMUTATIONS))
    others = [tuple(v if rng.random() < rng.random() else rng.getrandbits(32) for v in mine)
              for _ in range(signatures)]
    others[0] = mine
    texts = [bulk._hex(o) for o in others]
    want = [sum(a == b for a, b in zip(o, mine, strict=True)) for o in others]
    assert agreements(bulk._hex(mine), texts) == bulk._numpy_agreements(bulk._hex(mine),
                                                                        texts) == want
    assert want[0] == bulk.PERMUTATIONS
    assert agreements("", ["", ""]) == [0, 0]
    assert agreements("0000000a", []) == []


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        (("0000000a", ["0000000a0"]), ValueError,
         "agreements(): signature 0 is not an ASCII str of 8 characters"),
        (("0000000a", ["0000000a", "000000\u00e9a"]), ValueError,
         "agreements(): signature 1 is not an ASCII str of 8 characters"),
        (("0000000a", [b"0000000a"]), ValueError,
         "agreements(): signature 0 is not an ASCII str of 8 characters"),
        (("0000000", []), ValueError, "agreements(): mine must be 8 characters per value,"
                                      " found 7"),
        ((b"0000000a", []), TypeError, "agreements(): mine must be an ASCII str"),
        (("0000000a", ("0000000a",)), TypeError,
         "agreements(): signatures must be a list of str"),
        (("0000000a",), TypeError, "agreements() takes 2 arguments, 1 given"),
    ],
)
def test_bad_agreements_input_is_refused(args, error, message) -> None:
    with pytest.raises(error) as raised:
        agreements(*args)
    assert str(raised.value) == message
