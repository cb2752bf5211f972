"""Meaningful differences between two policies, computed from the validated models.

Each :class:`Change` has a one-line ``summary`` meant for a pull-request description
("premium_business credits 10 → 15", "keywords: 3 phrases added", "automation now shadow",
"blocklist banned_senders: 2 ids added") and optional ``details`` (the items added/removed).
Detector settings are compared after each detector's ``Config`` filled in its defaults, so
spelling out a default is not a change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from inmail_guard.policies.schema import Policy
from inmail_guard.workflow.detectors import detector_settings
from inmail_guard.workflow.explain import summarize

ARROW = "→"
#: How many added/removed items a change's details list before "... and N more".
MAX_DETAILS = 10
# Lists whose order carries meaning: shown whole, old → new, rather than as added/removed sets.
_ORDERED = {"spam.restriction.durations"}
_NOUNS = {"content.formatting": "formats"}


@dataclass(frozen=True, slots=True)
class Change:
    path: str
    summary: str
    details: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "summary": self.summary, "details": list(self.details)}


def compact_duration(value: timedelta) -> str:
    """``7d``, ``24h``, ``90m``: days only from two days up, so 24h stays 24h."""
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0 and seconds >= (2 * size if unit == "d" else size):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def show(value: Any) -> str:
    if isinstance(value, timedelta):
        return compact_duration(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return summarize(value)


def _items(label: str, values: Iterable[Any]) -> list[str]:
    values = sorted(show(v) for v in values)
    out = [f"{label}: {v}" for v in values[:MAX_DETAILS]]
    if len(values) > MAX_DETAILS:
        out.append(f"... and {len(values) - MAX_DETAILS} more {label}")
    return out


def _set_change(path: str, head: str, noun: str, old: Iterable[Any], new: Iterable[Any]
                ) -> list[Change]:
    old_set, new_set = set(map(show, old)), set(map(show, new))
    added, removed = new_set - old_set, old_set - new_set
    if not added and not removed:
        return []
    parts = []
    if added:
        parts.append(f"{len(added)} {noun} added")
    if removed:
        parts.append(f"{len(removed)} {noun} removed")
    return [Change(path, f"{head}: {', '.join(parts)}",
                   tuple(_items("added", added) + _items("removed", removed)))]


def _walk(path: str, old: Any, new: Any) -> list[Change]:
    """Generic comparison of two JSON-like values: one change per differing leaf."""
    if old == new:
        return []
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        out: list[Change] = []
        for key in list(old) + [k for k in new if k not in old]:
            sub = f"{path}.{key}" if path else str(key)
            if key not in new:
                out.append(Change(sub, f"{sub} removed (was {show(old[key])})"))
            elif key not in old:
                out.append(Change(sub, f"{sub} set to {show(new[key])}"))
            else:
                out += _walk(sub, old[key], new[key])
        return out
    if (isinstance(old, list) and isinstance(new, list) and path not in _ORDERED
            and all(not isinstance(v, dict | list) for v in old + new)):
        noun = _NOUNS.get(path, path.rsplit(".", 1)[-1])
        return _set_change(path, path, noun, old, new)
    return [Change(path, f"{path} {show(old)} {ARROW} {show(new)}")]


def plain(value: Any) -> Any:
    """A model as dicts and lists of its field values (durations stay timedeltas: the schema's
    serializer would print 7d as 1w)."""
    if isinstance(value, BaseModel):
        return {name: plain(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def diff_policies(old: Policy, new: Policy) -> list[Change]:
    a, b = plain(old), plain(new)
    changes: list[Change] = []
    for key in ("name", "description", "extends"):
        changes += _walk(key, a[key], b[key])
    changes += _plans(old, new)
    for key in ("credits", "eligibility"):
        changes += _walk(key, a[key], b[key])
    changes += _blocklists(old, new)
    changes += _walk("content", a["content"], b["content"])
    changes += _walk("lifecycle", a["lifecycle"], b["lifecycle"])
    spam_a = {k: v for k, v in a["spam"].items() if k != "detectors"}
    spam_b = {k: v for k, v in b["spam"].items() if k != "detectors"}
    changes += _walk("spam", spam_a, spam_b)
    changes += _detectors(old, new)
    changes += _modes(old, new)
    return changes


def _plans(old: Policy, new: Policy) -> list[Change]:
    out = []
    for name, plan in old.plans.items():
        if name not in new.plans:
            out.append(Change(f"plans.{name}", f"plan {name} removed"
                                               f" (had {plan.monthly_credits} credits)"))
        elif new.plans[name].monthly_credits != plan.monthly_credits:
            out.append(Change(f"plans.{name}.monthly_credits",
                              f"{name} credits {plan.monthly_credits} {ARROW}"
                              f" {new.plans[name].monthly_credits}"))
    for name, plan in new.plans.items():
        if name not in old.plans:
            out.append(Change(f"plans.{name}",
                              f"plan {name} added ({plan.monthly_credits} credits)"))
    return out


def _blocklists(old: Policy, new: Policy) -> list[Change]:
    out: list[Change] = []
    before = {b.name: b for b in old.blocklists}
    after = {b.name: b for b in new.blocklists}
    for name, item in before.items():
        if name not in after:
            out.append(Change(f"blocklists.{name}", f"blocklist {name} removed"
                              f" ({len(old.blocklist_ids(name))} ids, {item.code})"))
            continue
        out += _set_change(f"blocklists.{name}.ids", f"blocklist {name}", "ids",
                           old.blocklist_ids(name), new.blocklist_ids(name))
        fields_a = {k: v for k, v in plain(item).items() if k not in ("ids", "name")}
        fields_b = {k: v for k, v in plain(after[name]).items() if k not in ("ids", "name")}
        for change in _walk("", fields_a, fields_b):
            out.append(Change(f"blocklists.{name}.{change.path}",
                              f"blocklist {name}: {change.summary}", change.details))
    for name, item in after.items():
        if name not in before:
            what = f"{len(new.blocklist_ids(name))} ids"
            if item.match:
                what += ", matching " + ", ".join(f"{k}={show(v)}" for k, v in item.match.items())
            out.append(Change(f"blocklists.{name}", f"blocklist {name} added"
                              f" ({item.applies_to}, {what}, {item.code})"))
    return out


def _detectors(old: Policy, new: Policy) -> list[Change]:
    out: list[Change] = []
    before, after = old.spam.detectors, new.spam.detectors
    for name in list(before) + [n for n in after if n not in before]:
        path = f"spam.detectors.{name}"
        if name not in after:
            out.append(Change(path, f"detector {name} removed"))
            continue
        if name not in before:
            settings, _ = detector_settings(name, after[name] or {})
            shown = ", ".join(f"{k}: {summarize(v, k)}" for k, v in settings.items())
            out.append(Change(path, f"detector {name} added", (shown,) if shown else ()))
            continue
        a, _ = detector_settings(name, before[name] or {})
        b, _ = detector_settings(name, after[name] or {})
        if a.get("enabled", True) != b.get("enabled", True):
            out.append(Change(f"{path}.enabled",
                              f"{name} now {'enabled' if b.get('enabled', True) else 'disabled'}"))
        a.pop("enabled", None)
        b.pop("enabled", None)
        for key in list(a) + [k for k in b if k not in a]:
            va, vb = a.get(key), b.get(key)
            if va == vb:
                continue
            if isinstance(va, list | type(None)) and isinstance(vb, list | type(None)) and (
                    va is not None or vb is not None):
                out += _set_change(f"{path}.{key}", name, key, va or [], vb or [])
            else:
                out.append(Change(f"{path}.{key}", f"{name} {key} {show(va)} {ARROW} {show(vb)}"))
    return out


def _modes(old: Policy, new: Policy) -> list[Change]:
    out = []
    names = list(old.rules_mode) + [n for n in new.rules_mode if n not in old.rules_mode]
    for name in names:
        a = old.rules_mode.get(name, "enforce")
        b = new.rules_mode.get(name, "enforce")
        if a != b:
            out.append(Change(f"rules_mode.{name}",
                              f"{name} now {'shadow' if b == 'shadow' else 'enforced'}"))
    return out
