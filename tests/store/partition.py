"""A network partition a test can cause and heal: real packet loss, scoped to a link of its own.

:class:`PartitionedProxy` is a :class:`~store.pgproxy.TcpProxy` listening across a veth pair
in a network namespace of its own; :meth:`PartitionedProxy.drop` makes both ends of that pair
drop every packet (a ``pfifo`` queue of length 0), so the client's TCP sees no
acknowledgement at all, as in a real partition (``tcp_user_timeout``, keepalives), and
:meth:`PartitionedProxy.heal` lets them through again. Nothing else on the machine is touched:
the namespace, the pair and their queues are the test's own and are removed by
:meth:`PartitionedProxy.close`. Needs root and ``ip``/``tc``; :func:`unavailable` says why not.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import socket
import subprocess
import threading

from .pgproxy import TcpProxy

_CLONE_NEWNET = 0x40000000


def unavailable() -> str | None:
    """Why a partition cannot be made here, or None."""
    if os.geteuid() != 0:
        return "needs root (ip netns, veth, tc)"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"needs the {tool!r} command (iproute2)"
    return None


def _run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=10)


class PartitionedProxy(TcpProxy):
    def __init__(self, upstream: tuple[str, int]) -> None:
        super().__init__(upstream)
        tag = f"{os.getpid() % 100000}{threading.get_ident() % 97}"
        self.ns, self.near, self.far = f"igp{tag}", f"igp{tag}a", f"igp{tag}b"
        octet = os.getpid() % 250 + 1
        self.near_ip, self.far_ip = f"10.213.{octet}.1", f"10.213.{octet}.2"
        self._made: list[tuple[str, ...]] = []
        try:
            self._setup()
        except BaseException:
            self.close()
            raise

    def _setup(self) -> None:
        ns = ("ip", "netns", "exec", self.ns)
        _run("ip", "netns", "add", self.ns)
        self._made.append(("ip", "netns", "del", self.ns))
        _run("ip", "link", "add", self.near, "type", "veth", "peer", "name", self.far)
        self._made.append(("ip", "link", "del", self.near))
        _run("ip", "link", "set", self.far, "netns", self.ns)
        _run("ip", "addr", "add", f"{self.near_ip}/30", "dev", self.near)
        _run("ip", "link", "set", self.near, "up")
        _run(*ns, "ip", "addr", "add", f"{self.far_ip}/30", "dev", self.far)
        _run(*ns, "ip", "link", "set", self.far, "up")
        _run(*ns, "ip", "link", "set", "lo", "up")

    def url(self, url: str) -> str:
        from sqlalchemy.engine import make_url

        return make_url(url).set(host=self.far_ip, port=self.port).render_as_string(
            hide_password=False)

    def _listener_socket(self) -> socket.socket:
        """A socket made in the namespace (a thread enters it; sockets keep theirs)."""
        made: list[socket.socket | BaseException] = []

        def make() -> None:
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                with open(f"/run/netns/{self.ns}") as f:
                    if libc.setns(f.fileno(), _CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), "setns")
                listener = socket.socket()
                listener.bind((self.far_ip, self.port))
                made.append(listener)
            except BaseException as exc:
                made.append(exc)

        thread = threading.Thread(target=make)  # ends in the namespace, never reused
        thread.start()
        thread.join(10)
        if not made or isinstance(made[0], BaseException):
            raise RuntimeError(f"cannot listen in {self.ns}: {made[0] if made else 'timeout'}")
        return made[0]

    def start(self) -> None:
        listener = self._listener_socket()
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def drop(self) -> None:
        """Every packet either way is dropped from now on."""
        _run("tc", "qdisc", "replace", "dev", self.near, "root", "pfifo", "limit", "0")
        _run("ip", "netns", "exec", self.ns, "tc", "qdisc", "replace", "dev", self.far, "root",
             "pfifo", "limit", "0")

    def heal(self) -> None:
        for cmd in (("tc", "qdisc", "del", "dev", self.near, "root"),
                    ("ip", "netns", "exec", self.ns, "tc", "qdisc", "del", "dev", self.far,
                     "root")):
            subprocess.run(cmd, capture_output=True, timeout=10, check=False)

    def close(self) -> None:
        self.stop()
        for cmd in reversed(self._made):
            subprocess.run(cmd, capture_output=True, timeout=10, check=False)
        self._made = []
