"""``seq-order``: a recipient saw a message before one that the system's own ``seq`` puts first.

Strict per-conversation order, as the system states it: in one conversation, A and B each carry a
single ``seq`` (from ``ok`` sends and deliveries) and ``seq(A) < seq(B)``; a recipient of both who
saw B before A, or saw B and never A, makes (B, recipient) a violation. A message carrying two
seqs (a ``seq-conflict``), one whose every send failed, and one no send invoked take no part; a
(B, recipient) pair that is already a ``fifo-violation`` or a ``causal-violation`` is not counted
again. Order is judged by first sightings.

One pass per recipient, backwards along what they saw, keeping the lowest seq among the messages
seen later or never: linear in the (message, recipient) pairs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from checkers.findings import at, example
from checkers.history import Delivery
from checkers.observations import NEVER, Message, Observations

_ID = itemgetter(2)  # Delivery.id, read in C


@dataclass(frozen=True, slots=True)
class Ranked:
    """A message taking part: its single ``seq`` and the first line that reports it."""

    message: Message
    seq: int
    reported_at: int


@dataclass(frozen=True, slots=True)
class SeqOrderViolation:
    """``user`` saw ``later`` at ``later_seen`` although ``earlier`` has the lower seq and was
    seen by them only at ``earlier_seen`` (:data:`NEVER`: not at all)."""

    earlier: Ranked
    later: Ranked
    user: str
    earlier_seen: int
    later_seen: int

    @property
    def pair(self) -> tuple[str, str]:
        return (self.later.message.id, self.user)

    def example(self) -> dict[str, Any]:
        a, b = self.earlier, self.later
        a_id, b_id, conv = a.message.id, b.message.id, b.message.conv
        promised = (
            f"In {conv} the system promised {a_id} (seq {a.seq}, reported at {at(a.reported_at)}) "
            f"before {b_id} (seq {b.seq}, {at(b.reported_at)})"
        )
        saw = f"{self.user} saw {b_id} first ({at(self.later_seen)})"
        if self.earlier_seen == NEVER:
            saw += f" and never {a_id}"
        else:
            saw += f" and {a_id} only later ({at(self.earlier_seen)})"
        indexes = [a.reported_at, b.reported_at, self.later_seen]
        if self.earlier_seen != NEVER:
            indexes.append(self.earlier_seen)
        return example(
            [a_id, b_id],
            [self.user],
            indexes,
            f"{promised}, but {saw}.",
            conv=conv,
            seqs=[a.seq, b.seq],
        )


def single_seqs(obs: Observations, messages: Iterable[Message]) -> dict[str, int]:
    """Id -> seq of the messages of ``messages`` that take part: not failed, exactly one seq."""
    found: dict[str, int] = {}
    seqs = obs.seqs
    for m in messages:
        reports = seqs.get(m.id)
        if reports is not None and len(reports) == 1 and not m.failed:
            found[m.id] = next(iter(reports))
    return found


def find_seq_order(
    obs: Observations, excluded: Iterable[tuple[str, str]] = ()
) -> list[SeqOrderViolation]:
    """One entry per violating (later message, recipient) pair not in ``excluded`` (the fifo and
    causal pairs), in order of the later sends' invokes, then of the sightings."""
    skip = set(excluded)
    found: list[SeqOrderViolation] = []
    for conv, messages in obs.by_conv.items():
        seen = obs.conversations.get(conv)
        if seen is not None:
            found += _conversation(obs, messages, seen.orders, skip)
    found.sort(key=lambda v: (v.later.message.invoke_index, v.later_seen))
    return found


def _conversation(
    obs: Observations,
    messages: list[Message],
    orders: dict[str, list[Delivery]],
    skip: set[tuple[str, str]],
) -> list[SeqOrderViolation]:
    seq_of = single_seqs(obs, messages)
    if len(seq_of) < 2:
        return []
    lowest_never: dict[str, tuple[int, Message]] = {}  # recipient -> lowest seq never seen
    first_seen = obs.first_seen
    no_one: dict[str, int] = {}
    for m in messages:
        seq = seq_of.get(m.id)
        if seq is None:
            continue
        saw = first_seen.get(m.id, no_one).keys()
        if saw >= m.recipients:
            continue
        for user in m.recipients - saw:
            low = lowest_never.get(user)
            if low is None or seq < low[0]:
                lowest_never[user] = (seq, m)
    found: list[SeqOrderViolation] = []
    seq_at = seq_of.__getitem__
    for user, order in orders.items():
        low = lowest_never.get(user)
        try:
            seqs = list(map(seq_at, map(_ID, order)))
        except KeyError:
            pass  # a message here takes no part: look closer
        else:
            if seqs == sorted(seqs) and (low is None or low[0] >= seqs[-1]):
                continue  # in seq order, and nothing missing below: no violation here
        found += _recipient(obs, user, order, seq_of, low, skip)
    return found


def _recipient(
    obs: Observations,
    user: str,
    order: list[Delivery],
    seq_of: dict[str, int],
    low: tuple[int, Message] | None,
    skip: set[tuple[str, str]],
) -> list[SeqOrderViolation]:
    """The violations of one recipient: backwards along what they saw, keeping the lowest seq
    among the messages seen later or never."""
    found: list[SeqOrderViolation] = []
    lowest = None if low is None else (_ranked(obs, low[1], low[0]), NEVER)
    messages = obs.messages
    for d in reversed(order):
        seq = seq_of.get(d.id)
        if seq is None or user not in messages[d.id].recipients:
            continue
        if lowest is not None and lowest[0].seq < seq:
            if (d.id, user) not in skip:
                later = _ranked(obs, messages[d.id], seq)
                found.append(SeqOrderViolation(lowest[0], later, user, lowest[1], d.index))
        else:
            lowest = (_ranked(obs, messages[d.id], seq), d.index)
    return found


def _ranked(obs: Observations, message: Message, seq: int) -> Ranked:
    return Ranked(message, seq, obs.seqs[message.id][seq])
