"""A sentence encoder in numpy: all-MiniLM-L6-v2, for the e-mail route's partner.

``all-MiniLM-L6-v2`` (sentence-transformers, Apache-2.0; 6 BERT layers, 384 dimensions, 12
heads) maps a text to a unit vector whose direction says what the text is about. The e-mail
route adds a logistic regression on these vectors to its linear word and character model
(``partner.py``): the two are wrong on different messages (see ``MODEL_CARD.md``, rounds 6-7).

Nothing here needs PyTorch. The forward pass is BERT's, written out in numpy: embeddings and
LayerNorm, six layers of 12-head self-attention and a GELU feed-forward block, mean pooling over
the tokens, l2 normalisation. The tokenizer is BERT's uncased WordPiece. Texts are cut at
``max_tokens`` word pieces (256, as the model was trained). Against sentence-transformers with
the original float32 weights the vectors agree to 1e-6.

The weights ship as ``minilm-l6-v2.npz`` (about 23 MB): every matrix quantised to int8 with one
float32 scale per row (cosine similarity to the float32 model's vectors >= 0.998 on e-mail),
vectors and LayerNorm parameters in float32, and the WordPiece vocabulary. A ``.npz`` holds
arrays only (it is read with ``allow_pickle=False``); its sha256 is still pinned in the model
manifest and checked before the arrays are read. :func:`convert` builds it from the upstream
``model.safetensors`` and ``vocab.txt``::

    python -m inmail_guard.models.encoder model.safetensors vocab.txt \\
        --out src/inmail_guard/models/minilm-l6-v2.npz

Encoding one e-mail costs about 34 ms at 100 words and 67 ms for the average Enron e-mail (181
word pieces) on one core of this machine class. Only e-mail pays it: InMails and short
messages never reach the partner.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import struct
import unicodedata
import zipfile
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path

import numpy as np
from scipy.special import erf

ENCODER_FILE = "minilm-l6-v2.npz"
#: The longest input, in word pieces with [CLS] and [SEP] (the model's max_seq_length).
MAX_TOKENS = 256
_LN_EPS = 1e-12
_MAX_WORD_CHARS = 100


class EncoderError(ValueError):
    """An encoder file that is missing, altered or not of the expected shape."""


def builtin_encoder_path() -> Path:
    """Where the shipped encoder file is (inside this package)."""
    return Path(str(resources.files("inmail_guard.models").joinpath(ENCODER_FILE)))


def _is_punctuation(ch: str) -> bool:
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp: int) -> bool:
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF
            or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


class Tokenizer:
    """BERT's uncased tokenizer: clean, lower-case, strip accents, split off punctuation and
    CJK characters, then greedy longest-match WordPiece (``##`` continues a word)."""

    def __init__(self, vocab: Sequence[str]) -> None:
        self.vocab = {piece: i for i, piece in enumerate(vocab)}
        try:
            self.unk, self.cls, self.sep = (self.vocab[t] for t in ("[UNK]", "[CLS]", "[SEP]"))
        except KeyError as exc:
            raise EncoderError(f"the vocabulary has no {exc.args[0]} token: not a BERT WordPiece "
                               "vocabulary") from None

    def words(self, text: str) -> list[str]:
        cleaned = []
        for ch in text:
            cp = ord(ch)
            category = unicodedata.category(ch)
            if cp == 0 or cp == 0xFFFD or (category.startswith("C") and ch not in "\t\n\r"):
                continue
            if ch in " \t\n\r" or category == "Zs":
                cleaned.append(" ")
            elif _is_cjk(cp):
                cleaned.append(f" {ch} ")
            else:
                cleaned.append(ch)
        words: list[str] = []
        for word in "".join(cleaned).split():
            word = unicodedata.normalize("NFD", word.lower())
            current: list[str] = []
            for ch in word:
                if unicodedata.category(ch) == "Mn":
                    continue
                if _is_punctuation(ch):
                    if current:
                        words.append("".join(current))
                        current = []
                    words.append(ch)
                else:
                    current.append(ch)
            if current:
                words.append("".join(current))
        return words

    def pieces(self, word: str) -> list[int]:
        if len(word) > _MAX_WORD_CHARS:
            return [self.unk]
        ids = []
        start = 0
        while start < len(word):
            end = len(word)
            found = None
            while start < end:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                found = self.vocab.get(piece)
                if found is not None:
                    break
                end -= 1
            if found is None:
                return [self.unk]
            ids.append(found)
            start = end
        return ids

    def encode(self, text: str, max_tokens: int = MAX_TOKENS) -> list[int]:
        """``[CLS]`` + the text's word pieces, cut to fit + ``[SEP]``."""
        room = max_tokens - 2
        ids: list[int] = []
        for word in self.words(text):
            ids.extend(self.pieces(word))
            if len(ids) >= room:
                break
        return [self.cls, *ids[:room], self.sep]


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + _LN_EPS) * weight + bias


