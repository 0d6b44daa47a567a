"""``stats``: what the run cost in availability, and how big it was."""

from __future__ import annotations

from collections import Counter
from typing import Any

from checkers.observations import Observations


def find_stats(obs: Observations) -> dict[str, Any]:
    """Send outcomes per attempt (retries count; an invoke never completed counts as ``info``)
    and ``availability`` = ok / all sends (1.0 when there are none), plus sizes of the history
    and the drain's state (``"completed"``, ``"started"`` or ``"none"``)."""
    history = obs.history
    outcomes = Counter(send.outcome for send in history.sends)
    sends = {name: outcomes.get(name, 0) for name in ("ok", "fail", "info")}
    total = sum(sends.values())
    faults = Counter(
        op.f for op in history.control if op.process == "nemesis" and op.type == "invoke"
    )
    drain_started = any(op.f == "drain" and op.process == "harness" for op in history.control)
    users = {d.user for d in history.deliveries}
    for message in obs.messages.values():
        users.add(message.sender)
        users.update(message.to)
    return {
        "sends": sends,
        "availability": sends["ok"] / total if total else 1.0,
        "operations": history.operations,
        "messages": len(obs.messages),
        "deliveries": len(history.deliveries),
        "users": len(users),
        "conversations": len(obs.by_conv.keys() | obs.conversations.keys()),
        "faults": dict(sorted(faults.items())),
        "drain": "completed"
        if history.drain_completed
        else ("started" if drain_started else "none"),
    }
