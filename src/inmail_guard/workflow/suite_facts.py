"""Shorthands that keep suite cases short where facts would be long lists.

* ``recent_sends: {count: 25, within: 1h}``: 25 send times spread irregularly over the last
  hour (irregular, so the automation detector does not read them as machine-regular);
  ``{count: 6, every: 30s}``: machine-regular, the last one ``every`` ago.
* ``recent_bodies`` items may give ``body: TEXT`` instead of ``minhash``: the bulk detector's
  fingerprint of that text. ``recent_bodies: {count: 10, body: TEXT, within: 1h}``: that body
  sent to 10 other recipients over the last hour.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from inmail_guard.policies.schema import parse_duration

# Offsets within each time slot, in quarters of a slot: deterministic and irregular.
_JITTER = (0, 1, -1, 2, -2, 1, 0, -1)


def _time(value: Any, where: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{where}: expected an ISO 8601 time, found {value!r}") from None
    else:
        raise ValueError(f"{where}: expected an ISO 8601 time, found {value!r}")
    if moment.tzinfo is None:
        raise ValueError(f"{where}: expected a time zone (e.g. Z), found {value!r}")
    return moment


def spread(now: datetime, count: int, within: timedelta | None, every: timedelta | None
           ) -> list[datetime]:
    if every is not None:
        return [now - every * (i + 1) for i in range(count)]
    assert within is not None
    slot = within / count
    return [now - slot * (i + 0.5 + _JITTER[i % len(_JITTER)] / 8) for i in range(count)]


def _generator(spec: dict[str, Any], where: str, extra: set[str]) -> tuple[int, Any, Any]:
    unknown = set(spec) - {"count", "within", "every"} - extra
    count = spec.get("count")
    if unknown or not isinstance(count, int) or count < 1 or (
            ("within" in spec) == ("every" in spec)):
        keys = "count: N and within: DURATION or every: DURATION"
        if extra:
            keys += ", " + ", ".join(f"{k}: ..." for k in sorted(extra))
        raise ValueError(f"{where}: expected a list or {{{keys}}}, found {spec!r}")
    within = parse_duration(spec["within"]) if "within" in spec else None
    every = parse_duration(spec["every"]) if "every" in spec else None
    return count, within, every


def expand_facts(facts: dict[str, Any]) -> None:
    """Expand the shorthands in place; ``facts["now"]`` must be set."""
    sends = facts.get("recent_sends")
    bodies = facts.get("recent_bodies")
    if not isinstance(sends, dict) and not isinstance(bodies, dict | list):
        return
    now = _time(facts["now"], "facts.now")
    if isinstance(sends, dict):
        count, within, every = _generator(sends, "facts.recent_sends", set())
        facts["recent_sends"] = spread(now, count, within, every)
    if isinstance(bodies, dict):
        count, within, every = _generator(bodies, "facts.recent_bodies", {"body"})
        if not isinstance(bodies.get("body"), str):
            raise ValueError("facts.recent_bodies.body: expected the text of the body")
        times = spread(now, count, within, every)
        facts["recent_bodies"] = [
            {"recipient_id": f"earlier-recipient-{i + 1}", "sent_at": t, "body": bodies["body"]}
            for i, t in enumerate(times)]
    if isinstance(facts.get("recent_bodies"), list):
        facts["recent_bodies"] = [_fingerprinted(b, i) for i, b in
                                  enumerate(facts["recent_bodies"])]


def _fingerprinted(item: Any, index: int) -> Any:
    if not isinstance(item, dict) or "body" not in item:
        return item
    if "minhash" in item:
        raise ValueError(f"facts.recent_bodies[{index}]: give body or minhash, not both")
    from inmail_guard.plugins.bulk import fingerprint

    out = {k: v for k, v in item.items() if k != "body"}
    out["minhash"] = list(fingerprint(str(item["body"])))
    return out
