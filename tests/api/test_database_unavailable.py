"""The HTTP service with its database down: stateful routes answer 503 ``database_unavailable``
(JSON, ``Retry-After``) fast, ``POST /v1/evaluate`` (stateless) keeps working, and the service
recovers by itself when the database is back (no restart)."""

from __future__ import annotations

import time

import pytest

from service.cast import MEMBERS
from store.pgproxy import TcpProxy

from .conftest import SVC, evaluate_body, member_body

MESSAGE = {"message": {"sender_id": "alice", "recipient_id": "bob", "subject": "Hello",
                       "body": "Hi Bob, would you be open to a chat?"}}


def assert_unavailable(r):
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "database_unavailable"
    assert r.headers["Retry-After"] == "1"


def test_database_down_send_is_503_and_evaluate_still_works(make_client):
    client = make_client(db="postgresql+psycopg://postgres@127.0.0.1:1/test")
    start = time.perf_counter()
    assert_unavailable(client.post("/v1/inmails", json=MESSAGE, headers=SVC))
    assert time.perf_counter() - start < 2
    assert_unavailable(client.get("/v1/members/alice/credits", headers=SVC))
    r = client.post("/v1/evaluate", json=evaluate_body(), headers=SVC)
    assert r.status_code == 200 and r.json()["outcome"] == "accepted"
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json()["checks"]["database"].startswith(
        "unavailable")


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_the_service_recovers_by_itself_when_the_database_returns(store_url, make_client):
    proxy = TcpProxy.for_url(store_url)  # stopped: the database is unreachable at start-up
    try:
        client = make_client(db=proxy.url(store_url))
        assert_unavailable(client.post("/v1/inmails", json=MESSAGE, headers=SVC))
        proxy.start()
        for member in MEMBERS[:5]:
            r = client.put(f"/v1/members/{member.id}", json=member_body(plan=member.plan),
                           headers=SVC)
            assert r.status_code == 200, r.text
        assert client.post("/v1/inmails", json=MESSAGE, headers=SVC).status_code == 201
        assert client.get("/readyz").status_code == 200
        proxy.stop()  # goes away again with connections in the pool
        assert_unavailable(client.post("/v1/inmails", json=MESSAGE, headers=SVC))
        assert client.post("/v1/evaluate", json=evaluate_body(),
                           headers=SVC).status_code == 200
        proxy.start()
        assert client.post("/v1/inmails", json=MESSAGE, headers=SVC).status_code == 201
        assert client.get("/v1/members/alice/credits", headers=SVC).json()["used"] == 2
    finally:
        proxy.stop()
