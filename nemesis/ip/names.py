"""The names of everything one IP-layer run makes, all carrying the run's id.

A run id is ``sbip`` followed by six hex digits: the first two are the index of the run's /24
(see :mod:`nemesis.ip.addressing`), the other four are random. Every namespace, interface, nft
table and iptables chain the run makes starts with it, so :mod:`nemesis.ip.cleanup` finds what a
killed run left by name alone, and two live runs (which never share a /24) never share a name.
Interface names stay within Linux's 15 characters.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

PREFIX = "sbip"
RUN_ID = re.compile(rf"^{PREFIX}[0-9a-f]{{6}}$")
_OWNED = re.compile(rf"^({PREFIX}[0-9a-f]{{6}})(?:-|$)")
NODE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,39}$")
IFNAMSIZ = 15
NFQUEUE_BASE = 2000  # queue numbers are per network namespace; see RunNames.queue


def new_run_id(subnet_index: int) -> str:
    """A fresh run id for the /24 numbered ``subnet_index`` (0-255)."""
    if not 0 <= subnet_index <= 0xFF:
        raise ValueError(f"subnet index must be 0-255, not {subnet_index}")
    return f"{PREFIX}{subnet_index:02x}{secrets.token_hex(2)}"


def run_id_of(name: str) -> str | None:
    """The run id that ``name`` (a namespace, interface, table or chain) belongs to, or None."""
    found = _OWNED.match(name)
    return found.group(1) if found else None


def check_node_name(name: str) -> str:
    """``name`` if it can name a node or a client group in a namespace name; else ValueError."""
    if not NODE_NAME.match(name):
        raise ValueError(
            f"{name!r} cannot name a node or client group of the IP network: use 1-40 letters, "
            "digits, '_', '.' or '-', not starting with '.' or '-'"
        )
    return name


@dataclass(frozen=True)
class RunNames:
    """The names of one run's parts.

    ``table`` is the nft table (family ``ip``) in every node's namespace; ``chain_in`` and
    ``chain_out`` are the iptables-legacy chains that send delayed packets to the NFQUEUE
    ``queue``; ``hub`` is the namespace that holds the bridge ``bridge``; ``host_leg`` is the
    root-namespace end of the veth from the harness into the bridge, ``hub_leg`` its other end.
    """

    run_id: str

    def __post_init__(self) -> None:
        if not RUN_ID.match(self.run_id):
            raise ValueError(f"{self.run_id!r} is not a run id ({PREFIX} and six hex digits)")

    @property
    def subnet_index(self) -> int:
        return int(self.run_id[len(PREFIX) : len(PREFIX) + 2], 16)

    @property
    def table(self) -> str:
        return self.run_id

    @property
    def chain_in(self) -> str:
        return f"{self.run_id}-in"

    @property
    def chain_out(self) -> str:
        return f"{self.run_id}-out"

    @property
    def queue(self) -> int:
        """The NFQUEUE number of this run's delayers.

        Queues belong to a network namespace, so two delayers in two namespaces never meet
        whatever their numbers; the number still differs between concurrent runs (it carries the
        /24's index), so that even a namespace two runs shared could not mix their packets.
        """
        return NFQUEUE_BASE + self.subnet_index

    @property
    def hub(self) -> str:
        return f"{self.run_id}-hub"

    @property
    def bridge(self) -> str:
        return f"{self.run_id}-br"

    @property
    def host_leg(self) -> str:
        return f"{self.run_id}-h"

    @property
    def hub_leg(self) -> str:
        return f"{self.run_id}-hh"

    def node_netns(self, node: str) -> str:
        return f"{self.run_id}-{check_node_name(node)}"

    def probe_netns(self) -> str:
        return f"{self.run_id}-probe"

    def node_port(self, index: int) -> str:
        """The hub-side end of node number ``index``'s veth (the node's end is ``eth0``)."""
        name = f"{self.run_id}-v{index}"
        if len(name) > IFNAMSIZ:
            raise ValueError(f"too many nodes for interface names: {name} is over 15 characters")
        return name
