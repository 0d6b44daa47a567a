"""ProxyControl and ToxiproxyServer against a real toxiproxy-server and a local TCP echo server."""

from __future__ import annotations

import os
import socket
import socketserver
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nemesis.proxies import ProxyControl, ToxiproxyError
from nemesis.toxiproxy_server import ToxiproxyServer, ToxiproxyServerError, free_port
from splitbrain.ports import ephemeral_low, free_port_block
from tests.helpers.needs import require_toxiproxy

REPO = Path(__file__).resolve().parent.parent


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(4096):
            self.request.sendall(data)


@pytest.fixture(scope="module")
def echo() -> Iterator[str]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def control(toxiproxy: ToxiproxyServer) -> Iterator[ProxyControl]:
    with ProxyControl(toxiproxy.url, timeout=2.0) as pc:
        yield pc
        pc.delete_all()


def connect(address: str, timeout: float = 2.0) -> socket.socket:
    host, port = address.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=timeout)
    sock.settimeout(timeout)
    return sock


def round_trip(sock: socket.socket, payload: bytes = b"ping") -> bytes:
    sock.sendall(payload)
    return sock.recv(4096)


def is_silent(sock: socket.socket, payload: bytes = b"lost?", wait: float = 0.4) -> bool:
    """True when nothing comes back within ``wait`` and the connection is still open."""
    sock.sendall(payload)
    sock.settimeout(wait)
    try:
        sock.recv(4096)
        return False
    except TimeoutError:
        return True
    finally:
        sock.settimeout(2.0)


def test_create_returns_the_real_address_and_data_flows(control: ProxyControl, echo: str):
    listen = control.create("c0-n1", "127.0.0.1:0", echo)
    assert listen.startswith("127.0.0.1:") and not listen.endswith(":0")
    info = control.list()["c0-n1"]
    assert (info.listen, info.upstream, info.enabled, info.toxics) == (listen, echo, True, ())
    with connect(listen) as sock:
        assert round_trip(sock) == b"ping"


def test_drop_keeps_connections_open_but_silent_until_restored(control: ProxyControl, echo: str):
    listen = control.create("n1-n2", "127.0.0.1:0", echo)
    with connect(listen) as before:
        assert round_trip(before) == b"ping"
        control.cut(["n1-n2"], "drop")
        control.cut(["n1-n2"], "drop")
        assert control.list()["n1-n2"].toxics == ("splitbrain-cut-down", "splitbrain-cut-up")
        assert is_silent(before)
        with connect(listen) as during:
            assert is_silent(during)
        control.restore(["n1-n2"])
        assert control.list()["n1-n2"].toxics == ()
        assert before.recv(4096) == b"", "Toxiproxy closes connections silenced by the cut"
    with connect(listen) as after:
        assert round_trip(after, b"back") == b"back"


def test_refuse_refuses_new_connections_and_restore_reopens_the_same_port(
    control: ProxyControl, echo: str
):
    listen = control.create("n2-n1", "127.0.0.1:0", echo)
    with connect(listen) as before:
        control.cut(["n2-n1"], "refuse")
        assert before.recv(4096) == b""
    with pytest.raises(ConnectionRefusedError):
        connect(listen)
    control.restore(["n2-n1"])
    assert control.list()["n2-n1"].listen == listen
    with connect(listen) as after:
        assert round_trip(after) == b"ping"


def test_latency_delays_each_direction_and_clears(control: ProxyControl, echo: str):
    listen = control.create("c1-n3", "127.0.0.1:0", echo)
    control.latency(["c1-n3"], 150, 0)
    control.latency(["c1-n3"], 100, 10)
    with connect(listen) as sock:
        start = time.monotonic()
        assert round_trip(sock) == b"ping"
        assert time.monotonic() - start >= 2 * 0.09
        control.clear_latency(["c1-n3"])
        control.clear_latency(["c1-n3"])
        assert control.list()["c1-n3"].toxics == ()


def test_reset_and_delete_all(control: ProxyControl, echo: str):
    for name in ("a-b", "b-a"):
        control.create(name, "127.0.0.1:0", echo)
    control.cut(["a-b"], "drop")
    control.cut(["b-a"], "refuse")
    control.latency(["b-a"], 10, 1)
    control.reset()
    assert all(p.enabled and not p.toxics for p in control.list().values())
    control.delete_all()
    assert control.list() == {}


def test_errors_name_the_proxy_and_the_server(control: ProxyControl, echo: str):
    with pytest.raises(ToxiproxyError, match=r"'n9-n1'.*127\.0\.0\.1.*404.*create the proxies"):
        control.cut(["n9-n1"])
    control.create("x-y", "127.0.0.1:0", echo)
    with pytest.raises(ToxiproxyError, match=r"409.*delete_all"):
        control.create("x-y", "127.0.0.1:0", echo)
    with pytest.raises(ValueError, match="drop"):
        control.cut(["x-y"], "explode")  # type: ignore[arg-type]


def test_an_absent_server_fails_fast_with_its_url():
    url = f"http://127.0.0.1:{free_port()}"
    start = time.monotonic()
    with ProxyControl(url, timeout=1.0) as pc, pytest.raises(ToxiproxyError, match=url):
        pc.restore(["n1-n2"])
    assert time.monotonic() - start < 3


def test_the_server_stops_on_exit_even_after_an_error(tmp_path: Path):
    require_toxiproxy()
    server = ToxiproxyServer(tmp_path / "logs" / "toxiproxy.log")
    with pytest.raises(KeyboardInterrupt), server:
        assert ProxyControl(server.url).version()
        raise KeyboardInterrupt
    assert not server.running
    with pytest.raises(ToxiproxyError):
        ProxyControl(server.url, timeout=1.0).version()
    assert "Starting Toxiproxy" in (tmp_path / "logs" / "toxiproxy.log").read_text()


def test_a_missing_binary_says_how_to_install(tmp_path: Path):
    server = ToxiproxyServer(tmp_path / "t.log", binary="no-such-toxiproxy-server")
    with pytest.raises(ToxiproxyServerError, match=r"scripts/install-toxiproxy\.sh"):
        server.start()


def test_a_taken_port_is_reported(tmp_path: Path, toxiproxy: ToxiproxyServer):
    server = ToxiproxyServer(tmp_path / "t.log", port=toxiproxy.port, start_timeout=3)
    with pytest.raises(ToxiproxyServerError, match="port"):
        server.start()
    assert not server.running


INSTALL = REPO / "scripts" / "install-toxiproxy.sh"


def test_install_script_does_nothing_when_already_on_path(tmp_path: Path):
    fake = tmp_path / "toxiproxy-server"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:/usr/bin:/bin"}
    done = subprocess.run(
        ["bash", str(INSTALL), str(tmp_path / "target")], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0 and "nothing to do" in done.stdout
    assert not (tmp_path / "target").exists()


def test_install_script_explains_an_unwritable_target(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    env = {**os.environ, "PATH": "/usr/local/go/bin:/usr/bin:/bin"}
    done = subprocess.run(
        ["bash", str(INSTALL), str(blocker / "bin")], env=env, capture_output=True, text=True
    )
    assert done.returncode == 1
    assert "writable directory" in done.stderr or "install Go" in done.stderr


def test_node_ports_come_from_below_the_ephemeral_range_so_no_bind_0_can_take_them() -> None:
    base = free_port_block(9)
    ports = range(base, base + 9)
    assert base >= 10_000 and base + 9 <= ephemeral_low()
    taken = [free_port() for _ in range(50)]  # what a proxy listening on :0 gets
    assert not set(taken) & set(ports)
