"""Where a ``fifo-violation`` or ``causal-violation`` can be, found cheaply.

A conversation's reference order ranks its seen messages by their ``seq`` when every one has a
distinct seq, and by their first sighting by anyone otherwise. When every happens-before edge of
a conversation points forward in that order (each send ranks after the sends of its sender
acknowledged before it was invoked, and after everything its sender saw before invoking it),
a recipient who saw messages in reference order, and saw every message addressed to them that
comes before the last one they saw, saw every cause of what they saw, and saw it first: no
violation can name them. Only the other recipients, the *suspects*, need the full sweeps.

Correctness never depends on the seqs being right: wrong ones only make more suspects, or make
the edges point backwards, and then the whole conversation is swept. Cost: one look at each
(message, recipient) pair, a sort of each recipient's order and a binary search per send.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from itertools import accumulate

from checkers.history import Delivery
from checkers.observations import NEVER, Conversation, Message, Observations, send_events

Scope = dict[str, frozenset[str] | None]
"""Conversation -> the recipients to sweep there (``None``: all of them). A conversation that is
not a key needs no sweep."""


def reference_ranks(obs: Observations, seen: Conversation) -> dict[str, int]:
    """Rank of each message seen in the conversation (see the module's description)."""
    ranks: dict[str, int] = {}
    for msg_id, first in seen.first.items():
        message = obs.messages.get(msg_id)
        acked = [a.seq for a in message.attempts if a.seq is not None] if message else []
        seq = acked[0] if acked else first.seq
        if seq is None:
            break
        ranks[msg_id] = seq
    if len(ranks) == len(seen.first) and len(set(ranks.values())) == len(ranks):
        return ranks
    return {msg_id: first.index for msg_id, first in seen.first.items()}


def sweep_scope(obs: Observations) -> Scope:
    """What the fifo and causal checkers must sweep (see the module's description)."""
    scope: Scope = {}
    for conv, messages in obs.by_conv.items():
        seen = obs.conversations.get(conv)
        if seen is not None:
            suspects = _suspects(obs, messages, seen)
            if suspects is None or suspects:
                scope[conv] = suspects
    return scope


def _suspects(
    obs: Observations, messages: list[Message], seen: Conversation
) -> frozenset[str] | None:
    rank = reference_ranks(obs, seen)
    suspects: set[str] = set()
    highest: dict[str, list[int]] = {}  # user -> highest rank seen so far, along their order
    for user, order in seen.orders.items():
        ranks = [rank[d.id] for d in order]
        if ranks != sorted(ranks):
            suspects.add(user)
            ranks = list(accumulate(ranks, max))
        highest[user] = ranks
    live = [m for m in messages if not m.failed]
    for m in live:
        position = rank.get(m.id)
        if position is None:
            continue
        saw = obs.first_seen[m.id]
        for user in m.to:
            if user not in saw and user in highest and highest[user][-1] > position:
                suspects.add(user)
    if not _edges_forward(live, rank, seen.orders, highest):
        return None
    return frozenset(suspects)


def _edges_forward(
    messages: Iterable[Message],
    rank: dict[str, int],
    orders: dict[str, list[Delivery]],
    highest: dict[str, list[int]],
) -> bool:
    latest_acked: dict[str, int] = {}
    for _, is_ok, m in send_events(messages):
        position = rank.get(m.id, NEVER)
        if is_ok:
            if position > latest_acked.get(m.sender, -1):
                latest_acked[m.sender] = position
            continue
        if position == NEVER:
            continue
        if latest_acked.get(m.sender, -1) > position:
            return False
        order = orders.get(m.sender)
        if order:
            before = bisect_left(order, m.invoke_index, key=lambda d: d.index)
            if before and highest[m.sender][before - 1] > position:
                return False
    return True
