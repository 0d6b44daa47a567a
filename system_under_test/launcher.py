"""Start local node processes and wait until they are ready.

:class:`NodeSpec` builds a node's command line (the harness's backends reuse it with their own
proxy addresses); :class:`LocalCluster` runs N nodes as subprocesses on 127.0.0.1 for
``splitbrain cluster up``, the tests and the benchmark. Every node of a cluster is started with
the same cluster secret file (``--cluster-secret-file``), which :func:`provision_users` writes as
``cluster.secret`` (mode 0600) beside the users file.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from splitbrain.names import node_names
from splitbrain.processes import die_with_parent
from system_under_test import keys

CLUSTER_SECRET = "cluster.secret"


@dataclass(frozen=True)
class NodeSpec:
    """Everything one node is started with. ``peers`` maps peer name -> the HOST:PORT to dial."""

    name: str
    host: str
    port: int
    peers: Mapping[str, str]
    db: Path
    users: Path
    cluster_secret: Path
    log: Path | None = None
    mode: str = "cp"
    bug: str | None = None
    e2e: bool = True
    extra_args: tuple[str, ...] = ()

    def argv(self, python: str = sys.executable) -> list[str]:
        """The command line that starts this node in the foreground."""
        cmd = [python, "-m", "system_under_test.node", "--name", self.name]
        cmd += ["--listen", f"{self.host}:{self.port}"]
        for peer, address in sorted(self.peers.items()):
            cmd += ["--peer", f"{peer}={address}"]
        cmd += ["--db", str(self.db), "--users", str(self.users), "--mode", self.mode]
        cmd += ["--cluster-secret-file", str(self.cluster_secret)]
        if self.bug:
            cmd += ["--bug", self.bug]
        cmd += ["--e2e", "on" if self.e2e else "off"]
        if self.log is not None:
            cmd += ["--log", str(self.log)]
        return cmd + list(self.extra_args)

    @property
    def client_url(self) -> str:
        return f"ws://{self.host}:{self.port}"


def local_specs(
    n: int,
    directory: Path,
    users: Path,
    *,
    base_port: int = 7001,
    mode: str = "cp",
    bug: str | None = None,
    e2e: bool = True,
    extra_args: Sequence[str] = (),
    cluster_secret: Path | None = None,
) -> list[NodeSpec]:
    """Specs for nodes n1..nN on 127.0.0.1 that dial each other directly; files go in directory.
    The cluster secret is ``directory/cluster.secret`` (as :func:`provision_users` writes it)
    unless given."""
    names = list(node_names(n))
    ports = {name: base_port + i for i, name in enumerate(names)}
    return [
        NodeSpec(
            name=name,
            host="127.0.0.1",
            port=ports[name],
            peers={p: f"127.0.0.1:{ports[p]}" for p in names if p != name},
            db=directory / f"{name}.sqlite",
            users=users,
            cluster_secret=cluster_secret or directory / CLUSTER_SECRET,
            log=directory / f"{name}.log",
            mode=mode,
            bug=bug,
            e2e=e2e,
            extra_args=tuple(extra_args),
        )
        for name in names
    ]


def fetch_status(host: str, port: int, timeout: float = 1.0) -> dict | None:
    """The node's ``GET /status`` JSON, or None when it does not answer."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", "/status")
        response = conn.getresponse()
        return json.loads(response.read()) if response.status == 200 else None
    except (OSError, ValueError, http.client.HTTPException):
        # HTTPException: a port with no listener can connect to itself and echo the request.
        return None
    finally:
        conn.close()


def wait_ready(addresses: Mapping[str, tuple[str, int]], timeout: float = 20.0) -> dict[str, dict]:
    """Wait until every node's status says ready; return the statuses or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    statuses: dict[str, dict | None] = {}
    while time.monotonic() < deadline:
        statuses = {n: fetch_status(h, p) for n, (h, p) in addresses.items()}
        if all(s is not None and s.get("ready") for s in statuses.values()):
            return {n: s for n, s in statuses.items() if s is not None}
        time.sleep(0.1)
    raise TimeoutError(
        f"nodes not ready after {timeout}s: {statuses}; read the node logs for the reason"
    )


def provision_users(
    directory: Path, n_users: int, seed: int | None = None, groups: int = 1
) -> tuple[keys.Provisioned, Path, Path]:
    """Users u1..uN, a group per ``groups`` of all users and a direct chat for each pair.

    Keys are random unless ``seed`` is given (seeded keys are for replaying a run). Writes
    ``users.json``, ``secrets.json`` (0600) and a fresh ``cluster.secret`` (0600) in ``directory``
    and returns the keys and the first two paths.
    """
    users = [f"u{i + 1}" for i in range(n_users)]
    conversations = {f"g{i + 1}": list(users) for i in range(groups)}
    for i, a in enumerate(users):
        for b in users[i + 1 :]:
            conversations[f"d-{a}-{b}"] = [a, b]
    provisioned = keys.provision(users, conversations, seed)
    users_path, secrets_path = directory / "users.json", directory / "secrets.json"
    keys.write_users_file(users_path, provisioned)
    keys.write_secrets(secrets_path, provisioned)
    keys.write_cluster_secret(directory / CLUSTER_SECRET)
    return provisioned, users_path, secrets_path


@dataclass
class LocalCluster:
    """Nodes running as local subprocesses. ``stop`` ends every one of them; safe to call twice.
    Nodes die with the thread that started them, even when the process is SIGKILLed (Linux)."""

    specs: list[NodeSpec]
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    die_with_parent: bool = True  # nodes are SIGKILLed when the starting thread ends

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.specs]

    def spec(self, name: str) -> NodeSpec:
        return next(s for s in self.specs if s.name == name)

    def urls(self) -> dict[str, str]:
        return {s.name: s.client_url for s in self.specs}

    def start(self, names: Sequence[str] | None = None) -> None:
        for spec in self.specs:
            if names is None or spec.name in names:
                self.procs[spec.name] = subprocess.Popen(
                    spec.argv(),
                    preexec_fn=die_with_parent if self.die_with_parent else None,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL if spec.log else None,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                )

    def wait_ready(self, timeout: float = 20.0, names: Sequence[str] | None = None) -> dict:
        chosen = [s for s in self.specs if names is None or s.name in names]
        return wait_ready({s.name: (s.host, s.port) for s in chosen}, timeout)

    def status(self, name: str) -> dict | None:
        spec = self.spec(name)
        return fetch_status(spec.host, spec.port)

    def primary(self) -> str | None:
        """The node that says it is primary, if exactly one of the running ones does."""
        primaries = [
            n for n in self.procs if (s := self.status(n)) is not None and s["role"] == "primary"
        ]
        return primaries[0] if len(primaries) == 1 else None

    def kill(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is not None:
            proc.kill()
            proc.wait()

    def pause(self, name: str) -> None:
        self.procs[name].send_signal(signal.SIGSTOP)

    def resume(self, name: str) -> None:
        self.procs[name].send_signal(signal.SIGCONT)

    def restart(self, name: str) -> None:
        self.kill(name)
        self.start([name])

    def stop(self, timeout: float = 5.0) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.terminate()
        deadline = time.monotonic() + timeout
        for proc in self.procs.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()
