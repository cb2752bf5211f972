"""The numpy sentence encoder (``models/encoder.py``): tokenizer, forward pass, file checks."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from inmail_guard.models.encoder import (
    EncoderError,
    SentenceEncoder,
    Tokenizer,
    builtin_encoder_path,
    convert,
    quantize,
)

REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "models" / "minilm_reference.json"


@pytest.fixture(scope="module")
def shipped() -> SentenceEncoder:
    return SentenceEncoder.load(builtin_encoder_path())


# Word piece ids as Hugging Face's BertTokenizer (bert-base-uncased vocabulary) gives them.
@pytest.mark.parametrize(("text", "ids"), [
    ("Hello, world!", [101, 7592, 1010, 2088, 999, 102]),
    ("unaffable", [101, 14477, 20961, 3468, 102]),  # "##" continuations
    ("Café naïve résumé", [101, 7668, 15743, 13746, 102]),  # accents stripped
    ("東京 tower", [101, 1879, 1755, 3578, 102]),  # CJK characters split apart
    ("a" * 101, [101, 100, 102]),  # a word over 100 characters is [UNK]
    ("http://bit.ly/x?y=1",
     [101, 8299, 1024, 1013, 1013, 2978, 1012, 1048, 2100, 1013, 1060, 1029, 1061, 1027, 1015,
      102]),
])
def test_shipped_tokenizer_matches_bert(shipped: SentenceEncoder, text: str,
                                        ids: list[int]) -> None:
    assert shipped.tokenizer.encode(text) == ids


def test_tokenizer_cuts_long_texts_to_max_tokens(shipped: SentenceEncoder) -> None:
    ids = shipped.tokenizer.encode("word " * 1000)
    assert len(ids) == 256
    assert ids[0] == shipped.tokenizer.cls and ids[-1] == shipped.tokenizer.sep


def test_tokenizer_drops_control_and_zero_width_characters() -> None:
    tok = Tokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "free", "##dom", "!"])
    assert tok.words("FREE\x00dom\ufffd!!") == ["freedom", "!", "!"]
    assert tok.encode("FREE\x00dom!") == [2, 4, 5, 6, 3]
    assert tok.encode("unknown") == [2, 1, 3]


def test_tokenizer_needs_the_special_tokens() -> None:
    with pytest.raises(EncoderError, match=r"the vocabulary has no \[CLS\] token: not a BERT "
                                           r"WordPiece vocabulary"):
        Tokenizer(["[UNK]", "[SEP]"])


def test_shipped_encoder_matches_the_reference_model(shipped: SentenceEncoder) -> None:
    """Against sentence-transformers' float32 all-MiniLM-L6-v2: the int8 weights keep the
    vectors' direction (cosine >= 0.998)."""
    ref = json.loads(REFERENCE.read_text(encoding="utf-8"))
    vectors = shipped.encode(ref["texts"])
    expected = np.asarray(ref["vectors"])
    assert vectors.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-9)
    assert (vectors * expected).sum(axis=1).min() >= 0.998
    assert np.abs(vectors - expected).max() < 0.02


def test_shipped_encoder_places_like_texts_together(shipped: SentenceEncoder) -> None:
    scam, scam2, work = shipped.encode([
        "claim your free prize now, click the link to verify your bank account",
        "you have won a cash reward! confirm your account details today",
        "the quarterly budget review meeting moved to thursday at 3 pm",
    ])
    assert scam @ scam2 > scam @ work + 0.2


