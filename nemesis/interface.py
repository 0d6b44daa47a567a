"""What the nemesis knows of a cluster: its processes (:class:`Target`), its network
(:class:`NetworkControl`) and what the system lets faults do (:class:`Capabilities`).

The nemesis never imports the harness; a backend's cluster object (or a thin adapter around it)
satisfies :class:`Target` structurally, and the backend's network layer satisfies
:class:`NetworkControl` (Toxiproxy today: :class:`nemesis.proxies.ToxiproxyNetwork`; an IP layer
of nftables rules and netem qdiscs can implement the same four calls).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

Link = tuple[str, str]
"""A directed link ``(src, dst)``: what node (or client group) ``src`` sends to node ``dst``."""

CutMode = Literal["drop", "refuse"]


def proxy_name(src: str, dst: str) -> str:
    """The Toxiproxy proxy name of the directed link ``src -> dst``.

    ``"n1-n2"`` carries what node n1 dials to n2; ``"c0-n3"`` what client group c0 dials to n3.
    """
    return f"{src}-{dst}"


class Target(Protocol):
    """A running cluster's processes as the nemesis sees it.

    Methods are blocking and are called from the nemesis's worker threads; calls on one node come
    one at a time and in the order the nemesis decided them, calls on different nodes may
    overlap. Each returns once the process fault is in effect (or raises: the nemesis then
    records the fault as ``info``). Start child processes so that they outlive the calling
    thread's idle time: the nemesis's threads live as long as the nemesis.
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


@runtime_checkable
class PowerLossTarget(Target, Protocol):
    """A target whose nodes can lose power: ``power_loss`` kills the node's process and drops
    the writes it never fsynced; ``restart`` starts it again (as after ``kill``). The
    ``power-loss`` kind acts only on such a target."""

    def power_loss(self, node: str) -> None: ...


class NetworkControl(Protocol):
    """The network between a cluster's nodes and its clients, link by directed link.

    Every call is blocking, returns once the change is in effect on every link given (or raises,
    naming what failed), and is harmless when repeated. The nemesis calls it from worker threads:
    changes to one link come one at a time, in the order decided; changes to different links
    may overlap, so an implementation must be thread-safe. A call may take long (Toxiproxy
    waits for a link whose destination does not read); the nemesis bounds how long it waits.
    """

    def cut(self, links: Collection[Link], mode: CutMode = "drop") -> None:
        """Stop the traffic of ``links``: ``drop`` keeps connections open but silent;
        ``refuse`` closes them and refuses new ones."""
        ...

    def heal(self, links: Collection[Link]) -> None:
        """Undo :meth:`cut` (either mode); delay stays."""
        ...

    def delay(self, links: Collection[Link], ms: int, jitter: int = 0) -> None:
        """Delay the traffic of ``links`` by ``ms`` +- ``jitter`` milliseconds (each direction
        of a connection through a link); replaces an earlier delay on the same link."""
        ...

    def clear_delay(self, links: Collection[Link]) -> None:
        """Undo :meth:`delay`; a cut stays."""
        ...


@dataclass(frozen=True)
class Capabilities:
    """What a system and its backend let the nemesis do, as the system declares it.

    ``has_primary``: the system names its primary (so faults can aim at it); ``can_kill`` and
    ``can_pause``: the backend started the nodes' processes; ``can_lose_power``: the target has
    ``power_loss(node)`` (un-fsynced writes dropped). ``pair_links``: two nodes share one
    connection whichever side dialled it (NATS routes), so cutting or delaying one direction of
    a node pair acts on both: the nemesis then always changes both directions together (see
    :meth:`paired`). ``system`` names the system in errors. Which fault kind needs what is the
    kind's own business (its ``lacks``).
    """

    system: str = "reference"
    has_primary: bool = True
    can_kill: bool = True
    can_pause: bool = True
    can_lose_power: bool = False
    pair_links: bool = False

    def lacks_primary(self, what: str) -> str | None:
        """Why ``what`` (a shape or an aim) cannot run, or ``None`` when the system names its
        primary."""
        if self.has_primary:
            return None
        return f"{what} needs a system that names its primary; {self.system} does not"

    def paired(self, links: Iterable[Link], nodes: Collection[str]) -> frozenset[Link]:
        """The links to change for ``links``: with ``pair_links``, every node -> node link comes
        with its reverse (a one-way change cannot be one-way there); otherwise ``links``
        themselves. Client group -> node links have no reverse and stay as they are."""
        links = frozenset(links)
        if not self.pair_links:
            return links
        reverse = {(b, a) for a, b in links if a in nodes and b in nodes}
        return links | reverse

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
