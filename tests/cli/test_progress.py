"""The shared progress bar (cli/progress.py) and the commands that use it: counts, a readable
rate and the time left on a terminal; nothing when stderr is not one."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console
from rich.progress import Progress

import inmail_guard.cli.progress as progress_module
from inmail_guard.cli.progress import CountColumn, RateColumn, progress_bar

RECORD = {"message": {"sender_id": "a", "recipient_id": "b", "subject": "Hi", "body": "Hello"},
          "facts": {"sender": {"id": "a", "plan": "premium_business"}, "recipient": {"id": "b"},
                    "now": "2026-11-27T09:00:00Z"}}


def _render(total: float | None, completed: float, elapsed: float, **fields) -> tuple[str, str]:
    now = [100.0]
    bar = Progress(CountColumn(), RateColumn(), get_time=lambda: now[0], disable=True)
    task_id = bar.add_task("x", total=total, unit="records", **{"count": 0, **fields})
    bar.update(task_id, completed=completed)
    now[0] += elapsed
    task = bar.tasks[0]
    return str(CountColumn().render(task)), str(RateColumn().render(task))


def test_counts_and_rate_read_as_numbers() -> None:
    # before: "40448/? 4629.245618303159 records/s"
    assert _render(93_000, 40_448, 8.7375) == ("40,448/93,000 records", "4,629 records/s")


def test_a_bar_on_bytes_shows_the_fraction_and_the_records() -> None:
    assert _render(1000, 430, 2.0, by_bytes=True, count=40_448) == (
        " 43% 40,448 records", "20,224 records/s")


def test_nothing_is_drawn_when_stderr_is_not_a_terminal() -> None:
    out = io.StringIO()
    with progress_bar("working", total=10, console=Console(file=out)) as bar:
        bar.advance(5)
    assert out.getvalue() == "" and bar.count == 5


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """What the bar draws, as if stderr were a terminal."""
    screen = io.StringIO()
    real = Console

    def console(**kwargs):
        if kwargs.get("stderr"):
            return real(file=screen, force_terminal=True, width=200)
        return real(**kwargs)

    monkeypatch.setattr(progress_module, "Console", console)
    import inmail_guard.cli.replay as replay_module

    monkeypatch.setattr(replay_module, "Console", console)
    return screen


def _traffic(tmp_path: Path, n: int) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(RECORD) + "\n" for _ in range(n)))
    return path


def test_evaluate_shows_records_fraction_and_eta(terminal: io.StringIO, tmp_path: Path) -> None:
    from inmail_guard.cli.evaluate import evaluate

    result = CliRunner().invoke(evaluate, [str(_traffic(tmp_path, 600))])
    assert result.exit_code == 0, result.output
    screen = terminal.getvalue()
    assert "evaluating" in screen and "100% 600 records" in screen and "eta" in screen
    assert "/?" not in screen


def test_evaluate_from_a_pipe_counts_records(terminal: io.StringIO, tmp_path: Path) -> None:
    from inmail_guard.cli.evaluate import evaluate

    data = _traffic(tmp_path, 3).read_bytes()
    result = CliRunner().invoke(evaluate, ["-", "--progress"], input=data)
    assert result.exit_code == 0, result.output
    assert "3 records" in terminal.getvalue() and "/?" not in terminal.getvalue()


def test_replay_shows_records_and_eta(terminal: io.StringIO, tmp_path: Path) -> None:
    from inmail_guard.cli.replay import replay

    result = CliRunner().invoke(replay, [str(_traffic(tmp_path, 5)), "--policy",
                                         "builtin:default", "--baseline", "builtin:default"])
    assert result.exit_code == 0, result.output
    screen = terminal.getvalue()
    assert "replaying" in screen and "100% 5 records" in screen and "eta" in screen


def _corpus(tmp_path: Path, n: int) -> Path:
    path = tmp_path / "corpus.csv"
    rows = [f"r{i},{'spam' if i % 2 else 'ham'},Hello Bob number {i}, open to a call?"
            for i in range(n)]
    path.write_text("id,label,text\n" + "\n".join(f'{r.split(",", 2)[0]},'
                                                f'{r.split(",", 2)[1]},"{r.split(",", 2)[2]}"'
                                                for r in rows) + "\n")
    return path


def test_policy_qa_shows_the_messages_checked_of_the_total(terminal: io.StringIO,
                                                           tmp_path: Path) -> None:
    from inmail_guard.cli.policy_tools import qa_command

    result = CliRunner().invoke(qa_command, [str(_corpus(tmp_path, 7)), "--format", "json"])
    assert result.exit_code == 0, result.output
    screen = terminal.getvalue()
    assert "checking" in screen and "7/7 messages" in screen and "eta" in screen


def test_model_evaluate_policy_shows_the_sends_of_the_total(terminal: io.StringIO,
                                                            tmp_path: Path) -> None:
    from inmail_guard.cli.model import model

    result = CliRunner().invoke(model, ["evaluate", "--policy", "builtin:default",
                                        str(_corpus(tmp_path, 5)), "--json"])
    assert result.exit_code == 0, result.output
    screen = terminal.getvalue()
    assert "sending" in screen and "5/5 sends" in screen and "eta" in screen
