"""What the kinds that hit nodes share: whom a step hits (``choose`` and the seeded nodes), how
that is drawn, checked and said, and how the current primary is swapped in when it starts.

``kill``, ``pause`` and ``power-loss`` are :class:`NodeFault` subclasses that say only what they
do to one node; a new kind aimed at nodes (a disk fault, say) can be one too.
"""

from __future__ import annotations

import random
from abc import abstractmethod
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from nemesis.kind import (
    Cluster,
    Controls,
    DrawContext,
    Fault,
    FaultKind,
    Params,
    StartContext,
    nodes_value,
)

NODE_CHOICES: Mapping[str, str] = MappingProxyType(
    {
        "primary": "the node that is primary when the fault starts (the seeded node if none)",
        "majority": "a majority of nodes that includes the primary when one is known",
        "all": "every node at once",
        "random": "nodes drawn from the seed",
    }
)
"""How a step aimed at nodes picks them (the step's ``choose``)."""

PRIMARY_CHOICES = frozenset({"primary", "majority"})
"""``choose`` values that aim at the primary: the running step asks the cluster for it."""


def step_nodes(params: Mapping[str, Any]) -> list[str]:
    """The seeded nodes of a step: ``nodes``, or ``[node]`` (as version 1 wrote it)."""
    nodes = params.get("nodes")
    return list(nodes) if isinstance(nodes, list) else [params["node"]]


def draw_aim(context: DrawContext, rng: random.Random) -> Params:
    """Whom a fault hits: ``choose`` and the seeded ``node`` or ``nodes``, with the profile's
    shares of the primary, a majority with it, and every node."""
    nodes, profile, caps = context.nodes, context.profile, context.capabilities
    r = rng.random()
    majority = len(nodes) // 2 + 1
    if r < profile.primary_share and caps.has_primary:
        return {"choose": "primary", "node": rng.choice(nodes)}
    r -= profile.primary_share
    if r < profile.majority_share and len(nodes) > 1:
        picked = sorted(rng.sample(list(nodes), majority))
        return {"choose": "majority" if caps.has_primary else "random", "nodes": picked}
    r -= profile.majority_share
    if r < profile.all_share:
        return {"choose": "all", "nodes": list(nodes)}
    return {"choose": "random", "node": rng.choice(nodes)}


def check_aim(params: Mapping[str, Any], cluster: Cluster) -> None:
    hit = step_nodes(params)
    choose = params.get("choose", "random")
    if choose not in NODE_CHOICES or not hit or not set(hit) <= set(cluster.nodes):
        raise ValueError(
            f"needs choose in {list(NODE_CHOICES)} and node or nodes in {list(cluster.nodes)}"
        )


def _seeded(params: Mapping[str, Any]) -> str:
    nodes = params.get("nodes")
    if isinstance(nodes, list) and nodes:
        return ",".join(map(str, nodes))
    return str(params.get("node", "?"))


def aimed_words(verb: str, params: Mapping[str, Any]) -> str:
    """``"kill the primary (n1 if none is known)"``, ``"pause every node (n1,n2,n3)"``."""
    choose = params.get("choose", "random")
    if choose == "primary":
        return f"{verb} the primary ({_seeded(params)} if none is known)"
    if choose == "majority":
        return f"{verb} a majority with the primary ({_seeded(params)} if none is known)"
    if choose == "all":
        return f"{verb} every node ({_seeded(params)})"
    return f"{verb} {_seeded(params)}"


async def aimed_nodes(params: Mapping[str, Any], context: StartContext) -> list[str]:
    """The nodes a step hits now: for ``primary``, the current primary (the seeded node if none
    is known); for ``majority``, the seeded majority with the primary swapped in."""
    nodes = step_nodes(params)
    choose = params.get("choose", "random")
    if choose not in PRIMARY_CHOICES:
        return nodes
    primary = await context.primary()
    if primary is None or primary in nodes:
        return nodes
    if choose == "primary":
        return [primary]
    return sorted([*nodes[:-1], primary])


class NodeFault(FaultKind):
    """A fault that does one thing to each node it hits (:meth:`act`), aimed as
    :data:`NODE_CHOICES` say; ``verb`` is how its words start.

    Params: ``choose`` and the seeded ``node`` (one node) or ``nodes`` (several): the nodes hit,
    or when choosing the primary, the fallback if none is known (``majority`` swaps the primary
    in). The history value of its start and undo is ``{"nodes": [...]}``.
    """

    verb: ClassVar[str]

    @abstractmethod
    def act(self, controls: Controls, node: Any) -> None:
        """Do this fault to ``node`` (blocking)."""

    def draw(self, context: DrawContext, rng: random.Random) -> Params:
        return draw_aim(context, rng)

    def check(self, params: Mapping[str, Any], cluster: Cluster) -> None:
        check_aim(params, cluster)

    def words(self, params: Mapping[str, Any]) -> str:
        return aimed_words(self.verb, params)

    async def begin(self, params: Mapping[str, Any], context: StartContext) -> Fault:
        hit = await aimed_nodes(params, context)
        return Fault(nodes_value(hit), frozenset(hit), self.act)
