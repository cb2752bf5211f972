"""How the built-in sinks put an event on the wire: the event's own JSON (the default), or a
CloudEvents 1.0 event (structured JSON, or HTTP binary mode); and how a webhook request is
signed: this project's HMAC header (the default), or Standard Webhooks.

Both CloudEvents modes and both signatures carry the same event: the outbox's dict, which
never holds a subject's or a body's text. Encoding and signing use the ``cloudevents`` and
``standardwebhooks`` libraries, so a receiver can use them (or any other implementation of
the two specs) to read what we send; docs/events.md shows how.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from datetime import datetime
from typing import Any, Literal

from cloudevents.core.bindings import http as ce_http
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

#: ``json``: the event's own JSON. ``cloudevents``: a CloudEvents 1.0 event in structured
#: mode (``application/cloudevents+json``). ``cloudevents-binary`` (HTTP only): the event's
#: JSON as the body, the CloudEvents attributes in ``ce-*`` headers.
EventFormat = Literal["json", "cloudevents", "cloudevents-binary"]
FORMATS: tuple[str, ...] = ("json", "cloudevents", "cloudevents-binary")
#: ``hmac``: ``X-InMail-Guard-Signature: sha256=<hex>`` over the body. ``standard``: Standard
#: Webhooks' ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` over all three.
Signature = Literal["hmac", "standard"]
SIGNATURES: tuple[str, ...] = ("hmac", "standard")

DEFAULT_SOURCE = "inmail-guard"
_JSON_FORMAT = JSONFormat()


def encode(event: dict[str, Any]) -> bytes:
    """The event's own JSON as sinks write and sign it: compact, sorted keys."""
    return json.dumps(event, sort_keys=True, separators=(",", ":")).encode()


def to_cloudevent(event: dict[str, Any], source: str = DEFAULT_SOURCE) -> CloudEvent:
    """The CloudEvents 1.0 event for one of ours: ``id`` is ``event_id`` (so a receiver's
    de-duplication on ``source`` + ``id`` is ours on ``event_id``), ``type`` our ``type``,
    ``time`` ``occurred_at``, ``subject`` the InMail (or, for ``sender.*``, the sender), and
    ``data`` the whole event as JSON, unchanged."""
    attributes: dict[str, Any] = {
        "specversion": "1.0",
        "id": str(event["event_id"]),
        "source": source,
        "type": str(event["type"]),
        "datacontenttype": "application/json",
    }
    occurred = event.get("occurred_at")
    if occurred:
        attributes["time"] = datetime.fromisoformat(str(occurred).replace("Z", "+00:00"))
    subject = event.get("inmail_id") or event.get("sender_id")
    if subject:
        attributes["subject"] = str(subject)
    return CloudEvent(attributes, dict(event))


def render(event: dict[str, Any], fmt: str, source: str = DEFAULT_SOURCE
           ) -> tuple[dict[str, str], bytes]:
    """``(headers, body)`` of ``event`` in format ``fmt``; headers hold the content type and,
    in binary mode, the ``ce-*`` attributes."""
    if fmt == "json":
        return {"Content-Type": "application/json"}, encode(event)
    if fmt == "cloudevents":
        message = ce_http.to_structured(to_cloudevent(event, source), _JSON_FORMAT)
    elif fmt == "cloudevents-binary":
        message = ce_http.to_binary(to_cloudevent(event, source), _JSON_FORMAT)
    else:
        raise ValueError(f"expected an event format among {', '.join(FORMATS)}; found {fmt!r}")
    headers = {("Content-Type" if k.lower() == "content-type" else k): v
               for k, v in message.headers.items()}
    return headers, message.body


# --- signatures --------------------------------------------------------------------------


def hmac_signature(body: bytes, secret: str) -> str:
    """This project's signature header value: ``sha256=<hex HMAC-SHA256 of body>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def standard_secret(secret: str, name: str = "secret") -> bytes:
    """The key of a Standard Webhooks secret (``whsec_`` + base64 of 24 to 64 random bytes),
    or a ValueError naming ``name``: the spec's secrets are base64, and a plain string would
    be decoded into some other key without a word."""
    if not secret.startswith("whsec_"):
        raise ValueError(f"{name}: a Standard Webhooks secret starts with whsec_ followed by"
                         " base64 of 24 to 64 random bytes")
    try:
        key = base64.b64decode(secret[len("whsec_"):], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{name}: the part after whsec_ is not base64") from None
    if not 24 <= len(key) <= 64:
        raise ValueError(f"{name}: the secret is {len(key)} bytes long; Standard Webhooks"
                         " asks for 24 to 64")
    return key


def new_standard_secret() -> str:
    """A fresh Standard Webhooks secret to share with a receiver."""
    import secrets

    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def standard_headers(body: bytes, event_id: str, secret: str, when: datetime) -> dict[str, str]:
    """Standard Webhooks headers for one delivery attempt: the id is the event's (the same on
    every retry, so a receiver de-duplicates on it), the timestamp is the attempt's (so a
    retry hours later is still inside the receiver's replay window)."""
    from standardwebhooks.webhooks import Webhook

    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": Webhook(standard_secret(secret)).sign(event_id, when, body),
    }
