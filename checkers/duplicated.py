"""``duplicated``: one recipient saw one message more than once.

A recipient is a user in the message's ``to``; a user outside it who saw the message (twice or
not) is ``unexpected`` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from checkers.findings import example, names
from checkers.observations import Observations


@dataclass(frozen=True, slots=True)
class Duplicate:
    """``user`` saw ``message_id`` on every line of ``indexes`` (two or more)."""

    message_id: str
    user: str
    indexes: tuple[int, ...]

    def example(self) -> dict[str, Any]:
        lines = names([str(i) for i in self.indexes])
        times = "twice" if len(self.indexes) == 2 else f"{len(self.indexes)} times"
        why = f"{self.user} saw {self.message_id} {times} (indexes {lines})."
        return example([self.message_id], [self.user], list(self.indexes), why)


def find_duplicated(obs: Observations) -> list[Duplicate]:
    """One entry per (message, recipient) pair seen more than once, in order of the second
    sighting."""
    messages = obs.messages
    found = [
        Duplicate(msg_id, user, tuple(lines))
        for (msg_id, user), lines in obs.arrivals.items()
        if msg_id in messages and user in messages[msg_id].recipients
    ]
    return sorted(found, key=lambda dup: dup.indexes[1])
