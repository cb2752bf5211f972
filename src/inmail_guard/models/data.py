"""Read labelled training / evaluation data: UTF-8 CSV with the header ``id,label,text``.

Errors name the file, the line, the column and the fix, because the person reading them is
usually looking at a spreadsheet export that went wrong.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HEADER = ("id", "label", "text")
LABELS = ("ham", "spam")


class DatasetError(ValueError):
    """A data file that cannot be used; the message says where and how to fix it."""


@dataclass(frozen=True, slots=True)
class Dataset:
    """One CSV file, read and checked. ``labels[i]`` is 1 for spam, 0 for ham."""

    path: Path
    sha256: str
    ids: tuple[str, ...]
    texts: tuple[str, ...]
    labels: tuple[int, ...]
    #: What the manifest calls it, when not a file (``db:<url>`` for ``--from-db``).
    source: str | None = None

    @property
    def name(self) -> str:
        return self.source or self.path.name

    @property
    def ham(self) -> int:
        return len(self.labels) - sum(self.labels)

    @property
    def spam(self) -> int:
        return sum(self.labels)

    def describe(self) -> dict[str, object]:
        """The manifest entry for this file."""
        return {
            "file": self.name,
            "sha256": self.sha256,
            "rows": len(self.labels),
            "ham": self.ham,
            "spam": self.spam,
        }


def read_dataset(path: str | Path) -> Dataset:
    """Read and validate one ``id,label,text`` CSV file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the file: {exc.strerror or exc}") from exc
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise DatasetError(
            f"{path}:{line}: the file is not valid UTF-8 (byte {exc.start}). "
            "Fix: save it as UTF-8 CSV."
        ) from exc
    ids: list[str] = []
    texts: list[str] = []
    labels: list[int] = []
    reader = csv.reader(content.splitlines(keepends=True), strict=True)
    try:
        _check_header(path, next(reader, None))
        start = reader.line_num + 1
        for row in reader:
            _check_row(path, start, row)
            ids.append(row[0])
            labels.append(LABELS.index(row[1].strip().lower()))
            texts.append(row[2])
            start = reader.line_num + 1
    except csv.Error as exc:
        raise DatasetError(
            f"{path}:{reader.line_num}: malformed CSV: {exc}. Fix: quote fields that contain "
            'commas, quotes or newlines ("..."), doubling quotes inside them.'
        ) from exc
    if not labels:
        raise DatasetError(f"{path}: no data rows after the header. Fix: add id,label,text rows.")
    return Dataset(
        path=path,
        sha256=hashlib.sha256(raw).hexdigest(),
        ids=tuple(ids),
        texts=tuple(texts),
        labels=tuple(labels),
    )


def read_datasets(paths: Sequence[str | Path]) -> list[Dataset]:
    return [read_dataset(p) for p in paths]


def _check_header(path: Path, header: list[str] | None) -> None:
    if header is None:
        raise DatasetError(
            f"{path}:1: the file is empty. Fix: start it with the header line 'id,label,text'."
        )
    found = tuple(h.strip().lower() for h in header)
    if found != HEADER:
        raise DatasetError(
            f"{path}:1: missing or wrong header: expected 'id,label,text', found "
            f"{','.join(header)!r}. Fix: make the first line exactly 'id,label,text'."
        )


def _check_row(path: Path, line: int, row: list[str]) -> None:
    where = f"{path}:{line}"
    if len(row) != len(HEADER):
        raise DatasetError(
            f"{where}: expected 3 fields (id,label,text), found {len(row)}. Fix: quote a text "
            'that contains commas ("...") and give every row an id, a label and a text.'
        )
    row_id, label, text = row
    if not row_id.strip():
        raise DatasetError(f"{where}: column 'id' is empty. Fix: give every row an id.")
    if label.strip().lower() not in LABELS:
        raise DatasetError(
            f"{where}: column 'label' (row {row_id!r}): expected 'ham' or 'spam', found "
            f"{label!r}. Fix: label the row ham or spam."
        )
    if not text.strip():
        raise DatasetError(
            f"{where}: column 'text' (row {row_id!r}) is empty. Fix: remove the row or add "
            "the message text."
        )


def from_rows(source: str, rows: Sequence[tuple[str, str, bool]]) -> Dataset:
    """A dataset of ``(id, text, is_spam)`` rows that come from elsewhere than a file (the
    store's verdicts); its sha256 is that of the rows written as ``id,label,text`` CSV."""
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    for row_id, text, spam in rows:
        writer.writerow((row_id, LABELS[spam], text))
    return Dataset(
        path=Path(source), sha256=hashlib.sha256(buffer.getvalue().encode("utf-8")).hexdigest(),
        ids=tuple(r[0] for r in rows), texts=tuple(r[1] for r in rows),
        labels=tuple(int(r[2]) for r in rows), source=source)
