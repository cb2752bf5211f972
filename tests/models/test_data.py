from __future__ import annotations

from pathlib import Path

import pytest

from inmail_guard.models.data import DatasetError, read_dataset


def write(tmp_path: Path, content: str | bytes, name: str = "d.csv") -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def error(path: Path) -> str:
    with pytest.raises(DatasetError) as info:
        read_dataset(path)
    return str(info.value)


def test_reads_multiline_quoted_rows_and_counts(tmp_path: Path) -> None:
    path = write(tmp_path, 'id,label,text\na,ham,"Subject: hi\nsee you, Bob"\nb,SPAM,win $$$\n')
    ds = read_dataset(path)
    assert ds.ids == ("a", "b")
    assert ds.texts == ("Subject: hi\nsee you, Bob", "win $$$")
    assert ds.labels == (0, 1)
    assert (ds.ham, ds.spam) == (1, 1)
    assert ds.describe()["rows"] == 2
    assert len(ds.describe()["sha256"]) == 64


def test_missing_header(tmp_path: Path) -> None:
    path = write(tmp_path, "a,ham,hello\n")
    assert error(path) == (
        f"{path}:1: missing or wrong header: expected 'id,label,text', found 'a,ham,hello'. "
        "Fix: make the first line exactly 'id,label,text'."
    )


def test_bad_label_names_line_column_and_row(tmp_path: Path) -> None:
    path = write(tmp_path, 'id,label,text\na,ham,"two\nlines"\nb,junk,hello\n')
    assert error(path) == (
        f"{path}:4: column 'label' (row 'b'): expected 'ham' or 'spam', found 'junk'. "
        "Fix: label the row ham or spam."
    )


def test_empty_text(tmp_path: Path) -> None:
    path = write(tmp_path, "id,label,text\na,ham,hello\nb,spam,   \n")
    assert error(path) == (
        f"{path}:3: column 'text' (row 'b') is empty. Fix: remove the row or add the message text."
    )


def test_wrong_field_count(tmp_path: Path) -> None:
    path = write(tmp_path, "id,label,text\na,ham,hello, world\n")
    assert error(path).startswith(f"{path}:2: expected 3 fields (id,label,text), found 4. Fix:")


def test_empty_file_and_header_only(tmp_path: Path) -> None:
    empty = write(tmp_path, "", "empty.csv")
    assert error(empty) == (
        f"{empty}:1: the file is empty. Fix: start it with the header line 'id,label,text'."
    )
    header = write(tmp_path, "id,label,text\n", "header.csv")
    assert error(header) == f"{header}: no data rows after the header. Fix: add id,label,text rows."


def test_not_utf8(tmp_path: Path) -> None:
    path = write(tmp_path, b"id,label,text\na,ham,caf\xe9\n")
    assert error(path) == (
        f"{path}:2: the file is not valid UTF-8 (byte 23). Fix: save it as UTF-8 CSV."
    )


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    assert error(path) == f"{path}: cannot read the file: No such file or directory"
