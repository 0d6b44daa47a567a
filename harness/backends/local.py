"""The local backend: every node a subprocess on 127.0.0.1, every link through a local Toxiproxy.

Each directed link gets its own proxy: ``nA-nB`` is the address node A dials for node B, and
``cK-nB`` is the address clients of group K use for node B; so a partition is a set of proxies cut.
Node processes are started so that they die with the harness (``PR_SET_PDEATHSIG``), and
:meth:`LocalCluster.stop` ends everything it started, also after a failure half-way through start.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.backends.base import ClusterSpec, NodeStatuses, plan_links, write_launch_files
from nemesis.power import LazyDisks
from nemesis.proxies import ProxyControl
from nemesis.toxiproxy_server import ToxiproxyServer
from splitbrain.ports import free_port_block
from splitbrain.processes import die_with_parent
from systems.seam import NodeAddresses, NodeLaunch

HOST = "127.0.0.1"


@dataclass
class LocalNode:
    name: str
    ports: dict[str, int]
    launch: NodeLaunch
    log: Path
    process: subprocess.Popen[bytes] | None = None
    paused: bool = False


@dataclass
class LocalCluster(NodeStatuses):
    """A running local cluster; satisfies harness.backends.base.Cluster and nemesis's Target."""

    spec: ClusterSpec
    toxiproxy: ToxiproxyServer
    proxies: ProxyControl
    nodes_by_name: dict[str, LocalNode]
    client_addresses: dict[str, dict[str, str]] = field(default_factory=dict)
    stopped: bool = False
    disks: LazyDisks | None = None

    @property
    def can_lose_power(self) -> bool:
        """Whether the nodes' data directories are on lazyfs (see :meth:`power_loss`)."""
        return self.disks is not None

    def power_loss(self, node: str) -> None:
        """Kill ``node`` and drop every write it did not fsync; :meth:`restart` brings it back
        on the same (now older) data."""
        if self.disks is None:
            raise RuntimeError(
                "this cluster's data directories are not on lazyfs; start it with lazy_disks"
            )
        self.kill(node)
        self.disks.lose_unsynced(node)

    @property
    def toxiproxy_url(self) -> str:
        return self.toxiproxy.url

    def client_endpoints(self, group: str) -> dict[str, str]:
        return dict(self.client_addresses[group])

    def status_address(self, node: str) -> tuple[str, int]:
        return HOST, self.nodes_by_name[node].ports[self.spec.system.status_port]

    def _spawn(self, node: LocalNode) -> None:
        log = open(node.log, "ab")  # noqa: SIM115 (the child holds it)
        try:
            node.process = subprocess.Popen(
                node.launch.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
                cwd=str(Path(__file__).resolve().parents[2]),
                env={**os.environ, **node.launch.env},
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
                status = self.status(node)
                if status is not None and status.get("ready", True):
                    waiting.discard(node)
            if waiting:
                time.sleep(0.1)
        if waiting:
            raise RuntimeError(
                f"node(s) {', '.join(sorted(waiting))} did not say ready in {timeout:.0f} s;"
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
        if self.disks is not None:
            self.disks.unmount_all()


def start_local(spec: ClusterSpec) -> LocalCluster:
    """Start Toxiproxy, one proxy per link, and the nodes; wait until every node is ready."""
    system = spec.system
    logs = spec.run_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    disks = LazyDisks(spec.run_dir / "disks") if spec.lazy_disks else None
    server = ToxiproxyServer(log_path=logs / "toxiproxy.log")
    server.start()
    cluster: LocalCluster | None = None
    try:
        proxies = ProxyControl(server.url)
        free = itertools.count(free_port_block(len(spec.nodes) * len(system.port_names)))
        ports = {node: {name: next(free) for name in system.port_names} for node in spec.nodes}
        peer_addr: dict[str, dict[str, str]] = {node: {} for node in spec.nodes}
        client_addresses: dict[str, dict[str, str]] = {g: {} for g in spec.client_group_names}
        for link in plan_links(spec):
            upstream = f"{HOST}:{ports[link.dst][link.port]}"
            dialled = proxies.create(link.name, f"{HOST}:0", upstream)
            (client_addresses if link.from_clients else peer_addr)[link.src][link.dst] = dialled
        nodes: dict[str, LocalNode] = {}
        for node in spec.nodes:
            data_dir = disks.mount(node) if disks is not None else spec.data_dir(node)
            data_dir.mkdir(parents=True, exist_ok=True)
            addresses = NodeAddresses(
                name=node,
                bind_host=HOST,
                ports=ports[node],
                peers=peer_addr[node],
                data_dir=data_dir,
                log=spec.log(node),
                run_dir=spec.run_dir,
                python=sys.executable,
            )
            launch = system.launch(addresses)
            write_launch_files(launch)
            nodes[node] = LocalNode(node, ports[node], launch, spec.log(node))
        cluster = LocalCluster(spec, server, proxies, nodes, client_addresses, disks=disks)
        for local_node in nodes.values():
            cluster._spawn(local_node)
        cluster.wait_ready()
        return cluster
    except BaseException:
        if cluster is not None:
            cluster.stop()
        else:
            server.stop()
            if disks is not None:
                disks.unmount_all()
        raise
