"""Partition shapes as data: who sees whom, and which directed links a partition cuts.

Pure: no I/O, randomness only from a ``random.Random`` the caller passes. A partition is, in
general, the set of node -> node links it cuts (Jepsen's majorities ring has no groups); shapes that
have groups keep them for reading. Every shape here is symmetric: if a sees b, b sees a.

Client groups are placed on a *side*: a set of nodes a node of the partition sees. A client
group reaches exactly the nodes of its side, so a partition cuts some users off some nodes.

The shapes and the partition modes, with a line of description each, are here too
(:data:`SHAPES`, :data:`PARTITION_MODES`); :mod:`nemesis.catalogue` lists them for ``--help``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, cast

from nemesis.choices import listing, parse_names
from nemesis.interface import Capabilities, CutMode, Link

SHAPES: Mapping[str, str] = MappingProxyType(
    {
        "one-alone": "one node cut off from all the others",
        "primary-alone": "the node that is primary when the fault starts, cut off from the others",
        "halves": "the nodes split at random into two halves (the larger one a majority)",
        "majorities-ring": "every node sees a majority, and no two nodes see the same one",
        "bridge": "two halves that cannot talk, joined by one node that sees both",
    }
)

PARTITION_MODES: Mapping[str, str] = MappingProxyType(
    {
        "drop": "cut links stay connected but silent: data is dropped (timeout toxic at 0)",
        "refuse": "cut links refuse connections and close open ones (proxy disabled)",
    }
)

MIN_NODES: Mapping[str, int] = MappingProxyType(
    {"one-alone": 2, "primary-alone": 2, "halves": 2, "majorities-ring": 3, "bridge": 3}
)


@dataclass(frozen=True)
class Partition:
    """Who sees whom under one partition.

    ``views[n]`` is the set of nodes that ``n`` exchanges data with, itself included; it is
    symmetric. ``groups`` are the disjoint components as the shape names them (``()`` for
    majorities-ring); ``sides`` are the node sets a client group can be placed on.
    """

    shape: str
    nodes: tuple[str, ...]
    groups: tuple[tuple[str, ...], ...]
    views: Mapping[str, frozenset[str]]
    sides: tuple[frozenset[str], ...]

    def node_links_cut(self) -> frozenset[Link]:
        """Every directed node -> node link between nodes that do not see each other."""
        return frozenset(
            (a, b) for a in self.nodes for b in self.nodes if a != b and b not in self.views[a]
        )


def _check_cover(shape: str, groups: Sequence[Sequence[str]], nodes: Sequence[str]) -> None:
    flat = [n for g in groups for n in g]
    if sorted(flat) != sorted(nodes) or len(set(flat)) != len(flat):
        raise ValueError(
            f"{shape}: groups {[list(g) for g in groups]} must hold every node of "
            f"{list(nodes)} exactly once"
        )
    if len(groups) < 2 or any(not g for g in groups):
        raise ValueError(f"{shape}: needs at least two non-empty groups, got {groups}")


def split(shape: str, groups: Sequence[Sequence[str]], nodes: Sequence[str]) -> Partition:
    """Disjoint groups that see only their own members (one-alone, primary-alone, halves)."""
    _check_cover(shape, groups, nodes)
    tgroups = tuple(tuple(g) for g in groups)
    views = {n: frozenset(g) for g in tgroups for n in g}
    return Partition(shape, tuple(nodes), tgroups, views, tuple(frozenset(g) for g in tgroups))


def alone(shape: str, node: str, nodes: Sequence[str]) -> Partition:
    """``node`` cut off from all the others."""
    if node not in nodes:
        raise ValueError(f"{shape}: node {node!r} is not one of {list(nodes)}")
    return split(shape, [[node], [n for n in nodes if n != node]], nodes)


def bridge(groups: Sequence[Sequence[str]], nodes: Sequence[str]) -> Partition:
    """``groups`` = [half, [bridge node], half]: the halves cannot talk; the bridge sees all."""
    _check_cover("bridge", groups, nodes)
    if len(groups) != 3 or len(groups[1]) != 1:
        raise ValueError(f"bridge: groups must be [half, [bridge node], half], got {groups}")
    left, (middle,), right = (tuple(g) for g in groups)
    views = {n: frozenset((*left, middle)) for n in left}
    views |= {n: frozenset((*right, middle)) for n in right}
    views[middle] = frozenset(nodes)
    sides = (views[left[0]], views[middle], views[right[0]])
    return Partition("bridge", tuple(nodes), (left, (middle,), right), views, sides)


def majorities_ring(ring: Sequence[str], nodes: Sequence[str]) -> Partition:
    """Nodes in ``ring`` order; each sees its nearest ring neighbours, enough for a majority.

    With four or more nodes every view is a distinct window of the ring; with three, the ring is
    opened into a path (a - b - c), the only way each sees a distinct majority.
    """
    if sorted(ring) != sorted(nodes) or len(set(ring)) != len(ring):
        raise ValueError(f"majorities-ring: ring {list(ring)} must hold every node once")
    n = len(ring)
    if n < MIN_NODES["majorities-ring"]:
        raise ValueError(f"majorities-ring needs at least 3 nodes, got {n}")
    reach = (n // 2 + 1) // 2
    wrap = 2 * reach + 1 < n
    views: dict[str, frozenset[str]] = {}
    for i, node in enumerate(ring):
        near = range(i - reach, i + reach + 1)
        views[node] = frozenset(ring[j % n] for j in near if wrap or 0 <= j < n)
    sides = tuple(views[node] for node in ring)
    return Partition("majorities-ring", tuple(nodes), (), views, sides)


def from_params(
    params: Mapping[str, Any], nodes: Sequence[str], primary: str | None = None
) -> Partition:
    """Build the partition a schedule step describes (see :func:`draw_params`).

    ``primary-alone`` isolates ``primary`` when given, else the step's seeded ``node``.
    Raises ``ValueError`` naming what is wrong when the params do not fit ``nodes``.
    """
    shape = params.get("shape")
    if shape == "primary-alone":
        return alone(shape, primary or params["node"], nodes)
    if shape in ("one-alone", "halves"):
        return split(shape, params["groups"], nodes)
    if shape == "bridge":
        return bridge(params["groups"], nodes)
    if shape == "majorities-ring":
        return majorities_ring(params["ring"], nodes)
    raise ValueError(f"unknown partition shape {shape!r}; valid shapes are: {', '.join(SHAPES)}")


def draw_params(shape: str, nodes: Sequence[str], rng: random.Random) -> dict[str, Any]:
    """Concrete, JSON-ready parameters of one partition of ``shape``, drawn from ``rng``.

    one-alone, halves: ``{"groups": [...]}``; bridge: ``{"groups": [half, [bridge], half]}``;
    majorities-ring: ``{"ring": [...]}``; primary-alone: ``{"node": fallback}`` (the node
    isolated when no primary is known). Always also ``{"shape": shape}``.
    """
    if len(nodes) < MIN_NODES.get(shape, 0):
        raise ValueError(f"{shape} needs at least {MIN_NODES[shape]} nodes, got {len(nodes)}")
    order = list(nodes)
    rng.shuffle(order)
    n = len(order)
    if shape in ("one-alone", "primary-alone"):
        lone = order[0]
        if shape == "primary-alone":
            return {"shape": shape, "node": lone}
        return {"shape": shape, "groups": [[lone], [x for x in nodes if x != lone]]}
    if shape == "halves":
        return {"shape": shape, "groups": [sorted(order[: n // 2]), sorted(order[n // 2 :])]}
    if shape == "bridge":
        k = (n - 1) // 2
        return {"shape": shape, "groups": [sorted(order[:k]), [order[k]], sorted(order[k + 1 :])]}
    if shape == "majorities-ring":
        return {"shape": shape, "ring": order}
    raise ValueError(f"unknown partition shape {shape!r}; valid shapes are: {', '.join(SHAPES)}")


def shapes_for(node_count: int) -> tuple[str, ...]:
    """The shapes that make sense with ``node_count`` nodes, in catalogue order."""
    return tuple(s for s in SHAPES if node_count >= MIN_NODES[s])


def parse_shapes(text: str | Iterable[str]) -> tuple[str, ...]:
    """Parse ``--partition-shapes halves,bridge`` into shape names, in order, without repeats;
    an unknown name raises ``ValueError`` listing every shape with its description."""
    return parse_names(text, SHAPES, "partition shape")


def check_partition_mode(mode: str) -> CutMode:
    """Return ``mode`` if it is a partition mode; else raise ``ValueError`` listing the modes."""
    if mode not in PARTITION_MODES:
        raise ValueError(
            f"unknown partition mode {mode!r}; valid modes are: {listing(PARTITION_MODES)}"
        )
    return cast(CutMode, mode)


def usable_shapes(
    node_count: int, shapes: Sequence[str] = (), caps: Capabilities | None = None
) -> tuple[str, ...]:
    """The partition shapes to draw from: ``shapes`` (all if empty) that fit ``node_count`` and
    the system (``primary-alone`` only for one that names its primary).

    Raises ``ValueError`` when none fits, naming the shapes and the node count, and when a shape
    asked for by name needs what the system lacks.
    """
    caps = caps or Capabilities()
    asked = parse_shapes(shapes)
    if "primary-alone" in asked and (reason := caps.lacks_primary("partition shape primary-alone")):
        raise ValueError(f"{reason}; use other --partition-shapes")
    usable = tuple(
        s
        for s in shapes_for(node_count)
        if (not asked or s in asked) and (s != "primary-alone" or caps.has_primary)
    )
    if not usable:
        raise ValueError(
            f"no partition shape of {list(shapes) or 'the catalogue'} works with {node_count} "
            f"nodes; use more nodes or other shapes"
        )
    return usable


def draw_placement(
    client_groups: Sequence[str], side_count: int, rng: random.Random
) -> dict[str, int]:
    """Client group -> side index, round-robin from a seeded offset (distinct sides first)."""
    offset = rng.randrange(side_count)
    return {c: (offset + i) % side_count for i, c in enumerate(client_groups)}


def client_reach(
    partition: Partition, client_groups: Sequence[str], placement: Mapping[str, int]
) -> dict[str, frozenset[str]]:
    """Client group -> the nodes it still reaches; a group missing from ``placement`` is placed
    by its position in ``client_groups``."""
    sides = partition.sides
    return {c: sides[placement.get(c, i) % len(sides)] for i, c in enumerate(client_groups)}


def cut_links(
    partition: Partition,
    nodes: Sequence[str],
    client_groups: Sequence[str],
    placement: Mapping[str, int],
) -> frozenset[Link]:
    """Every directed link to cut: node -> node across the partition, and client group -> node
    for each node outside the group's side."""
    if tuple(nodes) != partition.nodes:
        raise ValueError(f"partition is over {list(partition.nodes)}, not {list(nodes)}")
    reach = client_reach(partition, client_groups, placement)
    clients = {(c, n) for c, seen in reach.items() for n in nodes if n not in seen}
    return partition.node_links_cut() | clients


def history_value(
    partition: Partition,
    client_groups: Sequence[str],
    placement: Mapping[str, int],
    mode: str,
) -> dict[str, Any]:
    """The ``value`` of a ``partition`` operation in the history (plain JSON data)."""
    reach = client_reach(partition, client_groups, placement)
    links = cut_links(partition, partition.nodes, client_groups, placement)
    return {
        "shape": partition.shape,
        "groups": [list(g) for g in partition.groups],
        "views": {n: sorted(partition.views[n]) for n in partition.nodes},
        "clients": {c: sorted(seen) for c, seen in reach.items()},
        "links_cut": [list(link) for link in sorted(links)],
        "mode": mode,
    }
