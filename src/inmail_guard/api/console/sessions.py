"""Console sessions: an API key entered once on the login form becomes a signed, HttpOnly,
``SameSite=Strict`` cookie that names the key (never holds it).

The cookie is ``<payload>.<signature>``: the payload is the key's name, its role, a
fingerprint of the key's stored digest, a session id and an expiry; the signature is an
HMAC-SHA256 with the console secret. A request's session is valid while the signature
matches, it has not expired, and the key file still holds a key of that name, role and
digest: rotating or removing a key ends its sessions. The cookie is stateless, so it works
across ``serve --workers N`` when the workers share the secret (``INMAIL_GUARD_CONSOLE_SECRET``;
``serve`` generates one for its workers; without it each process makes its own, and a
restart logs everyone out).

Every console form that changes something carries a CSRF token derived from the session
(HMAC of its id), checked with :func:`hmac.compare_digest`; the cookie is also
``SameSite=Strict``, and a POST whose ``Origin`` names another site is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass

from inmail_guard.api.auth import KeyStore, Principal

COOKIE = "ig_console"
SECRET_ENV = "INMAIL_GUARD_CONSOLE_SECRET"
#: How long a console session lasts after login.
LIFETIME_S = 8 * 3600


@dataclass(frozen=True, slots=True)
class Session:
    principal: Principal
    sid: str
    expires: int
    csrf: str


class SessionSigner:
    """Signs and verifies console session cookies against the app's key store."""

    def __init__(self, keys: KeyStore, secret: bytes | None = None,
                 lifetime_s: int = LIFETIME_S) -> None:
        self.keys = keys
        env = os.environ.get(SECRET_ENV, "")
        self.secret = secret or (env.encode() if env else secrets.token_bytes(32))
        self.lifetime_s = lifetime_s

    def issue(self, key: str) -> tuple[str, Session] | None:
        """A cookie value for ``key``, or None if the key is not a configured one."""
        principal = self.keys.verify(key)
        if principal is None:
            return None
        fingerprint = self.keys.fingerprint(principal.name)
        sid = secrets.token_urlsafe(16)
        expires = int(time.time()) + self.lifetime_s
        payload = _b64(json.dumps({"n": principal.name, "r": principal.role, "k": fingerprint,
                                   "s": sid, "e": expires}, separators=(",", ":")).encode())
        token = f"{payload}.{self._sign(payload)}"
        return token, Session(principal, sid, expires, self.csrf_for(sid))

    def verify(self, token: str | None) -> Session | None:
        if not token or token.count(".") != 1:
            return None
        payload, signature = token.split(".")
        if not hmac.compare_digest(self._sign(payload), signature):
            return None
        try:
            data = json.loads(_unb64(payload))
            name, role, fingerprint = str(data["n"]), str(data["r"]), str(data["k"])
            sid, expires = str(data["s"]), int(data["e"])
        except (ValueError, KeyError, TypeError):
            return None
        if expires <= time.time():
            return None
        current = self.keys.fingerprint(name)
        if current is None or not hmac.compare_digest(current, fingerprint):
            return None
        if self.keys.role_of(name) != role:
            return None
        return Session(Principal(name, role), sid, expires, self.csrf_for(sid))

    def csrf_for(self, sid: str) -> str:
        return hmac.new(self.secret, b"csrf:" + sid.encode(), hashlib.sha256).hexdigest()

    def _sign(self, payload: str) -> str:
        return hmac.new(self.secret, payload.encode(), hashlib.sha256).hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
