"""``unexpected``: a sighting of an id nobody sent, or by a user who is not a recipient."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from checkers.findings import at, example, names
from checkers.observations import Message, Observations


@dataclass(frozen=True, slots=True)
class Unexpected:
    """``user`` saw ``message_id`` (first at ``index``); ``message`` is ``None`` if never sent."""

    message_id: str
    user: str
    index: int
    message: Message | None

    def example(self) -> dict[str, Any]:
        if self.message is None:
            why = (
                f"{self.user} saw {self.message_id} ({at(self.index)}), but no send of "
                f"{self.message_id} was ever invoked."
            )
            return example([self.message_id], [self.user], [self.index], why, sent=False)
        m = self.message
        why = (
            f"{self.user} saw {m.id} ({at(self.index)}), but is not among its recipients "
            f"({names(m.to) or 'none'}) as sent by {m.sender} ({at(m.invoke_index)})."
        )
        return example([m.id], [self.user], [m.invoke_index, self.index], why, sent=True)


def find_unexpected(obs: Observations) -> list[Unexpected]:
    """One entry per (message, user) pair that should not have been seen, in line order."""
    found: list[Unexpected] = []
    for msg_id, seen in obs.first_seen.items():
        message = obs.messages.get(msg_id)
        for user, index in seen.items():
            if message is None or user not in message.recipients:
                found.append(Unexpected(msg_id, user, index, message))
    return sorted(found, key=lambda item: item.index)
