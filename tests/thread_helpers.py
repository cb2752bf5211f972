"""Helpers shared by test packages (pytest puts this folder on sys.path for them)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any


@contextmanager
def held_by_another_thread(hold: Callable[[], AbstractContextManager[Any]]) -> Iterator[None]:
    """Run ``with hold():`` in another thread for the duration of the block."""
    entered, release = threading.Event(), threading.Event()

    def run() -> None:
        with hold():
            entered.set()
            release.wait(10)

    holder = threading.Thread(target=run)
    holder.start()
    try:
        assert entered.wait(10)
        yield
    finally:
        release.set()
        holder.join(10)
