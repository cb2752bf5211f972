"""The Redis Streams event sink: ``XADD`` of each event to one stream, for consumer groups.

Each entry has the fields ``event_id``, ``type``, ``content_type`` and ``event`` (the event as
JSON, or as a CloudEvents 1.0 structured event). An ``XADD`` that fails (Redis down, a
timeout) raises, so the outbox retries the event with backoff: nothing is lost while Redis is
away. An ``XADD`` whose answer was lost is retried too, so the stream may hold an event twice:
consumers de-duplicate on ``event_id``, as with every sink. docs/events.md#redis-streams
describes the consumer-group semantics.
"""

from __future__ import annotations

import math
from typing import Any

import redis

from inmail_guard.plugins import event_formats
from inmail_guard.plugins.hookspecs import hookimpl

URL_ENV = "INMAIL_GUARD_REDIS_URL"
STREAM_ENV = "INMAIL_GUARD_REDIS_STREAM"
MAXLEN_ENV = "INMAIL_GUARD_REDIS_MAXLEN"
FORMAT_ENV = "INMAIL_GUARD_REDIS_FORMAT"
DEFAULT_STREAM = "inmail-guard:events"
#: Structured formats only: a stream entry has no headers for CloudEvents' binary mode.
FORMATS = ("json", "cloudevents")


class RedisStreamSink:
    """Appends each event to the stream ``stream`` at ``url`` (or through ``client``).

    ``maxlen`` trims the stream to about that many entries (``XADD MAXLEN ~``); Redis trims
    entries whether or not every consumer group has read them, so leave it None (the default:
    never trim) unless losing unread entries is acceptable, and trim after acknowledgement
    instead (``XTRIM ... MINID``).
    """

    def __init__(self, url: str | None = None, stream: str = DEFAULT_STREAM, *,
                 format: str = "json", maxlen: int | None = None,
                 source: str = event_formats.DEFAULT_SOURCE, timeout: float = 5.0,
                 client: Any = None) -> None:
        if format not in FORMATS:
            raise ValueError(f"{FORMAT_ENV}: expected one of {', '.join(FORMATS)}; found"
                             f" {format!r}")
        if not stream:
            raise ValueError(f"{STREAM_ENV}: must not be empty")
        if maxlen is not None and maxlen < 1:
            raise ValueError(f"{MAXLEN_ENV}: expected a whole number above 0; found {maxlen}")
        if not (math.isfinite(timeout) and timeout > 0):
            raise ValueError(f"a Redis timeout must be a number of seconds above 0, found"
                             f" {timeout!r}")
        if client is None:
            if not url:
                raise ValueError(f"a Redis stream sink needs a URL ({URL_ENV}) or a client")
            try:
                client = redis.Redis.from_url(url, socket_timeout=timeout,
                                              socket_connect_timeout=timeout)
            except ValueError as exc:
                raise ValueError(f"{URL_ENV}: {exc}") from None
        self.client = client
        self.stream = stream
        self.format = format
        self.maxlen = maxlen
        self.source = source

    def entry(self, event: dict[str, Any]) -> dict[str, str | bytes]:
        """The stream entry's fields for ``event``."""
        headers, body = event_formats.render(event, self.format, self.source)
        return {"event_id": str(event.get("event_id", "")), "type": str(event.get("type", "")),
                "content_type": headers["Content-Type"], "event": body}

    @hookimpl
    def inmail_guard_event(self, event: dict[str, Any]) -> None:
        self.client.xadd(self.stream, self.entry(event), maxlen=self.maxlen,
                         approximate=True)


def from_env(env: dict[str, str]) -> RedisStreamSink | None:
    """The sink ``INMAIL_GUARD_REDIS_*`` ask for, None without a URL; a ValueError names a
    bad variable."""
    url = (env.get(URL_ENV) or "").strip()
    if not url:
        return None
    maxlen_text = (env.get(MAXLEN_ENV) or "").strip()
    maxlen = None
    if maxlen_text:
        try:
            maxlen = int(maxlen_text)
        except ValueError:
            raise ValueError(f"{MAXLEN_ENV}: expected a whole number above 0; found"
                             f" {maxlen_text!r}") from None
    source = (env.get("INMAIL_GUARD_CLOUDEVENTS_SOURCE") or "").strip()
    return RedisStreamSink(url, (env.get(STREAM_ENV) or DEFAULT_STREAM).strip(),
                           format=(env.get(FORMAT_ENV) or "json").strip(), maxlen=maxlen,
                           source=source or event_formats.DEFAULT_SOURCE)
