"""Which worker processes of ``serve --workers N`` can serve right now.

Each worker writes a file named after its pid into a directory the supervisor gave it, once its
start-up is done (policy compiled, database opened), and removes it when it shuts down. The
supervisor (:mod:`inmail_guard.cli.supervise`) counts the files whose process is still alive:
a worker killed outright leaves its file behind, but not a live process.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie (killed, not yet reaped by its parent) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            state = fh.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc: os.kill said it exists
    return state not in (b"Z", b"X")


class WorkerRegistry:
    """The ready workers, as files in ``directory``."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def mark_ready(self, pid: int | None = None) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / str(pid or os.getpid())).touch()

    def mark_gone(self, pid: int | None = None) -> None:
        with contextlib.suppress(OSError):
            (self.directory / str(pid or os.getpid())).unlink()

    def serving(self) -> list[int]:
        """The pids of the ready workers that are alive."""
        try:
            names = os.listdir(self.directory)
        except OSError:
            return []
        return [int(n) for n in names if n.isdigit() and _alive(int(n))]
