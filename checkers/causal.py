"""``causal-violation``: a recipient saw a message before one that happened before it.

Happens-before (history-format.md) relates sends of one conversation: A -> B when they share a
sender and A ended ``ok`` before B was invoked, or when B's sender saw A before B was invoked, and
every chain of those. Messages whose every send failed take no part. A recipient of both A and B
who saw B before A, or saw B and never A, makes (B, recipient) a violation, unless that pair is
already a ``fifo-violation``.

How it stays near-linear: each conversation is swept once in line order, and every send gets a
vector over the conversation's recipients holding, for each recipient, the latest first sighting
(or :data:`NEVER`) among all its causes addressed to that recipient. A violation is then one
comparison per recipient; the cost is (events x recipients per conversation). The chain of causes
is rebuilt only for the examples.

A sighting before its message's first invoke (a malformed run, or a clock gone wrong) makes
the relation reach forward in the file; the sweep then repeats until it stops growing, which is
exact (cycles included) at the cost of a few more passes over that conversation.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from checkers.findings import at, example
from checkers.history import Delivery
from checkers.observations import NEVER, Message, Observations, send_events
from checkers.ordered import Scope

Vector = list[int]


@dataclass(frozen=True, slots=True)
class Step:
    """``cause`` -> ``effect`` directly: by the same sender after an ack, or seen by the sender."""

    cause: Message
    effect: Message
    seen_at: int | None  # where the effect's sender saw the cause; None for a same-sender step

    def words(self, first: bool) -> str:
        c, e = self.cause, self.effect
        if self.seen_at is None:
            return (
                f"{e.sender} sent {e.id} ({at(e.invoke_index)}) after {c.id} was acknowledged "
                f"({at(c.ok_index or 0)})"
            )
        verb = "had seen" if first else "saw"
        return (
            f"{e.sender} {verb} {c.id} ({at(self.seen_at)}) before sending {e.id} "
            f"({at(e.invoke_index)})"
        )

    def indexes(self) -> list[int]:
        c, e = self.cause, self.effect
        first = c.ok_index if self.seen_at is None else self.seen_at
        return [first or 0, e.invoke_index]


@dataclass(frozen=True, slots=True)
class CausalViolation:
    """``user`` saw ``later`` at ``later_seen``, but a cause of ``later`` addressed to ``user``
    was seen by them only at ``bound`` (:data:`NEVER`: not at all), which is later."""

    later: Message
    user: str
    later_seen: int
    bound: int
    trace: _Trace

    @property
    def pair(self) -> tuple[str, str]:
        return (self.later.id, self.user)

    def chain(self) -> list[Step]:
        """The steps from the late (or missing) cause to ``later``, cause first."""
        return self.trace.chain(self.later, self.user, self.bound)

    def example(self) -> dict[str, Any]:
        b = self.later
        steps = self.chain()
        cause = steps[0].cause if steps else None
        seen = f"{self.user} saw {b.id} ({at(self.later_seen)})"
        name = cause.id if cause else "one of its causes"
        seen += (
            f" and never {name}" if self.bound == NEVER else f" before {name} ({at(self.bound)})"
        )
        if not steps:
            why = f"{seen}, which happened before {b.id}."
        elif len(steps) == 1:
            why = f"{seen}, but {steps[0].words(first=True)}."
        else:
            links = ", then ".join(step.words(first=False) for step in steps)
            why = f"{seen}, but {name} happened before {b.id}: {links}."
        indexes = [self.later_seen, *(i for step in steps for i in step.indexes())]
        if self.bound != NEVER:
            indexes.append(self.bound)
        ids = [step.cause.id for step in steps] + [b.id]
        users = [self.user] + [step.effect.sender for step in steps]
        return example(
            list(dict.fromkeys([ids[0], b.id])),
            list(dict.fromkeys(users)),
            indexes,
            why,
            conv=b.conv,
            chain=ids,
        )


def find_causal(
    obs: Observations,
    fifo_pairs: Iterable[tuple[str, str]] = (),
    scope: Scope | None = None,
) -> list[CausalViolation]:
    """One entry per violating (later message, recipient) pair not in ``fifo_pairs``.

    Ordered by the later send's invoke, then the recipient's sighting. With a ``scope`` (see
    :mod:`checkers.ordered`) only the recipients it names are examined.
    """
    excluded = set(fifo_pairs)
    found: list[CausalViolation] = []
    for conv, messages in obs.by_conv.items():
        if scope is not None and conv not in scope:
            continue
        suspects = None if scope is None else scope[conv]
        trace = _Trace(obs, conv, [m for m in messages if not m.failed], suspects)
        found += trace.sweep(excluded)
    found.sort(key=lambda v: (v.later.invoke_index, v.later_seen))
    return found


def _join(a: Vector | None, b: Vector | None) -> Vector | None:
    if a is None or a is b:
        return b
    if b is None:
        return a
    return _join_both(a, b)


def _join_both(a: Vector, b: Vector) -> Vector:
    return [x if x > y else y for x, y in zip(a, b, strict=False)]  # same lengths


class _Trace:
    """One conversation's sweep: the cause vectors of its sends, kept to explain examples."""

    def __init__(
        self,
        obs: Observations,
        conv: str,
        messages: list[Message],
        suspects: Collection[str] | None,
    ) -> None:
        self.obs = obs
        self.conv = conv
        self.messages = messages
        self.slot: dict[str, int] = {}  # the recipients examined, each a position in the vectors
        for m in messages:
            for user in m.to:
                if suspects is None or user in suspects:
                    self.slot.setdefault(user, len(self.slot))
        self.own: dict[str, Vector] = {}
        blank = [-1] * len(self.slot)
        no_one: dict[str, int] = {}
        for m in messages:
            vector = blank.copy()
            seen = obs.first_seen.get(m.id, no_one)
            for user in m.to:
                slot = self.slot.get(user)
                if slot is not None:
                    vector[slot] = seen.get(user, NEVER)
            self.own[m.id] = vector
        self.causes: dict[str, Vector] = {}  # id -> join of own vectors of all its causes
        self.closure: dict[str, Vector] = {}  # id -> causes joined with its own vector

    def sweep(self, excluded: set[tuple[str, str]]) -> list[CausalViolation]:
        """Every violation of the conversation. One pass in line order is exact unless someone
        saw a message before its first invoke; passes then repeat until no vector grows."""
        sends = send_events(self.messages)
        senders = {m.sender for m in self.messages}
        invoked_at = {m.id: m.invoke_index for m in self.messages}
        seen_here = self.obs.conversations.get(self.conv)
        sightings = [
            d
            for d in (seen_here.sightings if seen_here else ())
            if d.user in senders and d.id in invoked_at
        ]
        early = any(d.index < invoked_at[d.id] for d in sightings)
        while True:
            before = dict(self.closure)
            found = self.one_pass(sends, sightings, excluded)
            if not early or self.closure == before:
                return found

    def one_pass(
        self,
        sends: list[tuple[int, bool, Message]],
        sightings: list[Delivery],
        excluded: set[tuple[str, str]],
    ) -> list[CausalViolation]:
        acked: dict[str, Vector | None] = {}  # sender -> join of its acknowledged sends' closures
        read: dict[str, Vector | None] = {}  # user -> join of the closures of what they saw
        found: list[CausalViolation] = []
        closure = self.closure
        own = self.own
        pending = iter(sends)
        event = next(pending, None)
        for d in [*sightings, None]:
            limit = NEVER if d is None else d.index
            while event is not None and event[0] < limit:
                _, is_ok, m = event
                if is_ok:
                    acked[m.sender] = _join(acked.get(m.sender), closure[m.id])
                else:
                    found += self.invoked(m, acked.get(m.sender), read.get(m.sender), excluded)
                event = next(pending, None)
            if d is not None:
                read[d.user] = _join(read.get(d.user), closure.get(d.id) or own[d.id])
        return found

    def invoked(
        self,
        m: Message,
        acked: Vector | None,
        read: Vector | None,
        excluded: set[tuple[str, str]],
    ) -> list[CausalViolation]:
        own = self.own[m.id]
        causes = _join(acked, read)
        self.closure[m.id] = own if causes is None else _join_both(causes, own)
        if causes is None:
            return []
        self.causes[m.id] = causes
        found = []
        for user in m.to:
            slot = self.slot.get(user)
            if slot is None:
                continue
            seen, bound = own[slot], causes[slot]
            if seen != NEVER and bound > seen and (m.id, user) not in excluded:
                found.append(CausalViolation(m, user, seen, bound, self))
        return found

    def direct_causes(self, m: Message) -> list[Step]:
        """Every send that happens directly before ``m``, earliest invoke first."""
        steps = []
        first_seen = self.obs.first_seen
        for c in self.messages:
            if c is m:
                continue
            if c.sender == m.sender and c.ok_index is not None and c.ok_index < m.invoke_index:
                steps.append(Step(c, m, None))
                continue
            seen = first_seen.get(c.id, {}).get(m.sender, NEVER)
            if seen < m.invoke_index:
                steps.append(Step(c, m, seen))
        return steps

    def chain(self, later: Message, user: str, bound: int) -> list[Step]:
        """Walk back from ``later`` through causes that carry ``bound`` for ``user``, down to the
        cause ``user`` saw at ``bound`` (or never saw); empty if no such walk exists."""
        slot = self.slot[user]
        steps: list[Step] = []
        current = later
        visited = {later.id}
        while True:
            candidates = self.direct_causes(current)
            witness = next((s for s in candidates if self.own[s.cause.id][slot] == bound), None)
            if witness is not None:
                steps.append(witness)
                steps.reverse()
                return steps
            onward = next(
                (
                    s
                    for s in candidates
                    if s.cause.id not in visited and self.carries(s.cause, slot, bound)
                ),
                None,
            )
            if onward is None:
                return []
            steps.append(onward)
            visited.add(onward.cause.id)
            current = onward.cause

    def carries(self, m: Message, slot: int, bound: int) -> bool:
        causes = self.causes.get(m.id)
        return causes is not None and causes[slot] == bound
