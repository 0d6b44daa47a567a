"""``failed-delivered``: every send of a message failed, yet someone saw it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from checkers.findings import at, example, names
from checkers.observations import Message, Observations


@dataclass(frozen=True, slots=True)
class FailedDelivered:
    """``message`` ended ``fail`` on every attempt; ``sightings`` are (user, first index)."""

    message: Message
    sightings: tuple[tuple[str, int], ...]

    def example(self) -> dict[str, Any]:
        m = self.message
        fails = [a.end_index for a in m.attempts if a.end_index is not None]
        user, index = self.sightings[0]
        which = (
            f"its send failed ({at(fails[0])})"
            if len(fails) == 1
            else (f"all {len(fails)} sends of it failed (indexes {names([str(i) for i in fails])})")
        )
        more = len(self.sightings) - 1
        others = f", as did {more} other user{'s' if more > 1 else ''}" if more else ""
        why = f"{m.sender} sent {m.id} and {which}, yet {user} saw it ({at(index)}){others}."
        users = [u for u, _ in self.sightings]
        invokes = [a.index for a in m.attempts]
        indexes = [*invokes, *fails, *(i for _, i in self.sightings)]
        return example([m.id], users, indexes, why)


def find_failed_delivered(obs: Observations) -> list[FailedDelivered]:
    """One entry per failed message seen by anyone, in order of the sends."""
    found: list[FailedDelivered] = []
    for message in obs.messages.values():
        seen = obs.first_seen.get(message.id)
        if message.failed and seen:
            sightings = tuple(sorted(seen.items(), key=lambda item: item[1]))
            found.append(FailedDelivered(message, sightings))
    return found
