"""The addresses of one run: a private /24 of its own, and who gets which address in it.

Runs take their /24 from ``10.213.0.0/16`` (index 0-255 is the third octet). A /24 is used only
when no route of the root namespace overlaps it (so the run never shadows a network the machine
already has) and the run wins the exclusive claim file of :class:`~nemesis.ip.leases.Leases`
(so two concurrent runs never share one). Within it: nodes from ``.1``, client groups from
``.101``, the harness itself at ``.254``.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from nemesis.ip.leases import Leases
from nemesis.ip.names import check_node_name, new_run_id
from nemesis.ip.netns import IpNetworkError

RUN_RANGE = ipaddress.IPv4Network("10.213.0.0/16")
FIRST_NODE = 1
FIRST_CLIENT = 101
HARNESS = 254
MAX_NODES = FIRST_CLIENT - FIRST_NODE
MAX_CLIENT_GROUPS = HARNESS - FIRST_CLIENT


def subnet(index: int) -> ipaddress.IPv4Network:
    """The /24 numbered ``index`` (0-255)."""
    if not 0 <= index <= 0xFF:
        raise ValueError(f"subnet index must be 0-255, not {index}")
    return ipaddress.IPv4Network((int(RUN_RANGE.network_address) + (index << 8), 24))


@dataclass(frozen=True)
class AddressPlan:
    """Who has which address in the run's /24 (``prefixlen`` 24)."""

    index: int
    nodes: Mapping[str, str]
    client_groups: Mapping[str, str]
    harness: str
    prefixlen: int = 24

    @property
    def network(self) -> ipaddress.IPv4Network:
        return subnet(self.index)

    def address(self, name: str) -> str:
        """The address of node or client group ``name``."""
        if name in self.nodes:
            return self.nodes[name]
        if name in self.client_groups:
            return self.client_groups[name]
        raise KeyError(f"{name!r} is neither a node nor a client group of this run")


def plan_addresses(index: int, nodes: Sequence[str], client_groups: Sequence[str]) -> AddressPlan:
    """The address plan of /24 ``index`` for these nodes and client groups, in order."""
    names = [check_node_name(n) for n in [*nodes, *client_groups]]
    if len(set(names)) != len(names):
        raise ValueError(f"node and client group names must be distinct: {names}")
    if len(nodes) > MAX_NODES or len(client_groups) > MAX_CLIENT_GROUPS:
        raise ValueError(
            f"one run's /24 holds at most {MAX_NODES} nodes and {MAX_CLIENT_GROUPS} client groups"
        )
    base = subnet(index).network_address
    return AddressPlan(
        index=index,
        nodes={n: str(base + FIRST_NODE + i) for i, n in enumerate(nodes)},
        client_groups={c: str(base + FIRST_CLIENT + i) for i, c in enumerate(client_groups)},
        harness=str(base + HARNESS),
    )


def free_indexes(routes: Iterable[str]) -> list[int]:
    """The /24 indexes that no route destination in ``routes`` (CIDR or address) overlaps."""
    taken: list[ipaddress.IPv4Network] = []
    for dst in routes:
        if dst == "default":
            continue
        try:
            taken.append(ipaddress.IPv4Network(dst, strict=False))
        except ValueError:
            continue
    return [i for i in range(256) if not any(subnet(i).overlaps(t) for t in taken)]


def claim_subnet(leases: Leases, routes: Iterable[str], rng: random.Random) -> tuple[int, str]:
    """Claim a free /24 for a new run; return (index, run id). Tries the free indexes in a
    random order so that concurrent starters rarely race for the same one."""
    candidates = free_indexes(routes)
    rng.shuffle(candidates)
    for index in candidates:
        run_id = new_run_id(index)
        if leases.claim_subnet(index, run_id):
            return index, run_id
    raise IpNetworkError(
        f"no free /24 in {RUN_RANGE} for another run: every one is claimed in "
        f"{leases.directory} or routed; run `splitbrain clean` to free those of dead runs"
    )
