"""What the nemesis knows of a cluster: its nodes, its client groups, its processes and its primary.

The nemesis never imports the harness; a backend's cluster object (or a thin adapter around it)
satisfies :class:`Target` structurally. Network faults do not go through the target: they go
through the Toxiproxy proxies named by :func:`proxy_name`.
"""

from __future__ import annotations

from typing import Protocol


def proxy_name(src: str, dst: str) -> str:
    """The Toxiproxy proxy name of the directed link ``src -> dst``.

    ``"n1-n2"`` carries what node n1 dials to n2; ``"c0-n3"`` what client group c0 dials to n3.
    """
    return f"{src}-{dst}"


class Target(Protocol):
    """A running cluster as the nemesis sees it.

    Methods are blocking and are called from a worker thread, one at a time. Each returns once
    the process fault is in effect (or raises: the nemesis then records the fault as ``info``).
    """

    @property
    def nodes(self) -> tuple[str, ...]: ...

    @property
    def client_groups(self) -> tuple[str, ...]: ...

    def kill(self, node: str) -> None: ...
    def restart(self, node: str) -> None: ...
    def pause(self, node: str) -> None: ...
    def resume(self, node: str) -> None: ...

    def primary(self) -> str | None:
        """The node that is primary now, by asking the cluster; ``None`` when none is known."""
        ...