_LAYER_MATRICES = ("attention.self.query", "attention.self.key", "attention.self.value",
                   "attention.output.dense", "intermediate.dense", "output.dense")
_LAYER_NORMS = ("attention.output.LayerNorm", "output.LayerNorm")


class SentenceEncoder:
    """Text -> unit vector (mean-pooled last layer of a BERT encoder, l2-normalised)."""

    def __init__(self, arrays: Mapping[str, np.ndarray]) -> None:
        #: sha256 of the file it was loaded from (:meth:`load`); None when built from arrays.
        self.sha256: str | None = None
        try:
            self.tokenizer = Tokenizer(bytes(arrays["vocab"]).decode("utf-8").split("\n"))
            self.heads = int(arrays["num_heads"])
            self.max_tokens = int(arrays["max_tokens"])
            self._word_q = np.asarray(arrays["embeddings.word_embeddings.weight.q"])
            self._word_scale = np.asarray(arrays["embeddings.word_embeddings.weight.scale"])
            self._position = _matrix(arrays, "embeddings.position_embeddings.weight")
            self._token_type = _matrix(arrays, "embeddings.token_type_embeddings.weight")[0]
            self._norm = _vectors(arrays, "embeddings.LayerNorm")
            self.layers = []
            i = 0
            while f"encoder.layer.{i}.output.dense.weight.q" in arrays:
                prefix = f"encoder.layer.{i}."
                self.layers.append((
                    # Transposed once here: x @ W.T at every call would copy W.
                    [(np.ascontiguousarray(_matrix(arrays, prefix + m + ".weight").T),
                      np.asarray(arrays[prefix + m + ".bias"], dtype=np.float32))
                     for m in _LAYER_MATRICES],
                    [_vectors(arrays, prefix + n) for n in _LAYER_NORMS],
                ))
                i += 1
        except KeyError as exc:
            raise EncoderError(f"the encoder file has no array {exc.args[0]!r}") from None
        self.dim = int(self._position.shape[1])
        if not self.layers or self.dim % self.heads:
            raise EncoderError(f"the encoder file holds {len(self.layers)} layers of width "
                               f"{self.dim} for {self.heads} heads")
        if self._word_q.shape != (len(self.tokenizer.vocab), self.dim):
            raise EncoderError(f"the word embeddings are {self._word_q.shape}, not one row of "
                               f"width {self.dim} per vocabulary entry")
        if self._position.shape[0] < self.max_tokens:
            raise EncoderError(f"{self._position.shape[0]} positions for max_tokens "
                               f"{self.max_tokens}")

    @classmethod
    def load(cls, path: str | Path, sha256: str | None = None) -> SentenceEncoder:
        """Read an encoder file; with ``sha256``, refuse it unless its bytes hash to that. The
        encoder's ``sha256`` is the digest of the bytes it was read from."""
        path = Path(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise EncoderError(f"{path}: cannot read the encoder file: "
                               f"{exc.strerror or exc}") from None
        found = hashlib.sha256(data).hexdigest()
        if sha256 is not None and found != sha256:
            raise EncoderError(f"{path}: sha256 is {found}, but the model manifest pins "
                               f"{sha256}: the file was altered or replaced")
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                arrays = {name: npz[name] for name in npz.files}
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise EncoderError(f"{path}: not an encoder file ({exc})") from None
        encoder = cls(arrays)
        encoder.sha256 = found
        return encoder

    def encode_ids(self, ids: Sequence[int]) -> np.ndarray:
        n = len(ids)
        word = self._word_q[ids].astype(np.float32) * self._word_scale[ids]
        x = _layer_norm(word + self._position[:n] + self._token_type, *self._norm)
        heads = self.heads
        width = self.dim // heads
        scale = 1.0 / math.sqrt(width)  # a Python float keeps the arrays float32
        for (query, key, value, attn_out, inner, out), (norm1, norm2) in self.layers:
            q = (x @ query[0] + query[1]).reshape(n, heads, width).transpose(1, 0, 2)
            k = (x @ key[0] + key[1]).reshape(n, heads, width).transpose(1, 2, 0)
            v = (x @ value[0] + value[1]).reshape(n, heads, width).transpose(1, 0, 2)
            scores = (q @ k) * scale
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(1, 0, 2).reshape(n, self.dim)
            x = _layer_norm(context @ attn_out[0] + attn_out[1] + x, *norm1)
            h = x @ inner[0] + inner[1]
            h = 0.5 * h * (1.0 + erf(h * (1.0 / math.sqrt(2.0))))  # exact GELU, as BERT's
            x = _layer_norm(h @ out[0] + out[1] + x, *norm2)
        pooled = x.mean(0, dtype=np.float64)
        return pooled / max(float(np.linalg.norm(pooled)), 1e-12)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One unit vector (float64) per text, shape ``(len(texts), dim)``."""
        out = np.zeros((len(texts), self.dim))
        for i, text in enumerate(texts):
            out[i] = self.encode_ids(self.tokenizer.encode(text, self.max_tokens))
        return out


def _matrix(arrays: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    """A quantised matrix back in float32: int8 values times their row's scale."""
    return np.asarray(arrays[name + ".q"], dtype=np.float32) * arrays[name + ".scale"]


def _vectors(arrays: Mapping[str, np.ndarray], name: str) -> tuple[np.ndarray, np.ndarray]:
    return (np.asarray(arrays[name + ".weight"], dtype=np.float32),
            np.asarray(arrays[name + ".bias"], dtype=np.float32))


def read_safetensors(path: str | Path) -> dict[str, np.ndarray]:
    """The tensors of a ``.safetensors`` file (8-byte header length, JSON header, raw data)."""
    raw = Path(path).read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + length])
    data = memoryview(raw)[8 + length:]
    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
    out = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        start, end = spec["data_offsets"]
        out[name] = np.frombuffer(data[start:end], dtype=dtypes[spec["dtype"]]).reshape(
            spec["shape"])
    return out


