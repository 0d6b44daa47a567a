"""What the nemesis knows of a cluster: its nodes, its client groups, its processes and its primary.

The nemesis never imports the harness; a backend's cluster object (or a thin adapter around it)
satisfies :class:`Target` structurally. Network faults do not go through the target: they go
through the Toxiproxy proxies named by :func:`proxy_name`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol


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


class PowerLossTarget(Target, Protocol):
    """A target whose nodes can lose power: ``power_loss`` kills the node's process and drops
    the writes it never fsynced; ``restart`` starts it again (as after ``kill``)."""

    def power_loss(self, node: str) -> None: ...


@dataclass(frozen=True)
class Capabilities:
    """What a system and its backend let the nemesis do, as the system declares it.

    ``has_primary``: the system names its primary (so faults can aim at it); ``can_kill`` and
    ``can_pause``: the backend started the nodes' processes; ``can_lose_power``: the target has
    ``power_loss(node)`` (un-fsynced writes dropped). ``system`` names the system in errors.
    """

    system: str = "reference"
    has_primary: bool = True
    can_kill: bool = True
    can_pause: bool = True
    can_lose_power: bool = False

    def lacks(self, kind: str) -> str | None:
        """Why fault ``kind`` cannot run against this system, or ``None`` when it can."""
        needs = {
            "kill": (self.can_kill, "whose nodes the backend can kill"),
            "pause": (self.can_pause, "whose nodes the backend can pause"),
            "power-loss": (self.can_lose_power, "whose nodes can lose power (power_loss)"),
        }
        if kind in needs and not needs[kind][0]:
            return f"nemesis kind {kind} needs a system {needs[kind][1]}; {self.system} cannot"
        return None

    def lacks_primary(self, what: str) -> str | None:
        """Why ``what`` (a shape or an aim) cannot run, or ``None`` when the system names its
        primary."""
        if self.has_primary:
            return None
        return f"{what} needs a system that names its primary; {self.system} does not"

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Capabilities:
        """Read :meth:`to_json`'s data; ``None`` (a schedule from before capabilities) gives the
        reference system's."""
        if data is None:
            return cls()
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
