"""What every backend gives the harness and the nemesis: a started cluster behind Toxiproxy.

A backend starts the nodes a :class:`~systems.seam.System` says to launch and one Toxiproxy
server, and routes every link of :func:`plan_links` through its own proxy: each client group ->
each node's client port, and each node -> each other node's peer port, one per direction. The
harness and the nemesis rely only on this interface, never on how a backend does its job or on
which system runs. :class:`NodeStatuses` is the part every backend shares: reading the nodes'
statuses and the primary through the system.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from nemesis.interface import proxy_name
from splitbrain.names import client_group_names
from systems.seam import NodeLaunch, System

if TYPE_CHECKING:
    from nemesis.proxies import ProxyControl


@dataclass(frozen=True)
class ClusterSpec:
    """Everything a backend needs to start a cluster."""

    nodes: tuple[str, ...]
    system: System
    run_dir: Path  # logs go to run_dir/logs/<node>.log, data to run_dir/data/<node>/
    client_groups: int = 2
    lazy_disks: bool = False  # data directories on lazyfs, so nodes can lose power

    @property
    def client_group_names(self) -> tuple[str, ...]:
        return client_group_names(self.client_groups)

    def data_dir(self, node: str) -> Path:
        return self.run_dir / "data" / node

    def log(self, node: str) -> Path:
        return self.run_dir / "logs" / f"{node}.log"


def write_launch_files(launch: NodeLaunch) -> None:
    """Write the files a node needs before it starts (owner-only: they may hold secrets)."""
    for path, content in launch.files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        path.write_bytes(content)


def primary_of(system: System, statuses: Mapping[str, dict[str, Any] | None]) -> str | None:
    """The primary the system reads from these statuses; None for systems that name none."""
    return system.primary(statuses) if system.capabilities.primary else None


@dataclass(frozen=True)
class Link:
    """One connection a run needs: ``src`` (a node, or a client group) dials node ``dst`` on
    its port ``port`` (a port name of the system). The network a backend builds decides the
    address ``src`` dials: today the listen address of the link's own proxy, named ``name``
    (so the nemesis cuts it by name); a network where every node has an address of its own
    would give ``dst``'s address and port directly."""

    src: str
    dst: str
    port: str
    from_clients: bool

    @property
    def name(self) -> str:
        return proxy_name(self.src, self.dst)


def plan_links(spec: ClusterSpec) -> list[Link]:
    """Every link of the run, the same for every backend: each node to each other node's peer
    port (for systems whose nodes dial each other), then each client group to each node's client
    port. Sources and destinations keep the order of ``spec``'s nodes and groups."""
    system = spec.system
    links: list[Link] = []
    if system.peer_port is not None:
        links += [
            Link(src, dst, system.peer_port, False)
            for src in spec.nodes
            for dst in spec.nodes
            if src != dst
        ]
    links += [
        Link(group, dst, system.client_port, True)
        for group in spec.client_group_names
        for dst in spec.nodes
    ]
    return links


class NodeStatuses:
    """The nodes, their statuses and the primary, as every backend reads them: through the
    system, at the address a backend's :meth:`status_address` gives."""

    spec: ClusterSpec
    PRIMARY_TIMEOUT = 0.5  # seconds a node has to answer when the primary is asked for

    @property
    def nodes(self) -> tuple[str, ...]:
        return self.spec.nodes

    @property
    def client_groups(self) -> tuple[str, ...]:
        return self.spec.client_group_names

    def status_address(self, node: str) -> tuple[str, int]:
        raise NotImplementedError

    def status(self, node: str, timeout: float = 1.0) -> dict[str, Any] | None:
        """The node's status, or None when it does not answer within ``timeout`` seconds."""
        host, port = self.status_address(node)
        return self.spec.system.status(host, port, timeout)

    def statuses(self, timeout: float = 1.0) -> dict[str, dict[str, Any] | None]:
        """Every node's status (None for those that do not answer)."""
        return {node: self.status(node, timeout) for node in self.nodes}

    def primary(self) -> str | None:
        """The primary the system names from the nodes that answer; None if none does."""
        return primary_of(self.spec.system, self.statuses(timeout=self.PRIMARY_TIMEOUT))


class Cluster(Protocol):
    """A running cluster. Every method may be called from a worker thread; none blocks for long."""

    spec: ClusterSpec
    proxies: ProxyControl  # the run's Toxiproxy, for the nemesis's network faults

    @property
    def nodes(self) -> tuple[str, ...]: ...

    @property
    def client_groups(self) -> tuple[str, ...]: ...

    def status(self, node: str, timeout: float = 1.0) -> dict[str, Any] | None:
        """The node's status, or None when it does not answer within ``timeout``."""
        ...

    def statuses(self, timeout: float = 1.0) -> dict[str, dict[str, Any] | None]:
        """Every node's status (None for those that do not answer)."""
        ...

    def primary(self) -> str | None:
        """The node the system names as primary now, or None."""
        ...

    def client_endpoints(self, group: str) -> dict[str, str]:
        """Node name -> ``host:port`` that clients of ``group`` dial (through their proxies)."""
        ...

    def status_address(self, node: str) -> tuple[str, int]:
        """Host and port of the node's status endpoint, bypassing the fault proxies."""
        ...

    @property
    def toxiproxy_url(self) -> str:
        """Base URL of this run's Toxiproxy HTTP API, e.g. ``http://127.0.0.1:8474``."""
        ...

    def kill(self, node: str) -> None: ...
    def restart(self, node: str) -> None: ...
    def pause(self, node: str) -> None: ...
    def resume(self, node: str) -> None: ...

    def stop(self) -> None:
        """Stop every node, proxy and server this cluster started. Safe to call twice."""
        ...
