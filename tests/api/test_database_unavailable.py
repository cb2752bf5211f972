"""The HTTP service with its database down: stateful routes answer 503 ``database_unavailable``
(JSON, ``Retry-After``) fast, ``POST /v1/evaluate`` (stateless) keeps working, and the service
recovers by itself when the database is back (no restart)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy.engine import make_url

from service.cast import MEMBERS
from store import partition
from store.pgproxy import TcpProxy
from unavailable import skip_or_fail

from .conftest import SVC, evaluate_body, member_body

MESSAGE = {"message": {"sender_id": "alice", "recipient_id": "bob", "subject": "Hello",
                       "body": "Hi Bob, would you be open to a chat?"}}


def assert_unavailable(r):
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "database_unavailable"
    assert r.headers["Retry-After"] == "1"


def assert_serving(client):
    """Members in place, a send accepted and the service ready: the database answers."""
    for member in MEMBERS[:5]:
        r = client.put(f"/v1/members/{member.id}", json=member_body(plan=member.plan),
                       headers=SVC)
        assert r.status_code == 200, r.text
    assert client.post("/v1/inmails", json=MESSAGE, headers=SVC).status_code == 201
    assert client.get("/readyz").status_code == 200


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
        assert_serving(client)
        proxy.stop()  # goes away again with connections in the pool
        assert_unavailable(client.post("/v1/inmails", json=MESSAGE, headers=SVC))
        assert client.post("/v1/evaluate", json=evaluate_body(),
                           headers=SVC).status_code == 200
        proxy.start()
        assert client.post("/v1/inmails", json=MESSAGE, headers=SVC).status_code == 201
        assert client.get("/v1/members/alice/credits", headers=SVC).json()["used"] == 2
    finally:
        proxy.stop()


#: The bounds the partition tests run with (seconds), small to keep them short.
SILENT = {"RESPONSE_TIMEOUT": 1.5, "CONNECT_TIMEOUT": 2, "READY_TIMEOUT": 1,
          "STATEMENT_TIMEOUT": 1, "LOCK_TIMEOUT": 0.5, "POOL_TIMEOUT": 1}
#: A real partition (packets dropped): the network bound fires, long before the response one.
DROPPED = {**SILENT, "NETWORK_TIMEOUT": 2, "RESPONSE_TIMEOUT": 30}


@pytest.mark.slow
@pytest.mark.timeout(90)
@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_a_silent_partition_is_bounded_and_heals_by_itself(store_url, make_client, monkeypatch):
    # The database goes silent under pooled connections: nothing refused, nothing answered,
    # what is sent is acknowledged (a frozen server, a proxy that stopped forwarding). This used
    # to hang every request, /readyz included, for the whole outage. A send now fails within
    # response_timeout (the pool's ping) + connect_timeout (the fresh connection it then
    # tries).
    proxy = TcpProxy.for_url(store_url)
    bound = SILENT["RESPONSE_TIMEOUT"] + SILENT["CONNECT_TIMEOUT"] + 3
    check_partition(proxy, store_url, make_client, monkeypatch, SILENT, bound,
                    cut=proxy.blackhole, restore=proxy.restore)


@pytest.mark.slow
@pytest.mark.timeout(90)
@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_a_real_partition_is_bounded_by_the_network_timeout(store_url, make_client,
                                                           monkeypatch):
    # Packets dropped both ways on a link of the test's own (tests/store/partition.py): the
    # client's TCP gives up on unacknowledged data after network_timeout (tcp_user_timeout),
    # well before the 30 s response_timeout; then connect_timeout for the fresh connection.
    problem = partition.unavailable()
    if problem is not None:
        skip_or_fail(f"a network partition cannot be made here: {problem}")
    u = make_url(store_url)
    proxy = partition.PartitionedProxy((u.host or "127.0.0.1", u.port or 5432))
    try:
        bound = DROPPED["NETWORK_TIMEOUT"] + DROPPED["CONNECT_TIMEOUT"] + 3
        check_partition(proxy, store_url, make_client, monkeypatch, DROPPED, bound,
                        cut=proxy.drop, restore=proxy.heal)
    finally:
        proxy.close()


def check_partition(proxy, store_url, make_client, monkeypatch, bounds, send_bound, *, cut,
                    restore):
    """Under a partition a send answers 503 within ``send_bound``, /readyz 503 within
    ready_timeout, evaluate keeps answering, and after it the service recovers by itself."""
    for name, value in bounds.items():
        monkeypatch.setenv(f"INMAIL_GUARD_DB_{name}", str(value))
    ready_bound = bounds["READY_TIMEOUT"] + 0.5
    proxy.start()
    try:
        client = make_client(db=proxy.url(store_url))
        assert_serving(client)

        cut()
        for _ in range(2):  # a pooled connection, then whatever the pool has left
            start = time.perf_counter()
            assert_unavailable(client.post("/v1/inmails", json=MESSAGE, headers=SVC))
            assert time.perf_counter() - start < send_bound
        start = time.perf_counter()
        ready = client.get("/readyz")
        assert time.perf_counter() - start < ready_bound
        assert ready.status_code == 503, ready.text
        assert ready.json()["checks"]["database"].startswith("unavailable")
        start = time.perf_counter()
        r = client.post("/v1/evaluate", json=evaluate_body(), headers=SVC)
        assert r.status_code == 200 and time.perf_counter() - start < 1

        restore()
        deadline = time.monotonic() + 3 * send_bound
        sent = None
        for _round in range(30):  # bounded in rounds and in time
            if sent is None or sent.status_code != 201:
                sent = client.post("/v1/inmails", json=MESSAGE, headers=SVC)
            if sent.status_code == 201 and client.get("/readyz").status_code == 200:
                break
            assert time.monotonic() < deadline, sent.text
            time.sleep(0.2)
        else:
            pytest.fail("the service did not recover within 30 rounds")
        assert client.get("/v1/members/alice/credits", headers=SVC).json()["used"] == 2
    finally:
        proxy.stop()
