"""``lost`` and ``unseen``: an acknowledged message that a recipient never saw.

A completed drain proves loss only for messages acknowledged before it ended: a missing sighting
of those is ``lost``; any other missing sighting (no completed drain, or an ``ok`` that came after
the drain's ``ok``) is ``unseen``, which is not an anomaly but leaves the verdict unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from checkers.findings import at, example
from checkers.observations import Message, Observations


@dataclass(frozen=True, slots=True)
class Missing:
    """``user`` is in the recipients of ``message``, which ended ok, and never saw it."""

    message: Message
    user: str
    drain_index: int | None
    proven: bool

    def example(self) -> dict[str, Any]:
        m = self.message
        ok = m.ok_index if m.ok_index is not None else m.invoke_index
        indexes = [m.invoke_index, ok]
        if self.proven and self.drain_index is not None:
            indexes.append(self.drain_index)
            why = (
                f"{self.user} never saw {m.id}, which {m.sender} sent ({at(m.invoke_index)}) "
                f"and the system acknowledged ({at(ok)}), although the drain completed "
                f"({at(self.drain_index)})."
            )
        else:
            why = (
                f"{self.user} has not seen {m.id}, acknowledged at {at(ok)}, and no drain "
                "completed after that acknowledgement, so it may still arrive."
            )
        return example([m.id], [self.user], indexes, why, conv=m.conv)


def find_missing(obs: Observations) -> tuple[list[Missing], list[Missing]]:
    """``(lost, unseen)``: one entry per (message, recipient) pair, in order of the sends."""
    drain = obs.history.drain_index
    lost: list[Missing] = []
    unseen: list[Missing] = []
    no_one: dict[str, int] = {}
    for message in obs.messages.values():
        if message.outcome != "ok":
            continue
        seen = obs.first_seen.get(message.id, no_one)
        proven = drain is not None and message.ok_index is not None and message.ok_index < drain
        for user in message.to:
            if user not in seen:
                (lost if proven else unseen).append(Missing(message, user, drain, proven))
    return lost, unseen
