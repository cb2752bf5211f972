from __future__ import annotations

from pathlib import Path

import pytest

from inmail_guard.api.auth import KeyConfigError, KeyStore, hash_key, parse_key_env

from .conftest import ADMIN, SVC, evaluate_body, key_file


def test_missing_key_is_401_with_www_authenticate(client):
    r = client.post("/v1/evaluate", json=evaluate_body())
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert r.json()["error"]["code"] == "unauthorized"


def test_wrong_key_is_401_invalid_token(client):
    r = client.get("/v1/policy", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


def test_wrong_scheme_is_401(client):
    r = client.get("/v1/policy", headers={"Authorization": "Basic YTpi"})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"


def test_service_key_cannot_reload_policy(client):
    r = client.post("/v1/policy/reload", headers=SVC)
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "forbidden"


def test_service_key_cannot_lift_restrictions(client):
    r = client.post("/v1/members/alice/restriction/lift", headers=SVC)
    assert r.status_code == 403


BAD_JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/v1/inmails"),
    ("PUT", "/v1/members/alice"),
    ("POST", "/v1/members/alice/restriction/lift"),
    ("POST", "/v1/inmails/im-1/reply"),
])
def test_the_key_is_checked_before_the_body_is_read(client, method, path):
    # FastAPI validates a body before a route's dependencies run: without the key check first,
    # a caller with no key learnt about their JSON (400) instead of getting 401.
    r = client.request(method, path, content=b"{bad", headers=BAD_JSON)
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == "unauthorized"
    r = client.request(method, path, content=b"{bad",
                       headers={**BAD_JSON, "Authorization": "Bearer nope"})
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


def test_the_role_is_checked_before_the_body_is_read(client):
    r = client.post("/v1/members/alice/restriction/lift", content=b"{bad",
                    headers={**SVC, **BAD_JSON})
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "forbidden"
    r = client.post("/v1/members/alice/restriction/lift", content=b"{bad",
                    headers={**ADMIN, **BAD_JSON})
    assert r.status_code == 400  # the right key: now the body counts
    assert r.json()["error"]["code"] == "malformed_json"


def test_admin_key_does_what_service_does(client):
    assert client.post("/v1/evaluate", json=evaluate_body(), headers=ADMIN).status_code == 200
    assert client.get("/v1/policy", headers=ADMIN).status_code == 200


def test_open_endpoints_need_no_key(client):
    assert client.get("/healthz").status_code == 200
    assert client.get("/metrics").status_code == 200
    assert client.get("/openapi.json").status_code == 200


def test_keys_from_file_json_and_yaml(tmp_path: Path, make_client):
    path = key_file(tmp_path / "keys.json", [("ci", "service", "k-ci"), ("root", "admin", "k-r")])
    client = make_client(keys_env=None, keys_file=str(path))
    assert client.get("/v1/policy", headers={"Authorization": "Bearer k-ci"}).status_code == 200
    assert client.post("/v1/policy/reload",
                       headers={"Authorization": "Bearer k-ci"}).status_code == 403
    assert client.post("/v1/policy/reload",
                       headers={"Authorization": "Bearer k-r"}).status_code == 200
    yml = tmp_path / "keys.yaml"
    yml.write_text(f"keys:\n  - name: y\n    role: service\n    sha256: {hash_key('k-y')}\n")
    store = KeyStore.from_sources(str(yml))
    assert store.verify("k-y").name == "y"
    assert store.verify("k-ci") is None


def test_no_keys_configured_refuses_everything(make_client):
    client = make_client(keys_env=None)
    assert client.get("/v1/policy", headers=SVC).status_code == 401


def test_keys_are_stored_hashed():
    store = KeyStore(parse_key_env("a:service:plain-secret"))
    assert "plain-secret" not in repr(store.__dict__)
    assert store.verify("plain-secret").role == "service"


@pytest.mark.parametrize("value, message", [
    ("justaname", "expected name:role:key"),
    ("a:root:k", "expected role service or admin"),
])
def test_bad_key_env_says_why(value, message):
    with pytest.raises(KeyConfigError, match=message):
        parse_key_env(value)


def test_a_binary_key_file_says_why(tmp_path: Path):
    path = tmp_path / "keys.yaml"
    path.write_bytes(b"keys:\n\xff\xfe\x00garbage")
    with pytest.raises(KeyConfigError) as caught:
        KeyStore.from_sources(str(path))
    assert str(caught.value) == (f"{path}: not UTF-8 text (byte 6): expected a JSON or YAML"
                                 " list of {name, role, sha256}")


def test_bad_key_file_says_why(tmp_path: Path):
    path = tmp_path / "keys.json"
    path.write_text('[{"name": "x", "role": "service", "sha256": "abc"}]')
    with pytest.raises(KeyConfigError) as caught:
        KeyStore.from_sources(str(path))
    # The entry's path as every error spells one (inmail_guard.fieldpath): index in brackets.
    assert str(caught.value) == (f"{path}: expected a list of {{name, role, sha256}}:"
                                 " [0].sha256: expected the key's sha256 as 64 hex digits, not"
                                 ' the key itself (printf %s "$KEY" | sha256sum)')


def test_a_key_file_error_names_each_field_and_the_fix_without_echoing_values(
        tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text("keys:\n"
                    "  - {name: x, role: superuser, key: igk_plain_secret, sha256: igk_plain_2}\n"
                    "  - {name: y}\n"
                    "  - [1]\n"
                    "  - {name: '', role: admin, sha256: " + "a" * 64 + "}\n")
    with pytest.raises(KeyConfigError) as caught:
        KeyStore.from_sources(str(path))
    assert str(caught.value) == (
        f"{path}: expected a list of {{name, role, sha256}}:"
        " [0].role: expected service or admin;"
        " [0].sha256: expected the key's sha256 as 64 hex digits, not the key itself"
        ' (printf %s "$KEY" | sha256sum);'
        " [0].key: unknown key; an entry has exactly name, role and sha256;"
        " [1].role: required key is missing; [1].sha256: required key is missing;"
        " [2]: expected a mapping {name, role, sha256};"
        " [3].name: expected a non-empty name (shown in logs as key_name)")
    assert "igk_plain" not in str(caught.value)


def test_a_key_file_that_is_not_a_list_says_how_to_write_it(tmp_path: Path) -> None:
    path = tmp_path / "keys.yaml"
    path.write_text("name: x\nrole: service\n")
    with pytest.raises(KeyConfigError) as caught:
        KeyStore.from_sources(str(path))
    assert str(caught.value) == (f"{path}: expected a list of {{name, role, sha256}}: found a"
                                 " mapping; write the entries as a list, or under keys:")