def quantize(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 per row: ``matrix ~= q * scale`` with ``scale`` of shape (rows, 1)."""
    scale = np.abs(matrix).max(axis=1, keepdims=True).astype(np.float32) / 127.0
    scale[scale == 0] = 1.0
    q = np.clip(np.round(matrix / scale), -127, 127).astype(np.int8)
    return q, scale


def convert(tensors: Mapping[str, np.ndarray], vocab: Sequence[str], out: str | Path,
            num_heads: int = 12, max_tokens: int = MAX_TOKENS) -> str:
    """Write a BERT encoder's tensors as an encoder file; returns its sha256. Deterministic:
    the same tensors give the same bytes."""
    arrays: dict[str, np.ndarray] = {
        "vocab": np.frombuffer("\n".join(vocab).encode("utf-8"), dtype=np.uint8),
        "num_heads": np.asarray(num_heads), "max_tokens": np.asarray(max_tokens),
    }
    for name, tensor in sorted(tensors.items()):
        if not name.startswith(("embeddings.", "encoder.")) or name.endswith("position_ids"):
            continue  # the pooler is not used by mean pooling
        tensor = np.asarray(tensor, dtype=np.float32)
        if name.endswith("position_embeddings.weight"):
            tensor = tensor[:max_tokens]
        if tensor.ndim == 2:
            arrays[name + ".q"], arrays[name + ".scale"] = quantize(tensor)
        else:
            arrays[name] = tensor
    buffer = io.BytesIO()
    # ZIP entries carry no timestamps from numpy's writer beyond a fixed one: same bytes per run.
    np.savez_compressed(buffer, **arrays)
    data = buffer.getvalue()
    Path(out).write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def main(argv: Sequence[str] | None = None) -> None:  # pragma: no cover - a one-off tool
    parser = argparse.ArgumentParser(
        prog="python -m inmail_guard.models.encoder",
        description="Convert a BERT sentence encoder (model.safetensors + vocab.txt, e.g. "
                    "sentence-transformers/all-MiniLM-L6-v2) into an inmail-guard encoder file.")
    parser.add_argument("safetensors", type=Path)
    parser.add_argument("vocab", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--heads", type=int, default=12)
    args = parser.parse_args(argv)
    vocab = args.vocab.read_text(encoding="utf-8").splitlines()
    digest = convert(read_safetensors(args.safetensors), vocab, args.out, args.heads)
    print(f"{args.out}: sha256 {digest}")


if __name__ == "__main__":  # pragma: no cover
    main()
