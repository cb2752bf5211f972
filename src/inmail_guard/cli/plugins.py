"""``inmail-guard plugins``: the installed plugins, their versions, hooks and detectors (as
``llm plugins`` and ``datasette plugins`` list theirs), as JSON.

It loads plugins exactly as an Engine or the server would (entry-point group ``inmail_guard``,
``INMAIL_GUARD_PLUGINS`` / ``INMAIL_GUARD_DISABLE_PLUGINS``), so it also shows what is loaded,
and a plugin that cannot be loaded fails here the way it would fail the server (exit 1).
"""

from __future__ import annotations

import json
from importlib.metadata import entry_points, version
from typing import Any

import click


def installed_plugins(include_builtins: bool = False) -> list[dict[str, Any]]:
    """One dict per registered plugin: name, package and version (built-ins: inmail-guard's),
    the hooks it implements and the detectors it registers, sorted by name."""
    from inmail_guard.plugins.manager import (
        DEFAULT_PLUGINS,
        ENTRY_POINT_GROUP,
        PluginError,
        build_plugin_manager,
    )

    pm = build_plugin_manager()
    dists = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    out = []
    for name, plugin in pm.list_name_plugin():
        builtin = name in DEFAULT_PLUGINS
        if builtin and not include_builtins:
            continue
        entry: dict[str, Any] = {"name": name}
        ep = dists.get(name)
        if builtin:
            entry.update(package="inmail-guard", version=version("inmail-guard"))
        elif ep is not None and ep.dist is not None:
            entry.update(package=ep.dist.name, version=ep.dist.version, module=ep.value)
        hooks = sorted(caller.name for caller in pm.get_hookcallers(plugin) or ())
        entry["hooks"] = hooks
        detectors: list[str] = []
        for impl in pm.hook.inmail_guard_detectors.get_hookimpls():
            if impl.plugin is plugin:
                try:
                    detectors += [cls.name for cls in impl.function() or ()]
                except Exception as exc:  # the engine would fail on it the same way
                    raise PluginError(f"plugin {name!r}: inmail_guard_detectors raised"
                                      f" {type(exc).__name__}: {exc}") from exc
        entry["detectors"] = sorted(detectors)
        out.append(entry)
    return sorted(out, key=lambda e: e["name"])


@click.command(name="plugins")
@click.option("--all", "include_builtins", is_flag=True,
              help="Include the built-in plugins (detectors, advice, event sinks).")
def plugins(include_builtins: bool) -> None:
    """List the installed plugins: versions, hooks and detectors (JSON)."""
    from inmail_guard.plugins.manager import PluginError

    try:
        found = installed_plugins(include_builtins)
    except PluginError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(json.dumps(found, indent=2))
