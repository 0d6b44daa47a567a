"""The pure core of the NFQUEUE delayer: how long each packet is held, and which leave when.

:class:`DelayPlan` decides a packet's hold from its direction and its peer's address, as netem
would: ``delay`` +- a uniform ``jitter`` (never below zero), except a ``reorder`` share that leaves
at once. :class:`Holding` keeps held packets ordered by release time (so a jitter reorders them,
as netem's does) and refuses more than ``limit`` of them, as netem's ``limit`` does: the caller
drops a refused packet. No clock and no I/O: the delayer process passes times in.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from nemesis.ip.rules import DelayRule, Direction

T = TypeVar("T")
IN_HOOK = 1  # NF_INET_LOCAL_IN
OUT_HOOK = 3  # NF_INET_LOCAL_OUT


def direction_of(hook: int) -> Direction | None:
    """The direction of a packet queued at netfilter ``hook``, or None for another hook."""
    if hook == IN_HOOK:
        return "in"
    return "out" if hook == OUT_HOOK else None


def peer_of(header: bytes, direction: Direction) -> str | None:
    """The peer's address of an IPv4 packet: its destination going out, its source coming in.
    None when ``header`` is not the start of an IPv4 packet."""
    if len(header) < 20 or header[0] >> 4 != 4:
        return None
    raw = header[16:20] if direction == "out" else header[12:16]
    return ".".join(str(b) for b in raw)


class DelayPlan:
    """Hold times for a set of :class:`~nemesis.ip.rules.DelayRule`, drawn from ``rng``."""

    def __init__(self, rules: Iterable[DelayRule], rng: random.Random) -> None:
        self.rules: Mapping[tuple[Direction, str], DelayRule] = {
            (r.direction, r.peer): r for r in rules
        }
        self.rng = rng

    def hold(self, direction: Direction, peer: str) -> float:
        """Seconds to hold a packet going ``direction`` to/from ``peer`` (0: release now)."""
        rule = self.rules.get((direction, peer))
        if rule is None:
            return 0.0
        if rule.reorder and self.rng.random() < rule.reorder:
            return 0.0
        ms = rule.delay_ms
        if rule.jitter_ms:
            ms += self.rng.uniform(-rule.jitter_ms, rule.jitter_ms)
        return max(0.0, ms) / 1000.0


@dataclass
class Holding(Generic[T]):
    """Held items by release time, at most ``limit`` of them."""

    limit: int
    _heap: list[tuple[float, int, T]] = field(default_factory=list)
    _order: itertools.count[int] = field(default_factory=itertools.count)

    def push(self, release_at: float, item: T) -> bool:
        """Hold ``item`` until ``release_at``; False (not held) when ``limit`` are held."""
        if len(self._heap) >= self.limit:
            return False
        heapq.heappush(self._heap, (release_at, next(self._order), item))
        return True

    def due(self, now: float) -> list[T]:
        """Remove and return every item whose time has come, in release order (ties: arrival)."""
        out = []
        while self._heap and self._heap[0][0] <= now:
            out.append(heapq.heappop(self._heap)[2])
        return out

    def drain(self) -> list[T]:
        """Remove and return every item, in release order."""
        return self.due(float("inf"))

    def next_release(self) -> float | None:
        return self._heap[0][0] if self._heap else None

    def __len__(self) -> int:
        return len(self._heap)
