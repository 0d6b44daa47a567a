"""``latency``: delay on the links of one node, of the current primary, or on every link, then
clear it. Acts through the network control (:meth:`~nemesis.interface.NetworkControl.delay`).

Params: ``links`` ([[src, dst], ...]), ``ms``, ``jitter`` (ms), the ``node`` whose links they are,
and ``choose`` (``random`` | ``primary`` | ``all``, optional): with ``primary`` the links are the
primary's at run time, ``links`` the fallback's. Latency on a link already under latency
replaces it until both are undone. With the system's ``pair_links``, both directions of every
node pair named are delayed.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from nemesis.interface import Capabilities
from nemesis.kind import (
    Cluster,
    Controls,
    DrawContext,
    Effect,
    Fault,
    FaultKind,
    Params,
    StartContext,
    links_json,
    links_value,
)

CHOICES = ("random", "primary", "all")


def _clear(controls: Controls, link: Any) -> None:
    controls.network.clear_delay([link])


DELAYED = Effect(
    name="latency",
    undo_f="clear-latency",
    lane="delay",
    undo=_clear,
    value=links_value,
    heal_rank=1,
)


def latency_links(
    node: str | None, nodes: Sequence[str], client_groups: Sequence[str]
) -> list[list[str]]:
    """Every link into and out of ``node`` (client groups' links to it included), or every link
    of the cluster when ``node`` is ``None``."""
    if node is None:
        links = [[a, b] for a in nodes for b in nodes if a != b]
        return links + [[c, n] for c in client_groups for n in nodes]
    others = [n for n in nodes if n != node]
    links = [[node, n] for n in others] + [[n, node] for n in others]
    return links + [[c, node] for c in client_groups]


class Latency(FaultKind):
    name = "latency"
    description = (
        "add latency with jitter on the links of one node, of the primary, or on every link, "
        "then clear it"
    )
    start_f = "latency"
    effect = DELAYED
    colour = "#6d4c41"
    label = "latency"

    def lacks(self, capabilities: Capabilities) -> str | None:
        return None

    def draw(self, context: DrawContext, rng: random.Random) -> Params:
        nodes, profile = context.nodes, context.profile
        node = rng.choice(nodes)
        ms = rng.choice(profile.latency_ms)
        if rng.random() < profile.latency_all_share:
            choose = "all"
        elif context.capabilities.has_primary and rng.random() < profile.primary_share:
            choose = "primary"
        else:
            choose = "random"
        links = latency_links(None if choose == "all" else node, nodes, context.client_groups)
        return {"choose": choose, "node": node, "links": links, "ms": ms, "jitter": ms // 4}

    def check(self, params: Mapping[str, Any], cluster: Cluster) -> None:
        ends = set(cluster.nodes) | set(cluster.client_groups)
        if not params.get("links") or any(
            len(link) != 2 or not set(link) <= ends for link in params["links"]
        ):
            raise ValueError(f"links must be [src, dst] pairs of {sorted(ends)}")
        if int(params["ms"]) < 0 or int(params.get("jitter", 0)) < 0:
            raise ValueError("ms and jitter must be >= 0")
        if params.get("choose", "random") not in CHOICES:
            raise ValueError("choose must be random, primary or all")

    def words(self, params: Mapping[str, Any]) -> str:
        ms, jitter = params.get("ms", "?"), params.get("jitter", 0)
        choose = params.get("choose", "random")
        where = {
            "primary": f"the primary's links ({params.get('node', '?')} if none is known)",
            "all": "every link",
        }.get(choose, f"the links of {params.get('node', '?')}")
        return f"latency {ms} ms (jitter {jitter}) on {where}"

    async def begin(self, params: Mapping[str, Any], context: StartContext) -> Fault:
        links = {(str(src), str(dst)) for src, dst in params["links"]}
        if params.get("choose") == "primary":
            primary = await context.primary()
            if primary is not None:
                around = latency_links(primary, context.nodes, context.client_groups)
                links = {(a, b) for a, b in around}
        held = context.capabilities.paired(links, context.nodes)
        ms, jitter = int(params["ms"]), int(params.get("jitter", 0))
        value = {"links": links_json(held), "ms": ms, "jitter": jitter}

        def delay(controls: Controls, link: Any) -> None:
            controls.network.delay([link], ms, jitter)

        return Fault(value, frozenset(held), delay)