def _tiny_bert(seed: int = 0, vocab_size: int = 12, dim: int = 8, layers: int = 2,
               inner: int = 16) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    t: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": rng.normal(size=(vocab_size, dim)),
        "embeddings.position_embeddings.weight": rng.normal(size=(300, dim)),
        "embeddings.token_type_embeddings.weight": rng.normal(size=(2, dim)),
        "embeddings.LayerNorm.weight": np.ones(dim), "embeddings.LayerNorm.bias": np.zeros(dim),
        "embeddings.position_ids": np.arange(300)[None, :],
        "pooler.dense.weight": rng.normal(size=(dim, dim)), "pooler.dense.bias": np.zeros(dim),
    }
    shapes = {"attention.self.query": (dim, dim), "attention.self.key": (dim, dim),
              "attention.self.value": (dim, dim), "attention.output.dense": (dim, dim),
              "intermediate.dense": (inner, dim), "output.dense": (dim, inner)}
    for i in range(layers):
        for name, shape in shapes.items():
            t[f"encoder.layer.{i}.{name}.weight"] = rng.normal(size=shape) * 0.3
            t[f"encoder.layer.{i}.{name}.bias"] = rng.normal(size=shape[0]) * 0.1
        for name in ("attention.output.LayerNorm", "output.LayerNorm"):
            t[f"encoder.layer.{i}.{name}.weight"] = np.ones(dim)
            t[f"encoder.layer.{i}.{name}.bias"] = np.zeros(dim)
    return {k: v.astype(np.float32) if v.dtype.kind == "f" else v for k, v in t.items()}


VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "free", "prize", "meeting", "today", "##s", "!",
         ",", "now"]


def test_convert_is_deterministic_and_loads(tmp_path: Path) -> None:
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    digest = convert(_tiny_bert(), VOCAB, a, num_heads=2)
    assert convert(_tiny_bert(), VOCAB, b, num_heads=2) == digest
    assert a.read_bytes() == b.read_bytes()
    assert hashlib.sha256(a.read_bytes()).hexdigest() == digest
    encoder = SentenceEncoder.load(a, digest)
    assert (encoder.dim, encoder.heads, len(encoder.layers)) == (8, 2, 2)
    vectors = encoder.encode(["free prizes now!", "meeting today", "free prizes now!"])
    np.testing.assert_array_equal(vectors[0], vectors[2])
    assert not np.allclose(vectors[0], vectors[1])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert encoder.encode([]).shape == (0, 8)


def test_quantize_keeps_each_row_within_half_a_step() -> None:
    m = np.random.default_rng(1).normal(size=(5, 40)).astype(np.float32)
    m[2] = 0.0
    q, scale = quantize(m)
    assert q.dtype == np.int8 and scale.shape == (5, 1)
    assert np.all(np.abs(q.astype(np.float32) * scale - m) <= scale / 2 + 1e-7)
    assert np.all(q[2] == 0)


def test_load_refuses_a_file_whose_sha256_differs(tmp_path: Path) -> None:
    path = tmp_path / "e.npz"
    digest = convert(_tiny_bert(), VOCAB, path, num_heads=2)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    found = hashlib.sha256(bytes(data)).hexdigest()
    with pytest.raises(EncoderError) as err:
        SentenceEncoder.load(path, digest)
    assert str(err.value) == (f"{path}: sha256 is {found}, but the model manifest pins "
                              f"{digest}: the file was altered or replaced")


def test_load_refuses_what_is_not_an_encoder_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(EncoderError, match=r"junk.npz: not an encoder file"):
        SentenceEncoder.load(junk)
    with pytest.raises(EncoderError, match=r"missing.npz: cannot read the encoder file"):
        SentenceEncoder.load(tmp_path / "missing.npz")
    partial = tmp_path / "partial.npz"
    buffer = io.BytesIO()
    np.savez(buffer, vocab=np.frombuffer(b"[UNK]\n[CLS]\n[SEP]", dtype=np.uint8),
             num_heads=np.asarray(2), max_tokens=np.asarray(8))
    partial.write_bytes(buffer.getvalue())
    with pytest.raises(EncoderError,
                       match=r"the encoder file has no array "
                             r"'embeddings.word_embeddings.weight.q'"):
        SentenceEncoder.load(partial)


def test_load_refuses_mismatched_shapes(tmp_path: Path) -> None:
    path = tmp_path / "e.npz"
    convert(_tiny_bert(vocab_size=12), VOCAB[:-1], path, num_heads=2)
    with pytest.raises(EncoderError, match=r"the word embeddings are \(12, 8\), not one row "
                                           r"of width 8 per vocabulary entry"):
        SentenceEncoder.load(path)
    convert(_tiny_bert(), VOCAB, path, num_heads=3)
    with pytest.raises(EncoderError, match=r"holds 2 layers of width 8 for 3 heads"):
        SentenceEncoder.load(path)
