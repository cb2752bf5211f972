"""The plugin façade (plugins/manager.py): it calls exactly the plugins registered now, counts
and times every call, and turns a plugin that cannot be registered into a PluginError naming it."""

from __future__ import annotations

import pytest

from inmail_guard.engine.evaluator import Engine
from inmail_guard.plugins.hookspecs import hookimpl
from inmail_guard.plugins.manager import PluginError, Plugins, build_plugin_manager
from inmail_guard.policies.loader import default_policy


class Observer:
    def __init__(self, name: str, seen: list[str]) -> None:
        self.name, self.seen = name, seen

    @hookimpl
    def inmail_guard_decision(self, decision) -> None:
        self.seen.append(self.name)


def test_a_removed_plugin_is_never_called_again_even_if_another_takes_its_place(
        make_message, make_facts) -> None:
    seen: list[str] = []
    first, second = Observer("first", seen), Observer("second", seen)
    plugins = Plugins(build_plugin_manager(extra=[first]))
    engine = Engine(default_policy(), plugins)
    engine.evaluate(make_message(), make_facts(connection_degree=2))
    plugins.pm.unregister(first)
    plugins.pm.register(second)  # as many decision observers as before
    engine.evaluate(make_message(), make_facts(connection_degree=2))
    assert seen == ["first", "second"]


def test_calls_errors_and_time_are_counted_per_hook(make_message, make_facts) -> None:
    class Broken:
        @hookimpl
        def inmail_guard_decision(self) -> None:
            raise RuntimeError("observer down")

    plugins = Plugins(build_plugin_manager(extra=[Broken()]))
    engine = Engine(default_policy(), plugins)
    detectors = len(engine.detectors)
    for _ in range(3):
        engine.evaluate(make_message(), make_facts(connection_degree=2))
    check, decision = plugins.stats["inmail_guard_check"], plugins.stats["inmail_guard_decision"]
    assert check.calls == 3 * detectors and check.errors == 0 and check.seconds > 0
    assert (decision.calls, decision.errors) == (3, 3) and decision.seconds > 0


def test_a_hook_with_unknown_arguments_is_a_plugin_error_naming_it() -> None:
    class Misspelt:
        @hookimpl
        def inmail_guard_decision(self, decsion) -> None:  # sic
            pass

    with pytest.raises(PluginError) as caught:
        build_plugin_manager(extra=[Misspelt()])
    assert str(caught.value).startswith("plugin 'Misspelt' cannot be registered: Plugin")
    assert "decsion" in str(caught.value)
    assert str(caught.value).endswith("; uninstall it or add it to INMAIL_GUARD_DISABLE_PLUGINS")
