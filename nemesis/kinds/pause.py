"""``pause``: SIGSTOP of nodes (``docker pause`` in containers), then a resume. Needs a system
whose node processes the backend runs. A kill of a paused node ends its pause (the resume then
finds nothing to resume)."""

from __future__ import annotations

from typing import Any

from nemesis.interface import Capabilities
from nemesis.kind import Controls, Effect, nodes_value
from nemesis.kinds.aimed import NodeFault


def _resume(controls: Controls, node: Any) -> None:
    controls.target.resume(node)


PAUSED = Effect(
    name="paused", undo_f="resume", lane="process", undo=_resume, value=nodes_value, heal_rank=2
)


class Pause(NodeFault):
    name = "pause"
    description = (
        "SIGSTOP nodes (the primary, a majority with it, all, or one at random), then resume them"
    )
    start_f = "pause"
    effect = PAUSED
    colour = "#00838f"
    label = "pause"
    verb = "pause"

    def lacks(self, capabilities: Capabilities) -> str | None:
        if capabilities.can_pause:
            return None
        return (
            "nemesis kind pause needs a system whose nodes the backend can pause; "
            f"{capabilities.system} cannot"
        )

    def act(self, controls: Controls, node: Any) -> None:
        controls.target.pause(node)
