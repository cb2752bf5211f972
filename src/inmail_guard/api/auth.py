"""Bearer API keys with two roles, ``service`` and ``admin`` (admin may do all service may).

Keys are only ever held as sha256 hex digests. They come from

* a file (``--keys FILE``, ``INMAIL_GUARD_API_KEYS_FILE``): JSON or YAML, a list of
  ``{name, role, sha256}`` or ``{"keys": [...]}``; make one with :func:`hash_key`;
* the environment (``INMAIL_GUARD_API_KEYS="name:role:key,..."``): plain keys, hashed at load.

A request's key is hashed and compared with every configured digest with
:func:`hmac.compare_digest` (no early exit), so timing says nothing about which key is close.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from fastapi import Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from inmail_guard.api.errors import ApiError
from inmail_guard.fieldpath import format_path

Role = Literal["service", "admin"]
ROLES: tuple[str, ...] = ("service", "admin")
_RANK = {"service": 1, "admin": 2}
REALM = 'Bearer realm="inmail-guard"'

#: Only for OpenAPI (the "Authorize" button in /docs); the checking is done below.
bearer_scheme = HTTPBearer(
    auto_error=False, scheme_name="ApiKey",
    description="An API key: `Authorization: Bearer <key>`. Roles: service, admin.",
)


class KeyConfigError(ValueError):
    """The key file or variable is malformed; says where and why."""


class KeyEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    role: Role
    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$", description="sha256 hex of the key")


_ENTRIES = TypeAdapter(list[KeyEntry])


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's name and role (never the key)."""

    name: str
    role: str

    def has(self, role: str) -> bool:
        return _RANK.get(self.role, 0) >= _RANK[role]


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def generate_key() -> str:
    return "igk_" + secrets.token_urlsafe(32)


class KeyStore:
    """The configured keys, hashed."""

    def __init__(self, entries: Iterable[KeyEntry] = ()) -> None:
        self._keys = tuple((bytes.fromhex(e.sha256.lower()), Principal(e.name, e.role))
                           for e in entries)

    def __len__(self) -> int:
        return len(self._keys)

    def names(self) -> list[tuple[str, str]]:
        return [(p.name, p.role) for _, p in self._keys]

    def verify(self, key: str) -> Principal | None:
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
        found = None
        for stored, principal in self._keys:
            if hmac.compare_digest(stored, digest) and found is None:
                found = principal
        return found

    def fingerprint(self, name: str) -> str | None:
        """A short digest of the named key's stored hash (for console sessions, which must end
        when the key is rotated), or None if no key has that name."""
        for stored, principal in self._keys:
            if principal.name == name:
                return hashlib.sha256(b"console-session:" + stored).hexdigest()[:32]
        return None

    def role_of(self, name: str) -> str | None:
        for _, principal in self._keys:
            if principal.name == name:
                return principal.role
        return None

    @classmethod
    def from_sources(cls, keys_file: str | None = None, keys_env: str | None = None) -> KeyStore:
        entries: list[KeyEntry] = []
        if keys_file:
            entries += load_key_file(keys_file)
        if keys_env:
            entries += parse_key_env(keys_env)
        return cls(entries)


def load_key_file(path: str | Path) -> list[KeyEntry]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise KeyConfigError(f"{path}: not UTF-8 text (byte {exc.start}): expected a JSON or"
                             " YAML list of {name, role, sha256}") from None
    try:
        data: Any = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise KeyConfigError(f"{path}: not valid JSON/YAML: {exc}") from None
    if isinstance(data, dict) and set(data) == {"keys"}:
        data = data["keys"]
    try:
        return _ENTRIES.validate_python(data or [])
    except ValidationError as exc:
        problems = "; ".join(
            f"{where}: {_key_problem(e)}" if (where := format_path(e["loc"]))
            else _key_problem(e) for e in exc.errors()
        )
        raise KeyConfigError(
            f"{path}: expected a list of {{name, role, sha256}}: {problems}") from None


def _key_problem(error: Any) -> str:
    """What is wrong with one field of a key entry, and the fix. Never echoes a value: a plain
    key pasted where its digest belongs must not reach a log."""
    kind = error["type"]
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        return "unknown key; an entry has exactly name, role and sha256"
    if kind in ("model_type", "model_attributes_type"):
        return "expected a mapping {name, role, sha256}"
    if kind == "list_type":
        found = "a mapping" if isinstance(error.get("input"), dict) else "a single value"
        return f"found {found}; write the entries as a list, or under keys:"
    if error["loc"][-1:] == ("name",):
        return "expected a non-empty name (shown in logs as key_name)"
    if error["loc"][-1:] == ("role",):
        return "expected service or admin"
    if error["loc"][-1:] == ("sha256",):
        return ("expected the key's sha256 as 64 hex digits, not the key itself"
                " (printf %s \"$KEY\" | sha256sum)")
    return str(error["msg"])


def parse_key_env(value: str) -> list[KeyEntry]:
    """``name:role:key,...`` -> entries (keys hashed here; the plain value is not kept)."""
    entries = []
    for i, item in enumerate(p.strip() for p in value.split(",")):
        if not item:
            continue
        parts = item.split(":", 2)
        if len(parts) != 3 or not all(parts):
            raise KeyConfigError(
                f"INMAIL_GUARD_API_KEYS item {i + 1}: expected name:role:key, found"
                f" {len(parts)} part(s)")
        name, role, key = parts
        if role not in ROLES:
            raise KeyConfigError(
                f"INMAIL_GUARD_API_KEYS item {i + 1} ({name}): expected role service or admin,"
                f" found {role!r}")
        entries.append(KeyEntry(name=name, role=role, sha256=hash_key(key)))  # type: ignore[arg-type]
    return entries


def _unauthorized(message: str, error: str | None = None) -> ApiError:
    header = REALM if error is None else f'{REALM}, error="{error}"'
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": header})


def authenticate(request: Request, role: str | None = None) -> Principal:
    """The caller's principal, or ApiError 401 (no/wrong key) or 403 (``role`` missing). The
    key is verified once per request: a second call only checks the role."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        keys: KeyStore = request.app.state.keys
        header = request.headers.get("authorization")
        if not header:
            raise _unauthorized("missing API key: send 'Authorization: Bearer <key>'")
        scheme, _, token = header.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise _unauthorized("expected 'Authorization: Bearer <key>'", "invalid_request")
        principal = keys.verify(token)
        if principal is None:
            raise _unauthorized("invalid API key", "invalid_token")
        request.state.principal = principal
    if role is not None and not principal.has(role):
        raise ApiError(403, "forbidden",
                       f"this operation needs the {role} role; key {principal.name!r}"
                       f" has {principal.role}")
    return principal


def require(role: str):
    """A dependency: the caller must hold ``role`` (admin satisfies service)."""

    async def dependency(  # async: a sync dependency would cost a threadpool hop per request
        request: Request,
        _credentials: HTTPAuthorizationCredentials | None = Security(bearer_scheme),
    ) -> Principal:
        return authenticate(request, role)

    dependency.__name__ = f"require_{role}"
    dependency.role = role  # type: ignore[attr-defined]  # for required_role()
    return dependency


def required_role(dependant: Any) -> str | None:
    """The role a route's dependencies (made by :func:`require`) demand, if any."""
    for dep in dependant.dependencies:
        role = getattr(dep.call, "role", None) or required_role(dep)
        if role is not None:
            return str(role)
    return None


require_service = require("service")
require_admin = require("admin")
