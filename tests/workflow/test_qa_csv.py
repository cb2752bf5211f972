"""``policy qa`` reads its CSV as the model commands read theirs (models/data.py): UTF-8 with an
optional byte-order mark, strict quoting, every error at file:line with its fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from inmail_guard.workflow.qa import CorpusError, read_corpus, run_qa

from .policies import controlled_policy

CSV_FIX = ('Fix: quote fields that contain commas, quotes or newlines ("..."), doubling quotes'
           " inside them.")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b'id,label,text\n1,ham,"never closed\n2,spam,hi\n',
         f":2: malformed CSV: unexpected end of data. {CSV_FIX}"),
        (b'id,label,text\n1,ham,"quoted" then text\n',
         f":2: malformed CSV: ',' expected after '\"'. {CSV_FIX}"),
        (b'id,label,"text\n', f":1: malformed CSV: unexpected end of data. {CSV_FIX}"),
        ("id,label,text\n1,ham,café\n".encode("latin-1"),
         ":2: the file is not valid UTF-8 (byte 23). Fix: save it as UTF-8 CSV."),
        (b"id,label,text\n1,ham,fine\n2,spam,\"multi\nline \xff\"\n",
         ":4: the file is not valid UTF-8 (byte 44). Fix: save it as UTF-8 CSV."),
        ("id,label,text\n".encode("utf-16"),
         ":1: the file is not valid UTF-8 (byte 0). Fix: save it as UTF-8 CSV."),
        (b"id,label,text\n\n", ": no data rows after the header. Fix: add id,label,text rows."),
    ],
)
def test_bad_csv(tmp_path: Path, content: bytes, problem: str) -> None:
    path = tmp_path / "corpus.csv"
    path.write_bytes(content)
    with pytest.raises(CorpusError) as info:
        run_qa(path, controlled_policy())
    assert str(info.value) == f"{path}{problem}"


def test_a_byte_order_mark_and_crlf_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "corpus.csv"
    path.write_bytes(b'\xef\xbb\xbfid,label,text\r\n1,ham,"two\r\nlines"\r\n2,spam,x\r\n')
    items = list(read_corpus(path))
    assert [(i.id, i.label, i.body, i.line) for i in items] == [
        ("1", "ham", "two\r\nlines", 2), ("2", "spam", "x", 4)]


def test_cli_unterminated_quote_is_exit_2(tmp_path: Path, runner, policy_cli) -> None:
    path = tmp_path / "corpus.csv"
    path.write_bytes(b'id,label,text\n1,ham,hello\n2,ham,"never closed\n3,spam,hi\n')
    result = runner.invoke(policy_cli, ["qa", str(path)])
    assert result.exit_code == 2, result.output
    assert result.output == f"Error: {path}:3: malformed CSV: unexpected end of data. {CSV_FIX}\n"


def test_cli_non_utf8_names_its_line(tmp_path: Path, runner, policy_cli) -> None:
    path = tmp_path / "corpus.csv"
    path.write_bytes(b"id,label,text\n1,ham,caf\xe9\n")
    result = runner.invoke(policy_cli, ["qa", str(path)])
    assert result.exit_code == 2, result.output
    assert result.output == (f"Error: {path}:2: the file is not valid UTF-8 (byte 23)."
                             " Fix: save it as UTF-8 CSV.\n")
