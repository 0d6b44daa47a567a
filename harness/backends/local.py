"""The local backend: every node a subprocess on 127.0.0.1, every link through a local Toxiproxy.

Each directed link gets its own proxy: ``nA-nB`` is the address node A dials for node B, and
``cK-nB`` is the address clients of group K use for node B; so a partition is a set of proxies cut.
Node processes are started so that they die with the harness (``PR_SET_PDEATHSIG``), and
:meth:`LocalCluster.stop` ends everything it started, also after a failure half-way through start.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.backends.base import ClusterSpec, primary_named_by_most
from nemesis.interface import proxy_name
from nemesis.orphans import die_with_parent
from nemesis.proxies import ProxyControl
from nemesis.toxiproxy_server import ToxiproxyServer, free_port
from system_under_test.launcher import fetch_status


def node_argv(
    spec: ClusterSpec, node: str, listen: str, peers: dict[str, str], db: Path, log: Path
) -> list[str]:
    """The command line of one node (system_under_test.node), peers given as dial addresses."""
    argv = [sys.executable, "-m", "system_under_test.node", "--name", node, "--listen", listen]
    for peer, address in sorted(peers.items()):
        argv += ["--peer", f"{peer}={address}"]
    argv += ["--db", str(db), "--users", str(spec.users_file), "--mode", spec.mode]
    argv += ["--e2e", "on" if spec.e2e else "off", "--log", str(log)]
    if spec.bug:
        argv += ["--bug", spec.bug]
    return argv + list(spec.node_args)


@dataclass
class LocalNode:
    name: str
    port: int
    argv: list[str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    paused: bool = False


@dataclass
class LocalCluster:
    """A running local cluster; satisfies harness.backends.base.Cluster and nemesis's Target."""

    spec: ClusterSpec
    toxiproxy: ToxiproxyServer
    proxies: ProxyControl
    nodes_by_name: dict[str, LocalNode]
    client_addresses: dict[str, dict[str, str]] = field(default_factory=dict)
    stopped: bool = False

    @property
    def nodes(self) -> tuple[str, ...]:
        return self.spec.nodes

    @property
    def client_groups(self) -> tuple[str, ...]:
        return self.spec.client_group_names

    @property
    def toxiproxy_url(self) -> str:
        return self.toxiproxy.url

    def client_urls(self, group: str) -> dict[str, str]:
        return {node: f"ws://{addr}" for node, addr in self.client_addresses[group].items()}

    def status_url(self, node: str) -> str:
        return f"http://127.0.0.1:{self.nodes_by_name[node].port}/status"

    def status(self, node: str, timeout: float = 1.0) -> dict[str, Any] | None:
        return fetch_status("127.0.0.1", self.nodes_by_name[node].port, timeout)

    def primary(self) -> str | None:
        """The primary named by most nodes that answer (None if none answers or names one)."""
        return primary_named_by_most(self.status(node, timeout=0.5) for node in self.nodes)

    def _spawn(self, node: LocalNode) -> None:
        log = open(node.log, "ab")  # noqa: SIM115 (the child holds it)
        try:
            node.process = subprocess.Popen(
                node.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
                cwd=str(Path(__file__).resolve().parents[2]),
            )
        finally:
            log.close()
        node.paused = False

    def kill(self, node: str) -> None:
        n = self.nodes_by_name[node]
        if n.process and n.process.poll() is None:
            n.process.send_signal(signal.SIGKILL)
            n.process.wait(timeout=10)
        n.paused = False

    def restart(self, node: str) -> None:
        n = self.nodes_by_name[node]
        if n.process and n.process.poll() is None:
            return
        self._spawn(n)

    def pause(self, node: str) -> None:
        n = self.nodes_by_name[node]
        if n.process and n.process.poll() is None:
            n.process.send_signal(signal.SIGSTOP)
            n.paused = True

    def resume(self, node: str) -> None:
        n = self.nodes_by_name[node]
        if n.process and n.process.poll() is None:
            n.process.send_signal(signal.SIGCONT)
        n.paused = False

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Return once every node's status page answers; raise RuntimeError naming the laggards."""
        deadline = time.monotonic() + timeout
        waiting = set(self.nodes)
        while waiting and time.monotonic() < deadline:
            for node in sorted(waiting):
                proc = self.nodes_by_name[node].process
                if proc is not None and proc.poll() is not None:
                    raise RuntimeError(
                        f"node {node} exited with code {proc.returncode} during start; "
                        f"read {self.nodes_by_name[node].log}"
                    )
                if self.status(node):
                    waiting.discard(node)
            if waiting:
                time.sleep(0.1)
        if waiting:
            raise RuntimeError(
                f"node(s) {', '.join(sorted(waiting))} did not answer /status in {timeout:.0f} s;"
                f" read their logs in {self.spec.run_dir / 'logs'}"
            )

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        for n in self.nodes_by_name.values():
            proc = n.process
            if proc is None or proc.poll() is not None:
                continue
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGCONT)
                proc.terminate()
        for n in self.nodes_by_name.values():
            proc = n.process
            if proc is None:
                continue
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        with contextlib.suppress(Exception):
            self.proxies.delete_all()
        self.toxiproxy.stop()


def start_local(spec: ClusterSpec) -> LocalCluster:
    """Start Toxiproxy, one proxy per link, and the nodes; wait until every node answers."""
    logs = spec.run_dir / "logs"
    data = spec.run_dir / "data"
    logs.mkdir(parents=True, exist_ok=True)
    data.mkdir(parents=True, exist_ok=True)
    server = ToxiproxyServer(log_path=logs / "toxiproxy.log")
    server.start()
    cluster: LocalCluster | None = None
    try:
        proxies = ProxyControl(server.url)
        ports = {node: free_port() for node in spec.nodes}
        peer_addr: dict[str, dict[str, str]] = {node: {} for node in spec.nodes}
        for src in spec.nodes:
            for dst in spec.nodes:
                if src != dst:
                    name = proxy_name(src, dst)
                    peer_addr[src][dst] = proxies.create(
                        name, "127.0.0.1:0", f"127.0.0.1:{ports[dst]}"
                    )
        client_addresses: dict[str, dict[str, str]] = {}
        for group in spec.client_group_names:
            client_addresses[group] = {
                node: proxies.create(
                    proxy_name(group, node), "127.0.0.1:0", f"127.0.0.1:{ports[node]}"
                )
                for node in spec.nodes
            }
        nodes = {
            node: LocalNode(
                node,
                ports[node],
                node_argv(
                    spec,
                    node,
                    f"127.0.0.1:{ports[node]}",
                    peer_addr[node],
                    data / f"{node}.sqlite",
                    logs / f"{node}.log",
                ),
                logs / f"{node}.log",
            )
            for node in spec.nodes
        }
        cluster = LocalCluster(spec, server, proxies, nodes, client_addresses)
        for node in nodes.values():
            cluster._spawn(node)
        cluster.wait_ready()
        return cluster
    except BaseException:
        if cluster is not None:
            cluster.stop()
        else:
            server.stop()
        raise
