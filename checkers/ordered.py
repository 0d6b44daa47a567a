"""Conversations where no ``fifo-violation`` or ``causal-violation`` is possible, found cheaply.

A conversation's reference order ranks its seen messages by their ``seq`` when every one has a
distinct seq, and by their first sighting by anyone otherwise. The conversation is *in order*
when:

- every sighting in it is of a sent, not failed message, by one of that message's recipients;
- each recipient saw messages in reference order, and saw every message addressed to them that
  comes before the last one they saw;
- every happens-before edge points forward in reference order: each send ranks after the sends
  of its sender acknowledged before it was invoked, and after the last message its sender saw
  before invoking it (and so, by the rule above, after all they saw).

Then every recipient saw every cause of what they saw, and saw it first: the fifo and causal
checkers can skip these conversations and sweep only the others. Correctness never depends on
the seqs being right; wrong ones only make a conversation fail the test and be swept in full.
Cost: one look at each (message, recipient) pair, a sort of each recipient's order and a binary
search per send.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable

from checkers.observations import NEVER, Conversation, Message, Observations


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


def ordered_conversations(obs: Observations) -> frozenset[str]:
    """The conversations that are in order (see the module's description)."""
    return frozenset(
        conv
        for conv, messages in obs.by_conv.items()
        if _in_order(obs, messages, obs.conversations.get(conv))
    )


def _in_order(obs: Observations, messages: list[Message], seen: Conversation | None) -> bool:
    if seen is None:
        return True
    rank = reference_ranks(obs, seen)
    last: dict[str, int] = {}
    for user, order in seen.orders.items():
        ranks = [rank[d.id] for d in order]
        if ranks != sorted(ranks):
            return False
        last[user] = ranks[-1]
    live = {m.id: m for m in messages if not m.failed}
    for msg_id, position in rank.items():
        message = live.get(msg_id)
        if message is None:
            return False
        saw = obs.first_seen[msg_id]
        recipients_seen = 0
        for user in message.to:
            if user in saw:
                recipients_seen += 1
            elif last.get(user, -1) > position:
                return False
        if recipients_seen != len(saw):
            return False
    return _edges_forward(live.values(), rank, seen)


def _edges_forward(messages: Iterable[Message], rank: dict[str, int], seen: Conversation) -> bool:
    events: list[tuple[int, bool, Message]] = []
    for m in messages:
        events.append((m.invoke_index, False, m))
        if m.ok_index is not None:
            events.append((m.ok_index, True, m))
    events.sort(key=lambda event: event[0])
    latest_acked: dict[str, int] = {}
    for _, is_ok, m in events:
        position = rank.get(m.id, NEVER)
        if is_ok:
            if position > latest_acked.get(m.sender, -1):
                latest_acked[m.sender] = position
            continue
        if position == NEVER:
            continue
        if latest_acked.get(m.sender, -1) > position:
            return False
        order = seen.orders.get(m.sender)
        if order:
            before = bisect_left(order, m.invoke_index, key=lambda d: d.index)
            if before and rank[order[before - 1].id] > position:
                return False
    return True
