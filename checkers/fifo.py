"""``fifo-violation``: one sender, one conversation, and a recipient saw the later send first.

Send A precedes send B when they share sender and conversation and A ended ``ok`` (its first
ok line) before B was invoked (its first invoke line). A recipient of both who saw B before A,
or saw B and never A, makes the (B, recipient) pair a violation. Messages whose every send failed
take no part (``failed-delivered`` reports them). Linear in the (message, recipient) pairs.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from checkers.findings import at, example
from checkers.observations import NEVER, Message, Observations, send_events
from checkers.ordered import Scope


@dataclass(frozen=True, slots=True)
class FifoViolation:
    """``user`` saw ``later`` at ``later_seen`` although ``earlier`` (seen at ``earlier_seen``,
    :data:`NEVER` if never) was acknowledged before ``later`` was sent by the same sender."""

    earlier: Message
    later: Message
    user: str
    earlier_seen: int
    later_seen: int

    @property
    def pair(self) -> tuple[str, str]:
        return (self.later.id, self.user)

    def example(self) -> dict[str, Any]:
        a, b = self.earlier, self.later
        seen = f"{self.user} saw {b.id} ({at(self.later_seen)})"
        if self.earlier_seen == NEVER:
            seen += f" and never {a.id}"
        else:
            seen += f" before {a.id} ({at(self.earlier_seen)})"
        why = (
            f"{seen}, but {b.sender} sent {b.id} ({at(b.invoke_index)}) after {a.id} was "
            f"acknowledged ({at(a.ok_index or 0)})."
        )
        indexes = [a.invoke_index, a.ok_index or 0, b.invoke_index, self.later_seen]
        if self.earlier_seen != NEVER:
            indexes.append(self.earlier_seen)
        return example([a.id, b.id], [b.sender, self.user], indexes, why, conv=b.conv)


def find_fifo(obs: Observations, scope: Scope | None = None) -> list[FifoViolation]:
    """One entry per violating (later message, recipient) pair, in order of the later sends.

    With a ``scope`` (see :mod:`checkers.ordered`) only the recipients it names are examined.
    """
    found: list[FifoViolation] = []
    for conv, messages in obs.by_conv.items():
        if scope is None:
            found += _conversation(obs, messages, None)
        elif conv in scope:
            found += _conversation(obs, messages, scope[conv])
    found.sort(key=lambda v: (v.later.invoke_index, v.later_seen))
    return found


def _conversation(
    obs: Observations, messages: list[Message], suspects: Collection[str] | None
) -> list[FifoViolation]:
    # sender -> recipient -> (latest sighting among its acknowledged sends, which send)
    acked: dict[str, dict[str, tuple[int, Message]]] = {}
    found: list[FifoViolation] = []
    no_one: dict[str, int] = {}
    for _, is_ok, m in send_events(m for m in messages if not m.failed):
        seen = obs.first_seen.get(m.id, no_one)
        latest = acked.setdefault(m.sender, {})
        recipients = m.to if suspects is None else [u for u in m.to if u in suspects]
        if is_ok:
            for user in recipients:
                where = seen.get(user, NEVER)
                if where > latest.get(user, (-1, m))[0]:
                    latest[user] = (where, m)
            continue
        for user in recipients:
            seen_at = seen.get(user)
            if seen_at is None:
                continue
            witness = latest.get(user)
            if witness is not None and witness[0] > seen_at:
                found.append(FifoViolation(witness[1], m, user, witness[0], seen_at))
    return found
