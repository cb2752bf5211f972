"""Builds the PluginManager and is the engine's one typed façade over pluggy.

Built-in plugins (``DEFAULT_PLUGINS``) register through the same hooks as third-party ones.
Third-party plugins come from the entry-point group ``inmail_guard`` and are loaded explicitly
(never at import time), filtered by two environment variables:

``INMAIL_GUARD_PLUGINS``
    Comma-separated entry-point names to load; unset loads all, empty loads none.
``INMAIL_GUARD_DISABLE_PLUGINS``
    Comma-separated entry-point or built-in module names not to load.
"""

from __future__ import annotations

import importlib
import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

import pluggy

from inmail_guard.engine.types import Advice, Decision, Facts, Message, Signal
from inmail_guard.plugins import hookspecs
from inmail_guard.plugins.base import Detector
from inmail_guard.tracebacks import redacted

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "inmail_guard"
ALLOW_ENV = "INMAIL_GUARD_PLUGINS"
DENY_ENV = "INMAIL_GUARD_DISABLE_PLUGINS"

DEFAULT_PLUGINS: tuple[str, ...] = (
    "inmail_guard.plugins.teststring",
    "inmail_guard.plugins.volume",
    "inmail_guard.plugins.keywords",
    "inmail_guard.plugins.abuse_reports",
    "inmail_guard.plugins.automation",
    "inmail_guard.plugins.bulk",
    "inmail_guard.plugins.classifier",
    "inmail_guard.plugins.advice",
)


class PluginError(RuntimeError):
    """A plugin could not be loaded or broke the contract."""


def _names(env: str) -> set[str] | None:
    raw = os.environ.get(env)
    if raw is None:
        return None
    return {n.strip() for n in raw.split(",") if n.strip()}


def load_external_plugins() -> list[tuple[str, ModuleType | Any]]:
    """Entry points of group ``inmail_guard``, filtered by the allow/deny variables."""
    allow, deny = _names(ALLOW_ENV), _names(DENY_ENV) or set()
    # A package installed since the last import (a policy reload in a running server) is
    # only importable once the path finders forget the directory listings they cached.
    importlib.invalidate_caches()
    loaded: list[tuple[str, Any]] = []
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if (allow is not None and ep.name not in allow) or ep.name in deny:
            continue
        try:
            loaded.append((ep.name, ep.load()))
        except Exception as exc:  # a broken plugin must say which one it is
            raise PluginError(
                f"plugin {ep.name!r} ({ep.value}) failed to load: {exc}; uninstall it or add"
                f" it to {DENY_ENV}"
            ) from exc
    return loaded


