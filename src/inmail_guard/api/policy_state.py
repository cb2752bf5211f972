"""The active policy and its compiled Engine, swapped whole on reload.

A reload loads and validates the policy file, compiles a new :class:`~inmail_guard.Engine`
(detectors instantiated, models loaded) and only then assigns one reference
(``self.active = new``): a request reads ``holder.active`` once and uses that engine for its
whole evaluation, so it sees either the old policy or the new one, never a mix. A policy that
fails anywhere before the assignment leaves the old one active and the error's issues are
returned to the caller.

The watcher applies only a file that holds still: after it sees a change it waits a settle
interval and reloads only if the file's size, mtime and content are the same as before it
waited, and swaps only if they are still the same once the new engine is built. A file being
written in place (truncated, then filled) is otherwise read half-way, and a truncated policy
can be a valid one. Deploy by writing a temporary file and renaming it over the policy.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from inmail_guard.engine.evaluator import Engine, PolicyCompileError
from inmail_guard.fieldpath import format_path
from inmail_guard.plugins.manager import PluginError
from inmail_guard.policies.loader import PolicyError, default_policy, load_policy
from inmail_guard.policies.schema import Policy

log = logging.getLogger("inmail_guard.api.policy")

BUILTIN = "builtin:default"


@dataclass(frozen=True, slots=True)
class ActivePolicy:
    policy: Policy
    engine: Engine
    source: str
    loaded_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.policy.name,
            "version": self.policy.version,
            "source": self.source,
            "loaded_at": self.loaded_at.isoformat().replace("+00:00", "Z"),
            "detectors": [slot.detector.name for slot in self.engine.detectors],
            "shadow": sorted(k for k, v in self.policy.rules_mode.items() if v == "shadow"),
        }


class PolicyReloadError(Exception):
    """The new policy is broken; ``issues`` say where, as ``inmail-guard policy validate
    --format json`` does (:func:`reload_issues`)."""

    def __init__(self, message: str, issues: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.message = message
        self.issues = issues


def reload_issues(exc: BaseException, source: str) -> list[dict[str, Any]]:
    """Why ``source`` cannot be loaded: the issues ``inmail-guard policy validate`` finds in it
    (the same checks, keys and types: ``file``, ``line`` and ``column`` as integers, ``path``,
    ``expected``, ``found``, ``message``), so a reload's 422 and the command agree.

    A refusal only the server makes (the service's own checks), or a file that changed since
    it was read, gets the same keys from ``exc``, with ``line`` and ``column`` null where no
    position is known."""
    from inmail_guard.policies.check import check_policy, locate_problems

    try:
        _, found = check_policy(source)
        if not found and isinstance(exc, PolicyCompileError):  # the service's own checks
            found = locate_problems(source, exc.problems)
    except Exception:  # a bug in the checks must not hide the failure: report it as it was
        log.warning("checking %s for its issues failed", source, exc_info=True)
        found = []
    if found:
        return [item.to_dict() for item in found]
    if isinstance(exc, PolicyError):
        return [item.to_dict() for item in exc.issues]
    if isinstance(exc, PolicyCompileError):
        return [_unlocated(source, path, text) for path, text in exc.problems]
    if isinstance(exc, ValidationError):
        return [_unlocated(source, format_path(e["loc"]), e["msg"])
                for e in exc.errors(include_input=False)]
    return [_unlocated(source, "", str(exc))]


def _unlocated(source: str, path: str, message: str) -> dict[str, Any]:
    return {"file": source, "line": None, "column": None, "path": path, "expected": "",
            "found": "", "message": message}


class PolicyHolder:
    """Holds the active policy; ``reload`` swaps it atomically or raises PolicyReloadError."""

    def __init__(
        self,
        source: str | None,
        make_engine: Callable[[Policy], Engine],
        on_swap: Callable[[ActivePolicy], None] | None = None,
    ) -> None:
        self.source = source or BUILTIN
        self._make_engine = make_engine
        self._on_swap: list[Callable[[ActivePolicy], None]] = [on_swap] if on_swap else []
        self._lock = threading.Lock()
        self.marker: str | None = None
        self.active: ActivePolicy = self._build(self.source)
        self._stat = self._file_stat()

    def subscribe(self, callback: Callable[[ActivePolicy], None]) -> None:
        """Call ``callback(active)`` now and after every successful swap."""
        self._on_swap.append(callback)
        callback(self.active)

    def _load(self, source: str) -> Policy:
        if source == BUILTIN:
            return default_policy()
        return load_policy(source)

    def _build(self, source: str) -> ActivePolicy:
        try:
            policy = self._load(source)
            engine = self._make_engine(policy)
        except (PolicyError, PolicyCompileError, ValidationError) as exc:
            raise PolicyReloadError(f"policy {source} is invalid: {exc}",
                                    reload_issues(exc, source)) from exc
        except PluginError as exc:  # e.g. a plugin installed since the server started
            raise PolicyReloadError(f"policy {source} cannot run: {exc}",
                                    reload_issues(exc, source)) from exc
        except (OSError, ValueError) as exc:
            raise PolicyReloadError(f"policy {source} could not be loaded: {exc}",
                                    reload_issues(exc, source)) from exc
        return ActivePolicy(policy, engine, source, datetime.now(UTC))

    def reload(self, source: str | None = None) -> ActivePolicy:
        """Load ``source`` (default: the current one), compile it, then swap. Thread-safe."""
        with self._lock:
            return self._swap(self._build(source or self.source))

    def _swap(self, new: ActivePolicy) -> ActivePolicy:
        self.source = new.source
        self.active = new  # the swap: one reference assignment
        self._stat = self._file_stat()
        for callback in self._on_swap:
            try:
                callback(new)
            except Exception:
                log.exception("policy swap callback failed")
        return new

    def _reload_if_unchanged(self, seen: tuple[Any, ...]) -> ActivePolicy | None:
        """:meth:`reload`, unless the files changed from ``seen`` while the new policy was
        loaded and compiled (None: nothing swapped; the next round looks again)."""
        with self._lock:
            new = self._build(self.source)
            if self._snapshot() != seen:
                return None
            return self._swap(new)

    # --- file watching --------------------------------------------------------------------

    def _file_stat(self) -> tuple[Any, ...] | None:
        paths = [] if self.source == BUILTIN else [self.source]
        if self.marker:
            paths.append(self.marker)
        out: list[Any] = []
        for path in paths:
            try:
                st = os.stat(path)
                out.append((st.st_mtime_ns, st.st_size))
            except OSError:
                out.append(None)
        return tuple(out) if paths else None

    def touch_marker(self) -> None:
        """Tell the other workers (watching the marker) to reload."""
        if not self.marker:
            return
        with open(self.marker, "a", encoding="utf-8") as fh:
            fh.write(f"{self.active.policy.version}\n")
        self._stat = self._file_stat()

    def changed_on_disk(self) -> bool:
        stat = self._file_stat()
        return stat is not None and stat != self._stat

    def _snapshot(self) -> tuple[Any, ...]:
        """The watched files' (mtime, size), and the policy file's sha256: the content too,
        since a file system may keep the mtime of a file rewritten within its granularity."""
        digest = None
        if self.source != BUILTIN:
            try:
                with open(self.source, "rb") as fh:
                    digest = hashlib.file_digest(fh, "sha256").hexdigest()
            except OSError:
                pass
        return (self._file_stat(), digest)

    def watch(self, interval: float, on_result: Callable[[ActivePolicy | None,
                                                           PolicyReloadError | None], None],
              settle: float | None = None) -> threading.Event:
        """Poll the policy file every ``interval`` s in a daemon thread; set the event to stop.

        A change is applied once the file held still for ``settle`` s (default ``interval``):
        same size, mtime and content before and after the wait, and after the new engine is
        built. A file still being written is looked at again on the next round."""
        stop = threading.Event()
        settle = interval if settle is None else settle

        def loop() -> None:
            while not stop.wait(interval):
                if not self.changed_on_disk():
                    continue
                seen = self._snapshot()
                if stop.wait(settle) or self._snapshot() != seen:
                    continue  # still being written: look again next round
                try:
                    active = self._reload_if_unchanged(seen)
                except PolicyReloadError as exc:
                    self._stat = seen[0]  # don't retry a broken file until it changes again
                    on_result(None, exc)
                    continue
                if active is not None:
                    on_result(active, None)

        threading.Thread(target=loop, name="policy-watch", daemon=True).start()
        return stop


