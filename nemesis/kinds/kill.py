"""``kill``: ``kill -9`` of nodes (the primary, a majority with it, every node, or seeded ones),
then a restart. Needs a system whose node processes the backend runs."""

from __future__ import annotations

from typing import Any

from nemesis.interface import Capabilities
from nemesis.kind import Controls, Effect, nodes_value
from nemesis.kinds.aimed import NodeFault


def _restart(controls: Controls, node: Any) -> None:
    controls.target.restart(node)


KILLED = Effect(
    name="killed", undo_f="restart", lane="process", undo=_restart, value=nodes_value, heal_rank=3
)
"""Nodes whose process is gone until restarted (by a kill, a power loss, ...)."""


class Kill(NodeFault):
    name = "kill"
    description = (
        "kill -9 nodes (the primary, a majority with it, all, or one at random), then restart them"
    )
    start_f = "kill"
    effect = KILLED
    colour = "#d84315"
    label = "kill"
    verb = "kill"

    def lacks(self, capabilities: Capabilities) -> str | None:
        if capabilities.can_kill:
            return None
        return (
            "nemesis kind kill needs a system whose nodes the backend can kill; "
            f"{capabilities.system} cannot"
        )

    def act(self, controls: Controls, node: Any) -> None:
        controls.target.kill(node)
