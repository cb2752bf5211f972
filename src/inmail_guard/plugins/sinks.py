"""Built-in event sinks: a JSON Lines file, a signed HTTP webhook and a Redis stream.

They are ordinary plugins: each sink is an object with an ``inmail_guard_event`` hook
implementation, registered with the PluginManager like third-party sinks. This module's own
module-level implementation delivers to the sinks configured by environment variables, read
when the first event is delivered (never at import time):

``INMAIL_GUARD_EVENTS_JSONL``
    Append every event, one JSON object per line, to this file.
``INMAIL_GUARD_WEBHOOK_URL`` and ``INMAIL_GUARD_WEBHOOK_SECRET``
    POST every event as JSON to this URL, signed with HMAC-SHA256 of the raw body under the
    secret: header ``X-InMail-Guard-Signature: sha256=<hex>`` (see docs/events.md for how to
    verify it). A non-2xx answer or a network error raises, so the outbox retries the event with
    exponential backoff; nothing is lost while the receiver is down.
``INMAIL_GUARD_WEBHOOK_TIMEOUT``
    Seconds a delivery may take in all, connecting and reading the answer included (default
    5): a receiver that answers a byte at a time is cut off then, and the event retried.
``INMAIL_GUARD_WEBHOOK_FORMAT``
    ``json`` (default: the event's own JSON), ``cloudevents`` (CloudEvents 1.0, structured
    JSON) or ``cloudevents-binary`` (CloudEvents HTTP binary mode).
``INMAIL_GUARD_WEBHOOK_SIGNATURE``
    ``hmac`` (default: the header above) or ``standard`` (Standard Webhooks: ``webhook-id``,
    ``webhook-timestamp``, ``webhook-signature``; the secret is then ``whsec_<base64>``).
``INMAIL_GUARD_CLOUDEVENTS_SOURCE``
    The CloudEvents ``source`` attribute (default ``inmail-guard``).
``INMAIL_GUARD_REDIS_URL`` (and ``_STREAM``, ``_MAXLEN``, ``_FORMAT``)
    ``XADD`` every event to a Redis stream (:mod:`inmail_guard.plugins.redis_sink`).

Programmatic use: ``plugins.pm.register(WebhookSink(url, secret))``.
"""

from __future__ import annotations

import contextlib
import hmac
import math
import os
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from inmail_guard.plugins import event_formats
from inmail_guard.plugins.event_formats import encode
from inmail_guard.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from inmail_guard.plugins.manager import Plugins

JSONL_ENV = "INMAIL_GUARD_EVENTS_JSONL"
WEBHOOK_URL_ENV = "INMAIL_GUARD_WEBHOOK_URL"
WEBHOOK_SECRET_ENV = "INMAIL_GUARD_WEBHOOK_SECRET"
WEBHOOK_TIMEOUT_ENV = "INMAIL_GUARD_WEBHOOK_TIMEOUT"
WEBHOOK_FORMAT_ENV = "INMAIL_GUARD_WEBHOOK_FORMAT"
WEBHOOK_SIGNATURE_ENV = "INMAIL_GUARD_WEBHOOK_SIGNATURE"
CLOUDEVENTS_SOURCE_ENV = "INMAIL_GUARD_CLOUDEVENTS_SOURCE"
SIGNATURE_HEADER = "X-InMail-Guard-Signature"
EVENT_ID_HEADER = "X-InMail-Guard-Event-Id"
EVENT_TYPE_HEADER = "X-InMail-Guard-Event-Type"
PLUGIN_NAME = "inmail_guard.plugins.sinks"


def sign(body: bytes, secret: str) -> str:
    """The signature header value for ``body``: ``sha256=<hex HMAC-SHA256>``."""
    return event_formats.hmac_signature(body, secret)


def verify(body: bytes, header: str, secret: str) -> bool:
    """What a receiver does: recompute over the raw body and compare in constant time."""
    return hmac.compare_digest(sign(body, secret), header or "")


