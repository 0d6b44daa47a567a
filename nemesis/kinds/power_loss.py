"""``power-loss``: nodes lose power: their process is killed and the writes they never fsynced
are dropped (the target's ``power_loss``: a lazyfs mount per node, :mod:`nemesis.power`), then
they restart on what was synced. Needs a target that is a
:class:`~nemesis.interface.PowerLossTarget` and a system that declares it can lose power."""

from __future__ import annotations

from typing import Any

from nemesis.interface import Capabilities, PowerLossTarget
from nemesis.kind import Controls
from nemesis.kinds.aimed import NodeFault
from nemesis.kinds.kill import KILLED


class PowerLoss(NodeFault):
    name = "power-loss"
    description = (
        "kill nodes and drop their writes that were never fsynced (the target's power_loss), "
        "then restart them"
    )
    start_f = "power-loss"
    effect = KILLED
    colour = "#37474f"
    label = "power loss"
    verb = "power-loss"

    def lacks(self, capabilities: Capabilities) -> str | None:
        if capabilities.can_lose_power:
            return None
        return (
            "nemesis kind power-loss needs a system whose nodes can lose power (power_loss); "
            f"{capabilities.system} cannot"
        )

    def act(self, controls: Controls, node: Any) -> None:
        target = controls.target
        if not isinstance(target, PowerLossTarget):
            raise NotImplementedError(
                f"this cluster's nodes cannot lose power ({type(target).__name__} has no "
                "power_loss); use a backend that supports it or drop the power-loss kind"
            )
        target.power_loss(node)
