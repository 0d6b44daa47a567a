"""``corrupt``: a seen message's digest differs from the one its send carried."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from checkers.findings import at, example
from checkers.observations import Message, Observations


@dataclass(frozen=True, slots=True)
class Corrupt:
    """``message`` was seen with a wrong digest; ``sightings`` are (user, index, digest)."""

    message: Message
    sightings: tuple[tuple[str, int, str], ...]

    def example(self) -> dict[str, Any]:
        m = self.message
        user, index, digest = self.sightings[0]
        more = len(self.sightings) - 1
        others = f" ({more} more such sighting{'s' if more > 1 else ''})" if more else ""
        why = (
            f"{user} saw {m.id} with digest {_short(digest)} ({at(index)}), but its send "
            f"carried {_short(m.digest or '')} ({at(m.invoke_index)}){others}."
        )
        users = list(dict.fromkeys(u for u, _, _ in self.sightings))
        indexes = [m.invoke_index, *(i for _, i, _ in self.sightings)]
        return example([m.id], users, indexes, why, sent_digest=m.digest, seen_digest=digest)


def _short(digest: str) -> str:
    return digest if len(digest) <= 12 else f"{digest[:12]}..."


def find_corrupt(obs: Observations) -> list[Corrupt]:
    """One entry per message seen at least once with a digest other than its send's."""
    bad: dict[str, list[tuple[str, int, str]]] = {}
    messages = obs.messages
    for delivery in obs.history.deliveries:
        digest = delivery.digest
        if digest is None:
            continue
        message = messages.get(delivery.id)
        if message is not None and message.digest is not None and digest != message.digest:
            bad.setdefault(delivery.id, []).append((delivery.user, delivery.index, digest))
    return [Corrupt(messages[msg_id], tuple(sightings)) for msg_id, sightings in bad.items()]
