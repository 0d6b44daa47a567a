"""What every backend gives the harness and the nemesis: a started cluster behind Toxiproxy.

A backend starts the node processes and one Toxiproxy server, and routes every link through its
own proxy: each client group -> each node, and each node -> each other node, one per direction.
The harness and the nemesis rely only on this interface, never on how a backend does its job.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from nemesis.proxies import ProxyControl


def primary_named_by_most(statuses: Iterable[dict[str, Any] | None]) -> str | None:
    """The primary that most of the answering nodes name; None when none names one."""
    votes = Counter(s.get("primary") for s in statuses if s and s.get("primary"))
    return votes.most_common(1)[0][0] if votes else None


@dataclass(frozen=True)
class ClusterSpec:
    """Everything a backend needs to start a cluster; it is stored in ``test.json``."""

    nodes: tuple[str, ...]
    mode: str  # "cp" or "ap"
    users_file: Path  # public directory: users' public keys and conversation members
    run_dir: Path  # logs go to run_dir/logs/<node>.log and run_dir/logs/toxiproxy.log
    client_groups: int = 2
    bug: str | None = None
    e2e: bool = True
    node_args: tuple[str, ...] = field(default=())

    @property
    def client_group_names(self) -> tuple[str, ...]:
        return tuple(f"c{i}" for i in range(self.client_groups))


class Cluster(Protocol):
    """A running cluster. Every method may be called from a worker thread; none blocks for long."""

    spec: ClusterSpec
    proxies: ProxyControl  # the run's Toxiproxy, for the nemesis's network faults

    @property
    def nodes(self) -> tuple[str, ...]: ...

    @property
    def client_groups(self) -> tuple[str, ...]: ...

    def status(self, node: str, timeout: float = 1.0) -> dict[str, Any] | None:
        """The node's status JSON, or None when it does not answer within ``timeout``."""
        ...

    def primary(self) -> str | None:
        """The node most nodes name as primary now, or None."""
        ...

    def client_urls(self, group: str) -> dict[str, str]:
        """Node name -> WebSocket URL that clients of ``group`` use (through their proxies)."""
        ...

    def status_url(self, node: str) -> str:
        """An HTTP URL of the node's status page that bypasses the fault proxies."""
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
