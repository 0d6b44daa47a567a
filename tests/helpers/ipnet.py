"""Traffic for the IP-layer tests: echo servers and probes on sockets made inside a namespace
(:func:`nemesis.ip.netns.socket_in`), so the test process itself never leaves the root one."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import statistics
import threading
import time
from collections.abc import Iterator

from nemesis.ip.netns import Netns, socket_in
from tests.helpers.needs import skip_or_fail

PORT = 9500


def require_ip_layer() -> None:
    """Root and the tools the IP layer drives; else skip (fail in CI, where setup.sh installs
    them and the job runs as root)."""
    if os.geteuid() != 0:
        skip_or_fail("the IP-layer tests need root (namespaces, nftables)")
    for tool, package in (("nft", "nftables"), ("iptables-legacy", "iptables"), ("ip", "iproute2")):
        if shutil.which(tool) is None:
            skip_or_fail(f"{tool} not on PATH: bash scripts/setup.sh installs {package}")


class _Server:
    """A server socket in a namespace, served by a daemon thread until :meth:`close`."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._serve_one()
            except TimeoutError:
                continue
            except OSError:
                return

    def _serve_one(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


class UdpEcho(_Server):
    """A UDP server in ``netns`` on ``port`` that echoes every datagram and counts them."""

    def __init__(self, netns: Netns | None, port: int = PORT) -> None:
        sock = socket_in(netns, socket.SOCK_DGRAM)
        sock.bind(("0.0.0.0", port))
        self.received = 0
        super().__init__(sock)

    def _serve_one(self) -> None:
        data, peer = self.sock.recvfrom(2048)
        self.received += 1
        with contextlib.suppress(OSError):
            self.sock.sendto(data, peer)


class TcpEcho(_Server):
    """A TCP server in ``netns`` on ``port`` that echoes what each connection sends."""

    def __init__(self, netns: Netns | None, port: int = PORT) -> None:
        sock = socket_in(netns, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("0.0.0.0", port))
        sock.listen(16)
        super().__init__(sock)

    def _serve_one(self) -> None:
        conn, _ = self.sock.accept()
        threading.Thread(target=self._echo, args=(conn,), daemon=True).start()

    def _echo(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        with conn, contextlib.suppress(OSError):
            while data := conn.recv(65536):
                conn.sendall(data)


@contextlib.contextmanager
def udp_echo(netns: Netns | None, port: int = PORT) -> Iterator[UdpEcho]:
    server = UdpEcho(netns, port)
    try:
        yield server
    finally:
        server.close()


@contextlib.contextmanager
def tcp_echo(netns: Netns | None, port: int = PORT) -> Iterator[TcpEcho]:
    server = TcpEcho(netns, port)
    try:
        yield server
    finally:
        server.close()


def udp_round_trip(
    netns: Netns | None, dst: str, *, bind: str = "", port: int = PORT, timeout: float = 0.5
) -> float | None:
    """Seconds for one datagram from ``netns`` (bound to ``bind``) to ``dst`` and back, or None
    when nothing came back within ``timeout``."""
    with socket_in(netns, socket.SOCK_DGRAM) as sock:
        sock.bind((bind, 0))
        sock.settimeout(timeout)
        start = time.monotonic()
        sock.sendto(b"ping", (dst, port))
        try:
            sock.recvfrom(64)
        except TimeoutError:
            return None
        return time.monotonic() - start


def udp_arrives(
    src: Netns | None, dst_netns: Netns | None, dst: str, *, bind: str = "", port: int = PORT + 1
) -> bool:
    """Whether a datagram sent from ``src`` to ``dst`` arrives (one way only: nothing is sent
    back), retried a few times so that one lost datagram cannot decide."""
    with (
        socket_in(dst_netns, socket.SOCK_DGRAM) as server,
        socket_in(src, socket.SOCK_DGRAM) as client,
    ):
        server.bind(("0.0.0.0", port))
        server.settimeout(0.15)
        client.bind((bind, 0))
        for _ in range(3):
            client.sendto(b"one-way", (dst, port))
            try:
                server.recvfrom(64)
                return True
            except TimeoutError:
                continue
        return False


def tcp_connects(
    netns: Netns | None, dst: str, *, bind: str = "", port: int = PORT, timeout: float = 0.5
) -> bool:
    """Whether a TCP connection from ``netns`` to ``dst`` is made and echoes a few bytes."""
    with socket_in(netns, socket.SOCK_STREAM) as sock:
        sock.bind((bind, 0))
        sock.settimeout(timeout)
        try:
            sock.connect((dst, port))
            sock.sendall(b"hello")
            return sock.recv(16) == b"hello"
        except OSError:
            return False


def median_round_trip(
    netns: Netns | None, dst: str, *, bind: str = "", count: int = 15, timeout: float = 1.0
) -> float:
    """The median of ``count`` UDP round trips, in seconds (a lost one counts as ``timeout``)."""
    times = [udp_round_trip(netns, dst, bind=bind, timeout=timeout) for _ in range(count)]
    return statistics.median(t if t is not None else timeout for t in times)


def tcp_refused(
    netns: Netns | None, dst: str, *, bind: str = "", port: int = PORT, timeout: float = 1.0
) -> float | None:
    """Seconds until a TCP connection from ``netns`` to ``dst`` was refused (a reset), or None
    when it was not (it connected, or timed out)."""
    with socket_in(netns, socket.SOCK_STREAM) as sock:
        sock.bind((bind, 0))
        sock.settimeout(timeout)
        start = time.monotonic()
        try:
            sock.connect((dst, port))
        except ConnectionRefusedError:
            return time.monotonic() - start
        except OSError:
            return None
        return None
