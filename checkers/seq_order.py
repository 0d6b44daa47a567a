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
from typing import Any

from checkers.findings import at, example
from checkers.observations import NEVER, Message, Observations


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


def ranked_messages(obs: Observations, messages: Iterable[Message]) -> dict[str, Ranked]:
    """The messages of ``messages`` that take part: not failed, exactly one seq."""
    ranked: dict[str, Ranked] = {}
    seqs = obs.seqs
    for m in messages:
        reports = seqs.get(m.id)
        if reports is not None and len(reports) == 1 and not m.failed:
            ((seq, index),) = reports.items()
            ranked[m.id] = Ranked(m, seq, index)
    return ranked


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
            found += _conversation(obs, ranked_messages(obs, messages), seen.orders, skip)
    found.sort(key=lambda v: (v.later.message.invoke_index, v.later_seen))
    return found


def _conversation(
    obs: Observations,
    ranked: dict[str, Ranked],
    orders: dict[str, Any],
    skip: set[tuple[str, str]],
) -> list[SeqOrderViolation]:
    if len(ranked) < 2:
        return []
    never: dict[str, Ranked] = {}  # recipient -> lowest-seq message they never saw
    first_seen = obs.first_seen
    no_one: dict[str, int] = {}
    for r in ranked.values():
        saw = first_seen.get(r.message.id, no_one)
        for user in r.message.to:
            if user not in saw:
                low = never.get(user)
                if low is None or r.seq < low.seq:
                    never[user] = r
    found: list[SeqOrderViolation] = []
    for user, order in orders.items():
        low = never.get(user)
        lowest: tuple[Ranked, int] | None = None if low is None else (low, NEVER)
        get = ranked.get
        for d in reversed(order):
            r = get(d.id)
            if r is None or user not in r.message.recipients:
                continue
            if lowest is not None and lowest[0].seq < r.seq:
                if (d.id, user) not in skip:
                    found.append(SeqOrderViolation(lowest[0], r, user, lowest[1], d.index))
            else:
                lowest = (r, d.index)
    return found