def build_plugin_manager(extra: Iterable[Any] = ()) -> pluggy.PluginManager:
    """A new PluginManager: built-ins, installed entry points, then ``extra`` objects."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    deny = _names(DENY_ENV) or set()
    for module_name in DEFAULT_PLUGINS:
        if module_name in deny:
            continue
        pm.register(importlib.import_module(module_name), name=module_name)
    for name, plugin in load_external_plugins():
        if pm.is_registered(plugin):
            continue
        _register(pm, plugin, name)
    for plugin in extra:
        _register(pm, plugin, None)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {pm.get_name(exc.plugin)!r}: {exc}; uninstall it or add it"
                          f" to {DENY_ENV}") from exc
    return pm


def _register(pm: pluggy.PluginManager, plugin: Any, name: str | None) -> None:
    """``pm.register``, its failures (a hook with parameters no spec has, a name taken) as a
    :class:`PluginError` naming the plugin."""
    try:
        pm.register(plugin, name=name)
    except (ValueError, pluggy.PluginValidationError) as exc:
        shown = name or getattr(plugin, "__name__", type(plugin).__name__)
        raise PluginError(f"plugin {shown!r} cannot be registered: {exc}; uninstall it or"
                          f" add it to {DENY_ENV}") from exc


@dataclass(slots=True)
class HookStats:
    calls: int = 0
    errors: int = 0
    seconds: float = 0.0


@dataclass
class Plugins:
    """The one place the engine calls pluggy: it times calls, isolates errors and counts them.

    ``stats`` holds, per hook name, the calls made through this façade, the errors they raised
    and the seconds they took (``inmail_guard_check`` counts one call per detector run).
    """

    pm: pluggy.PluginManager = field(default_factory=build_plugin_manager)
    stats: dict[str, HookStats] = field(default_factory=dict)
    #: hook -> (the implementations pluggy had, the same sorted by plugin name)
    _impl_cache: dict[str, tuple[list[Any], list[Any]]] = field(default_factory=dict,
                                                                 repr=False)

    def _stats(self, hook: str) -> HookStats:
        stats = self.stats.get(hook)
        if stats is None:
            stats = self.stats[hook] = HookStats()
        return stats

    def detector_classes(self) -> dict[str, type[Detector]]:
        found: dict[str, type[Detector]] = {}
        origin: dict[str, str] = {}
        for impl in self.pm.hook.inmail_guard_detectors.get_hookimpls():
            plugin_name = self.pm.get_name(impl.plugin) or repr(impl.plugin)
            for cls in impl.function() or ():
                if not (isinstance(cls, type) and issubclass(cls, Detector)) or not cls.name:
                    raise PluginError(
                        f"plugin {plugin_name!r} returned {cls!r} from inmail_guard_detectors;"
                        " expected a Detector subclass with a name"
                    )
                if cls.name in found and found[cls.name] is not cls:
                    raise PluginError(
                        f"detector {cls.name!r} is registered by both {origin[cls.name]!r} and"
                        f" {plugin_name!r}; disable one of them with {DENY_ENV}"
                    )
                found[cls.name], origin[cls.name] = cls, plugin_name
        return dict(sorted(found.items()))

    def register_detector(self, detector: Detector) -> None:
        """Register a detector instance, replacing an earlier engine's instance of the same
        name (a policy reload builds a new Engine over the same Plugins; the old engine keeps
        calling its own instances until it is dropped)."""
        name = f"detector:{detector.name}"
        old = self.pm.get_plugin(name)
        if old is not None:
            self.pm.unregister(old, name=name)
        self.pm.register(detector, name=name)
        self._impl_cache.clear()
        # Module-level inmail_guard_check implementations would bypass config, shadow mode and
        # on_error: reject them instead of guessing.
        for impl in self.pm.hook.inmail_guard_check.get_hookimpls():
            if not isinstance(impl.plugin, Detector):
                raise PluginError(
                    f"plugin {self.pm.get_name(impl.plugin)!r} implements inmail_guard_check"
                    " directly; return a Detector subclass from inmail_guard_detectors instead"
                )

    def check(
        self, detector: Detector, message: Message, facts: Facts, content: Any
    ) -> tuple[Signal | None, BaseException | None, float]:
        """Run one detector's hook implementation, isolated: (signal, error, seconds)."""
        start = time.perf_counter()
        try:
            signal = detector.inmail_guard_check(message=message, facts=facts, content=content)
            error = None
        except Exception as exc:
            signal, error = None, exc
        seconds = time.perf_counter() - start
        stats = self._stats("inmail_guard_check")
        stats.calls += 1
        stats.seconds += seconds
        if error is not None:
            stats.errors += 1
        return signal, error, seconds

    def advise(self, message: Message, facts: Facts, content: Any) -> tuple[Advice, ...]:
        impls = self._impls("inmail_guard_advise")
        if not impls:
            return ()
        advice: list[Advice] = []
        stats, start = self._stats("inmail_guard_advise"), time.perf_counter()
        for impl in impls:
            stats.calls += 1
            try:
                advice.extend(_call(impl, message=message, facts=facts, content=content) or ())
            except Exception as exc:
                self._error("inmail_guard_advise", impl, exc)
        stats.seconds += time.perf_counter() - start
        return tuple(sorted(advice, key=lambda a: a.code))

    def has_decision_observers(self) -> bool:
        return bool(self.pm.hook.inmail_guard_decision.get_hookimpls())

    def decision(self, message: Message, facts: Facts, decision: Decision) -> None:
        impls = self._impls("inmail_guard_decision")
        if not impls:
            return
        stats, start = self._stats("inmail_guard_decision"), time.perf_counter()
        for impl in impls:
            stats.calls += 1
            try:
                _call(impl, message=message, facts=facts, decision=decision)
            except Exception as exc:
                self._error("inmail_guard_decision", impl, exc)
        stats.seconds += time.perf_counter() - start

    def event(self, event: dict[str, Any]) -> None:
        """Deliver one event to every sink. Raises the first failure so the outbox retries."""
        stats, start = self._stats("inmail_guard_event"), time.perf_counter()
        try:
            for impl in self._impls("inmail_guard_event"):
                stats.calls += 1
                try:
                    _call(impl, event=event)
                except Exception:
                    stats.errors += 1
                    raise
        finally:
            stats.seconds += time.perf_counter() - start

    def _impls(self, hook: str) -> list[Any]:
        """A hook's implementations sorted by plugin name (never pluggy's LIFO order), cached
        until the registered implementations change: not only their number (a plugin removed
        and another added must not leave the removed one called)."""
        current = getattr(self.pm.hook, hook).get_hookimpls()
        cached = self._impl_cache.get(hook)
        if (cached is None or len(cached[0]) != len(current)
                or any(a is not b for a, b in zip(cached[0], current, strict=True))):
            cached = (current, sorted(current, key=lambda i: self.pm.get_name(i.plugin) or ""))
            self._impl_cache[hook] = cached
        return cached[1]

    def _error(self, hook: str, impl: Any, exc: BaseException) -> None:
        self._stats(hook).errors += 1
        # The hook was handed the message: its exception's message may quote the body.
        log.error("%s raised %s in plugin %s", hook, type(exc).__name__,
                  self.pm.get_name(impl.plugin),
                  extra={"exc_type": type(exc).__name__, "traceback": redacted(exc)})


def _call(impl: Any, **kwargs: Any) -> Any:
    return impl.function(**{name: kwargs[name] for name in impl.argnames})
