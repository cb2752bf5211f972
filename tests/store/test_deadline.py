"""The response deadline's watchdog (store/deadline.py): a wait past its deadline has its socket
shut down, whatever was armed before it; a wait that ended in time is forgotten at once."""

from __future__ import annotations

import socket
import time

from inmail_guard.store.deadline import Watchdog


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether ``sock``'s peer side was shut down (recv sees the end) within ``seconds``."""
    sock.settimeout(seconds)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False


def test_a_wait_past_its_deadline_has_its_socket_shut_down():
    watchdog = Watchdog()
    a, b = socket.socketpair()
    with a, b:
        token = watchdog.arm(a.fileno(), 0.05)
        assert _closed_within(a, 5)
        assert watchdog.disarm(token) is True  # the wait learns its deadline passed
        assert watchdog.disarm(token) is False


def test_a_shorter_deadline_armed_after_a_longer_one_still_fires_in_time():
    watchdog = Watchdog()
    (a, b), (c, d) = socket.socketpair(), socket.socketpair()
    with a, b, c, d:
        long = watchdog.arm(a.fileno(), 60)
        time.sleep(0.05)  # the thread now sleeps until the long deadline
        short = watchdog.arm(c.fileno(), 0.05)
        assert _closed_within(c, 5)
        assert watchdog.disarm(short) is True
        assert watchdog.disarm(long) is False
        b.send(b"x")
        assert a.recv(1) == b"x"  # the long wait's socket is untouched


def test_waits_that_ended_in_time_are_forgotten_and_never_fire():
    watchdog = Watchdog()
    a, b = socket.socketpair()
    with a, b:
        for _ in range(10_000):
            assert watchdog.disarm(watchdog.arm(a.fileno(), 0.2)) is False
        # The heap holds the waits in flight, not every wait of the last response_timeout.
        assert len(watchdog._heap) <= 1
        time.sleep(0.4)  # past every deadline armed above
        b.send(b"x")
        assert a.recv(1) == b"x"
