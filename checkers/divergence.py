"""``order-divergence``: two recipients saw two messages of one conversation in opposite orders.

A recipient of both is a user in the ``to`` of both; a user who saw a message not addressed to
them is ``unexpected`` and takes no part here. Counts distinct unordered message pairs.

Each recipient's order (of first sightings) is compared with one reference order per
conversation (:func:`checkers.ordered.reference_ranks`): a pair diverges exactly when some
recipients of both who saw both agree with the reference and some do not. Work is linear in the
sightings plus the number of pairs out of reference order, so histories delivered in order cost
one pass.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import Any

from checkers.findings import at, example
from checkers.observations import Conversation, Observations
from checkers.ordered import conversation_order


@dataclass(frozen=True, slots=True)
class Divergence:
    """``first_user`` saw ``a`` then ``b``; ``second_user`` saw ``b`` then ``a`` (in ``conv``).

    ``lines`` holds the four first-sighting indexes: (first_user a, first_user b, second_user b,
    second_user a).
    """

    conv: str
    a: str
    b: str
    first_user: str
    second_user: str
    lines: tuple[int, int, int, int]

    def example(self) -> dict[str, Any]:
        ua, ub, vb, va = self.lines
        why = (
            f"{self.first_user} saw {self.a} ({at(ua)}) before {self.b} ({at(ub)}), but "
            f"{self.second_user} saw {self.b} ({at(vb)}) before {self.a} ({at(va)})."
        )
        users = [self.first_user, self.second_user]
        return example([self.a, self.b], users, list(self.lines), why, conv=self.conv)


def find_divergence(obs: Observations) -> list[Divergence]:
    """One entry per unordered pair of messages seen in opposite orders, by conversation."""
    found: list[Divergence] = []
    for conv, seen in obs.conversations.items():
        found += _conversation(obs, conv, seen)
    return found


def _conversation(obs: Observations, conv: str, seen: Conversation) -> list[Divergence]:
    known = conversation_order(obs, conv, seen)
    rank = known.rank
    # (earlier, later) in reference order -> users who saw later first
    reversed_by: dict[tuple[int, int], list[str]] = {}
    messages = obs.messages
    for user, order in seen.orders.items():
        if user not in known.unsorted:
            continue  # sightings in reference order have no inversion
        ranks = [
            rank[d.id] for d in order if d.id in messages and user in messages[d.id].recipients
        ]
        for pair in _inversions(ranks):
            reversed_by.setdefault(pair, []).append(user)
    if not reversed_by:
        return []
    by_rank = {position: msg_id for msg_id, position in rank.items()}
    found = []
    for (early, late), users in reversed_by.items():
        a, b = by_rank[early], by_rank[late]
        saw_a, saw_b = obs.first_seen[a], obs.first_seen[b]
        both = messages[a].recipients & messages[b].recipients
        agreeing = [u for u in saw_a.keys() & saw_b.keys() & both if saw_a[u] < saw_b[u]]
        if agreeing:
            u, v = min(agreeing), min(users)
            lines = (saw_a[u], saw_b[u], saw_b[v], saw_a[v])
            found.append(Divergence(conv, a, b, u, v, lines))
    found.sort(key=lambda item: max(item.lines))
    return found


def _inversions(ranks: list[int]) -> list[tuple[int, int]]:
    """Every pair (x, y) with x before y in reference order but y before x in ``ranks``."""
    if ranks == sorted(ranks):
        return []
    pairs: list[tuple[int, int]] = []
    earlier: list[int] = []
    for rank in ranks:
        position = bisect_right(earlier, rank)
        pairs += [(rank, later) for later in earlier[position:]]
        earlier.insert(position, rank)
    return pairs