class JsonlSink:
    """Appends each event as one line of JSON to ``path`` (on disk before returning).

    A write that fails part-way (disk full, file size limit) is cut back off, so the event's
    retry starts a fresh line instead of finishing a broken one. Writers in other processes
    (several dispatchers) take turns on an advisory lock of the file, where there is ``flock``.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    @hookimpl
    def inmail_guard_event(self, event: dict[str, Any]) -> None:
        line = encode(event) + b"\n"
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                if _flock is not None:
                    _flock(fd, _LOCK_EX)
                start = os.lseek(fd, 0, os.SEEK_END)
                try:
                    view = memoryview(line)
                    while view:
                        view = view[os.write(fd, view):]
                    os.fsync(fd)
                except BaseException:
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, start)
                    raise
            finally:
                os.close(fd)  # also releases the flock


try:
    from fcntl import LOCK_EX as _LOCK_EX
    from fcntl import flock as _flock
except ImportError:  # pragma: no cover - Windows: one process per file
    _flock, _LOCK_EX = None, 0


class WebhookSink:
    """POSTs each event to ``url``, signed; raises on failure so the outbox retries.

    ``format`` is ``json`` (the event's own JSON), ``cloudevents`` or ``cloudevents-binary``;
    ``signature`` is ``hmac`` (``X-InMail-Guard-Signature``) or ``standard`` (Standard
    Webhooks, with a ``whsec_`` secret and ``clock`` giving each attempt's timestamp).

    A delivery takes at most ``timeout`` seconds in all: httpx's own timeouts bound each
    connect, write and read, so a receiver trickling its answer could hold a delivery for
    far longer. A timer closes the delivering thread's client at the deadline, which aborts
    the request; that thread gets a new client for its next event. (A ``client`` passed in
    is used as it is: its own timeouts apply.)
    """

    def __init__(self, url: str, secret: str, *, timeout: float = 5.0,
                 client: httpx.Client | None = None, format: str = "json",
                 signature: str = "hmac", source: str = event_formats.DEFAULT_SOURCE,
                 clock: Callable[[], datetime] | None = None) -> None:
        if not secret:
            raise ValueError(f"a webhook needs a signing secret ({WEBHOOK_SECRET_ENV})")
        if format not in event_formats.FORMATS:
            raise ValueError(f"{WEBHOOK_FORMAT_ENV}: expected one of"
                             f" {', '.join(event_formats.FORMATS)}; found {format!r}")
        if signature not in event_formats.SIGNATURES:
            raise ValueError(f"{WEBHOOK_SIGNATURE_ENV}: expected one of"
                             f" {', '.join(event_formats.SIGNATURES)}; found {signature!r}")
        if signature == "standard":
            event_formats.standard_secret(secret, WEBHOOK_SECRET_ENV)
        if not source:
            raise ValueError(f"{CLOUDEVENTS_SOURCE_ENV}: must not be empty")
        if not (math.isfinite(timeout) and timeout > 0):
            raise ValueError(f"a webhook timeout must be a number of seconds above 0, found"
                             f" {timeout!r}")
        self.url = url
        self.secret = secret
        self.timeout = timeout
        self.format = format
        self.signature = signature
        self.source = source
        self.clock = clock or (lambda: datetime.now(UTC))
        self._given = client
        self._local = threading.local()

    @property
    def client(self) -> httpx.Client:
        """This thread's client."""
        if self._given is not None:
            return self._given
        client: httpx.Client | None = getattr(self._local, "client", None)
        if client is None or client.is_closed:
            client = self._local.client = httpx.Client(timeout=self.timeout)
        return client

    def request(self, event: dict[str, Any]) -> tuple[dict[str, str], bytes]:
        """The headers and body of this attempt to deliver ``event``."""
        headers, body = event_formats.render(event, self.format, self.source)
        event_id = str(event.get("event_id", ""))
        if self.signature == "standard":
            headers.update(event_formats.standard_headers(body, event_id, self.secret,
                                                          self.clock()))
        else:
            headers[SIGNATURE_HEADER] = sign(body, self.secret)
        headers[EVENT_ID_HEADER] = event_id
        headers[EVENT_TYPE_HEADER] = str(event.get("type", ""))
        return headers, body

    @hookimpl
    def inmail_guard_event(self, event: dict[str, Any]) -> None:
        headers, body = self.request(event)
        client = self.client
        timer = None
        if self._given is None:
            timer = threading.Timer(self.timeout, client.close)
            timer.daemon = True
            timer.start()
        try:
            response = client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            if client.is_closed:  # the deadline closed it under the request
                raise httpx.TimeoutException(
                    f"webhook delivery took longer than {self.timeout:g}s") from exc
            raise
        finally:
            if timer is not None:
                timer.cancel()
        response.raise_for_status()


def webhook_timeout_from_env(env: dict[str, str] | None = None) -> float:
    """``INMAIL_GUARD_WEBHOOK_TIMEOUT`` in seconds (5 when unset), or a ValueError naming it."""
    value = (dict(os.environ) if env is None else env).get(WEBHOOK_TIMEOUT_ENV, "").strip()
    if not value:
        return 5.0
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"{WEBHOOK_TIMEOUT_ENV}: expected a number of seconds above 0, such as"
                         f" 5 or 2.5; found {value!r}")
    return seconds


_configured: tuple[tuple[str | None, ...], list[Any]] | None = None
_configured_lock = threading.Lock()


def _variables() -> tuple[str, ...]:
    from inmail_guard.plugins import redis_sink

    return (JSONL_ENV, WEBHOOK_URL_ENV, WEBHOOK_SECRET_ENV, WEBHOOK_TIMEOUT_ENV,
            WEBHOOK_FORMAT_ENV, WEBHOOK_SIGNATURE_ENV, CLOUDEVENTS_SOURCE_ENV,
            redis_sink.URL_ENV, redis_sink.STREAM_ENV, redis_sink.MAXLEN_ENV,
            redis_sink.FORMAT_ENV)


def configured_sinks(env: dict[str, str] | None = None) -> list[Any]:
    """The sinks the environment asks for (rebuilt when the variables change)."""
    global _configured
    from inmail_guard.plugins import redis_sink

    env = dict(os.environ) if env is None else env
    key = tuple(env.get(name) for name in _variables())
    with _configured_lock:
        if _configured is not None and _configured[0] == key:
            return _configured[1]
        sinks: list[Any] = []
        if env.get(JSONL_ENV):
            sinks.append(JsonlSink(env[JSONL_ENV]))
        url, secret = env.get(WEBHOOK_URL_ENV), env.get(WEBHOOK_SECRET_ENV)
        if url:
            if not secret:
                raise ValueError(f"{WEBHOOK_URL_ENV} is set but {WEBHOOK_SECRET_ENV} is not:"
                                 " webhooks are always signed")
            sinks.append(WebhookSink(
                url, secret, timeout=webhook_timeout_from_env(env),
                format=(env.get(WEBHOOK_FORMAT_ENV) or "json").strip(),
                signature=(env.get(WEBHOOK_SIGNATURE_ENV) or "hmac").strip(),
                source=(env.get(CLOUDEVENTS_SOURCE_ENV) or "").strip()
                or event_formats.DEFAULT_SOURCE))
        stream = redis_sink.from_env(env)
        if stream is not None:
            sinks.append(stream)
        _configured = (key, sinks)
        return sinks


@hookimpl
def inmail_guard_event(event: dict[str, Any]) -> None:
    """Deliver to the sinks configured by environment variables (none by default)."""
    for sink in configured_sinks():
        sink.inmail_guard_event(event=event)


def register_builtin_sinks(plugins: Plugins) -> None:
    """Register this module with ``plugins`` unless it is already (e.g. via DEFAULT_PLUGINS)
    or disabled with ``INMAIL_GUARD_DISABLE_PLUGINS``."""
    from inmail_guard.plugins.manager import DENY_ENV

    deny = {n.strip() for n in os.environ.get(DENY_ENV, "").split(",") if n.strip()}
    if PLUGIN_NAME in deny or plugins.pm.has_plugin(PLUGIN_NAME):
        return
    import inmail_guard.plugins.sinks as module

    if not plugins.pm.is_registered(module):
        plugins.pm.register(module, name=PLUGIN_NAME)
