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
from dataclasses import dataclass
from itertools import accumulate
from operator import itemgetter

from checkers.history import Delivery
from checkers.observations import NEVER, Conversation, Message, Observations, send_events

_INDEX, _ID = itemgetter(0), itemgetter(2)  # Delivery.index and .id, read in C

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


@dataclass(frozen=True, slots=True)
class ConvOrder:
    """A conversation's reference ranks, and each user's first sightings there as ranks (every
    message the user saw, addressed to them or not); ``unsorted`` are the users whose ranks are
    not in order. Made once per conversation, shared by the order checkers."""

    rank: dict[str, int]
    user_ranks: dict[str, list[int]]
    unsorted: frozenset[str]


def conversation_order(obs: Observations, conv: str, seen: Conversation) -> ConvOrder:
    """The :class:`ConvOrder` of ``conv`` (computed on first use, then kept in ``obs``)."""
    known = obs.conv_orders.get(conv)
    if isinstance(known, ConvOrder):
        return known
    rank = reference_ranks(obs, seen)
    get = rank.__getitem__
    user_ranks = {user: list(map(get, map(_ID, order))) for user, order in seen.orders.items()}
    unsorted = frozenset(u for u, ranks in user_ranks.items() if ranks != sorted(ranks))
    made = obs.conv_orders[conv] = ConvOrder(rank, user_ranks, unsorted)
    return made


def sweep_scope(obs: Observations) -> Scope:
    """What the fifo and causal checkers must sweep (see the module's description)."""
    scope: Scope = {}
    for conv, messages in obs.by_conv.items():
        seen = obs.conversations.get(conv)
        if seen is not None:
            suspects = _suspects(obs, conv, messages, seen)
            if suspects is None or suspects:
                scope[conv] = suspects
    return scope


def _suspects(
    obs: Observations, conv: str, messages: list[Message], seen: Conversation
) -> frozenset[str] | None:
    order = conversation_order(obs, conv, seen)
    rank = order.rank
    suspects: set[str] = set(order.unsorted)
    highest: dict[str, list[int]] = {}  # user -> highest rank seen so far, along their order
    for user, ranks in order.user_ranks.items():
        highest[user] = list(accumulate(ranks, max)) if user in suspects else ranks
    live = [m for m in messages if not m.failed]
    first_seen = obs.first_seen
    for m in live:
        position = rank.get(m.id)
        saw = first_seen.get(m.id)
        if position is None or saw is None or saw.keys() >= m.recipients:
            continue
        for user in m.recipients - saw.keys():
            if user in highest and highest[user][-1] > position:
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
    lines: dict[str, list[int]] = {}  # sender -> the indexes of their sightings, made on demand
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
            at = lines.get(m.sender)
            if at is None:
                at = lines[m.sender] = list(map(_INDEX, order))
            before = bisect_left(at, m.invoke_index)
            if before and highest[m.sender][before - 1] > position:
                return False
    return True
