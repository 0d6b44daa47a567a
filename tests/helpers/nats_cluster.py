"""A NATS cluster started straight from :meth:`NatsSystem.launch`, peers dialling each other
directly (no proxies): what the NATS tests and the calibration script need without a backend."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from systems.nats import NatsSystem, install
from systems.seam import Accounts, NodeAddresses, NodeLaunch, SystemConfigError

HOST = "127.0.0.1"


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports free on loopback right now."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for s in socks:
            s.bind((HOST, 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def built_server(version: str) -> Path:
    """The cached server of ``version``, built now if missing (about 30 s); a failure to build
    is an error, never a skip."""
    try:
        return install.ensure_server(version, sys.stderr)
    except SystemConfigError as exc:
        raise AssertionError(f"cannot build nats-server {version}: {exc}") from None


@dataclass
class DirectCluster:
    """Nodes ``n1..nN`` of ``system`` as local processes; ``addresses`` as launch() saw them."""

    system: NatsSystem
    root: Path
    size: int = 3
    route: Callable[[str, str, str], str] | None = None
    """``route(dialler, peer, peer_address)``: the address ``dialler`` dials ``peer`` at (a
    proxy); None dials directly."""
    addresses: dict[str, NodeAddresses] = field(default_factory=dict)
    launches: dict[str, NodeLaunch] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [f"n{i + 1}" for i in range(self.size)]
        ports = free_ports(3 * self.size)
        by_node = {
            n: dict(zip(NatsSystem.port_names, ports[3 * i : 3 * i + 3], strict=True))
            for i, n in enumerate(names)
        }
        for n in names:
            data = self.root / n / "data"
            data.mkdir(parents=True)
            self.addresses[n] = NodeAddresses(
                name=n,
                bind_host=HOST,
                ports=by_node[n],
                peers={p: self._peer(n, p, by_node[p]["cluster"]) for p in names if p != n},
                data_dir=data,
                log=self.root / n / "node.log",
                run_dir=self.root,
                python=sys.executable,
            )
            self.launches[n] = self.system.launch(self.addresses[n])

    def _peer(self, dialler: str, peer: str, port: int) -> str:
        direct = f"{HOST}:{port}"
        return direct if self.route is None else self.route(dialler, peer, direct)

    @property
    def names(self) -> list[str]:
        return list(self.addresses)

    def provision(self, accounts: Accounts) -> None:
        self.system.provision(accounts, self.root, self.names, seed=0)

    def endpoints(self) -> dict[str, str]:
        return {n: f"{HOST}:{a.ports['client']}" for n, a in self.addresses.items()}

    def start(self, name: str) -> None:
        launch = self.launches[name]
        for path, content in launch.files.items():
            path.write_bytes(content)
            os.chmod(path, 0o600)
        log = open(self.addresses[name].log, "ab")  # noqa: SIM115 - the child keeps it open
        self.procs[name] = subprocess.Popen(
            launch.argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **launch.env}
        )
        log.close()

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()

    def status(self, name: str) -> dict[str, Any] | None:
        return self.system.status(HOST, self.addresses[name].ports["http"], 1.0)

    def statuses(self) -> dict[str, dict[str, Any] | None]:
        return {n: self.status(n) for n in self.names}

    def wait_healthy(self, timeout: float = 30.0) -> float:
        """Seconds until :meth:`NatsSystem.healthy`; AssertionError with the statuses if never."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.system.healthy(self.statuses()):
                return time.monotonic() - started
            time.sleep(0.1)
        raise AssertionError(f"cluster not healthy after {timeout} s: {self.statuses()}")

    def __enter__(self) -> DirectCluster:
        for n in self.names:
            self.start(n)
        return self

    def __exit__(self, *exc: object) -> None:
        for n in list(self.procs):
            proc = self.procs.pop(n)
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def default_accounts(users: Sequence[str] = ("u1", "u2", "u3")) -> Accounts:
    """Three users, a group of all and one 1:1 conversation."""
    return Accounts(
        users=tuple(users),
        conversations={"g1": tuple(users), "d12": (users[0], users[1])},
    )
