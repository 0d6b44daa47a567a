"""``partition``: the network cut into a shape (:mod:`nemesis.partitions`), then healed. Acts
through the network control (:meth:`~nemesis.interface.NetworkControl.cut`).

Params: ``shape``; ``groups`` (one-alone, halves, bridge as [half, [bridge], half]), ``ring``
(majorities-ring) or ``node`` (primary-alone: isolated when no primary is known); ``clients``
(client group -> side index, see :mod:`nemesis.partitions`); ``mode`` (``drop`` | ``refuse``,
optional: the run's default when absent). Every shape is symmetric between nodes; with the
system's ``pair_links`` a hand-written one-way cut is made two-way too.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from nemesis import partitions
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


def _heal(controls: Controls, link: Any) -> None:
    controls.network.heal([link])


CUT = Effect(name="cut", undo_f="heal", lane="cut", undo=_heal, value=links_value, heal_rank=0)


def _flat(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [name for item in value for name in _flat(item)]
    return [str(value)]


class Partition(FaultKind):
    name = "partition"
    description = "cut the network into a partition shape, then heal it"
    start_f = "partition"
    effect = CUT
    colour = "#7e57c2"
    label = "partition"
    companions_aimed = False

    def lacks(self, capabilities: Capabilities) -> str | None:
        return None

    def can_draw(self, context: DrawContext) -> None:
        count = len(context.nodes)
        if not partitions.shapes_for(count):
            raise ValueError(f"a partition needs at least 2 nodes, got {count}")
        partitions.usable_shapes(count, context.shapes, context.capabilities)

    def draw(self, context: DrawContext, rng: random.Random) -> Params:
        nodes, profile = context.nodes, context.profile
        usable = partitions.usable_shapes(len(nodes), context.shapes, context.capabilities)
        others = [s for s in usable if s != "primary-alone"]
        aimed = "primary-alone" in usable and profile.primary_share > 0
        if aimed and (not others or rng.random() < max(profile.primary_share, 1 / len(usable))):
            shape = "primary-alone"
        else:
            shape = rng.choice(others or usable)
        params = partitions.draw_params(shape, nodes, rng)
        sides = len(partitions.from_params(params, nodes).sides)
        params["clients"] = partitions.draw_placement(context.client_groups, sides, rng)
        params["mode"] = context.partition_mode
        return params

    def check(self, params: Mapping[str, Any], cluster: Cluster) -> None:
        partitions.from_params(params, cluster.nodes)
        if "mode" in params:
            partitions.check_partition_mode(params["mode"])

    def words(self, params: Mapping[str, Any]) -> str:
        shape = params.get("shape", "?")
        if "groups" in params:
            what = f"{shape} " + " | ".join(",".join(_flat(g)) for g in params["groups"])
        elif "ring" in params:
            what = f"{shape} " + ",".join(map(str, params["ring"]))
        elif shape == "primary-alone":
            what = f"{shape} ({params.get('node', '?')} if no primary is known)"
        else:
            what = f"{shape} {params.get('node', '?')}"
        return f"partition {what}"

    async def begin(self, params: Mapping[str, Any], context: StartContext) -> Fault:
        primary = await context.primary() if params.get("shape") == "primary-alone" else None
        mode = partitions.check_partition_mode(params.get("mode", context.partition_mode))
        placement = params.get("clients", {})
        nodes, groups = context.nodes, context.client_groups
        partition = partitions.from_params(params, nodes, primary)
        links = partitions.cut_links(partition, nodes, groups, placement)
        held = context.capabilities.paired(links, nodes)
        value = partitions.history_value(partition, groups, placement, mode)
        value["links_cut"] = links_json(held)

        def cut(controls: Controls, link: Any) -> None:
            controls.network.cut([link], mode)

        return Fault(value, frozenset(held), cut)
