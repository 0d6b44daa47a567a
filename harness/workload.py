"""The seeded workload plan: who exists, who talks in which conversation, what is sent when.

Everything is decided here from the seed before the run starts, with no I/O, so the same seed and
configuration give the same plan; the client drivers only carry it out. What the cluster answers
(and so what the history holds) still depends on timing and faults.
"""

from __future__ import annotations

import bisect
import hashlib
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.config import RunConfig
from splitbrain.names import client_group_of

BURST_SECONDS = 3.0  # how long the send rate stays raised at the start of a fault
LEAD_SECONDS = (0.3, 1.2)  # how long before its fault a before-faults conversation starts
_WIRE_ID = re.compile(r"m(\d+)-\d+")


@dataclass(frozen=True)
class PlannedSend:
    """One message to send: ``at`` seconds after the workload starts.

    ``msg_id`` is the message's id in the history (unique); ``wire_id`` is the id the client
    gives the system, which is another sender's id for a colliding send (see :func:`history_id`).
    The body is made from ``body_seed`` when asked for, so large bodies cost no memory until sent;
    the same seed always makes the same bytes.
    """

    at: float
    msg_id: str
    user: str
    conv: str
    size: int
    body_seed: int
    wire_id: str = ""

    @property
    def body(self) -> bytes:
        head = f"{self.msg_id} ".encode()
        seed = self.body_seed.to_bytes(8, "big")
        return head + hashlib.shake_128(seed).digest(max(0, self.size - len(head)))

    @property
    def system_id(self) -> str:
        return self.wire_id or self.msg_id


def history_id(wire_id: str, sender: str) -> str:
    """The history id of a message the system knows as ``wire_id`` from ``sender``.

    Workload ids name their sender (``m3-17`` is u3's 17th); a send that reuses another sender's
    id is recorded as ``<id>~<sender>``, so ids stay unique in the history while the system sees
    the collision. Ids of another form are kept as they are.
    """
    match = _WIRE_ID.fullmatch(wire_id)
    if match is None or sender == f"u{match.group(1)}":
        return wire_id
    return f"{wire_id}~{sender}"


@dataclass(frozen=True)
class OfflineWindow:
    """A client goes offline at ``start`` and comes back ``duration`` seconds later."""

    user: str
    start: float
    duration: float


@dataclass(frozen=True)
class WorkloadPlan:
    users: tuple[str, ...]
    conversations: dict[str, tuple[str, ...]]
    client_group: dict[str, str]  # user -> client group name (c0, c1, ...)
    sends: tuple[PlannedSend, ...]
    offline: tuple[OfflineWindow, ...]

    def sends_by_user(self) -> dict[str, list[PlannedSend]]:
        """Each user's sends in time order (every user is a key)."""
        out: dict[str, list[PlannedSend]] = {user: [] for user in self.users}
        for send in self.sends:
            out[send.user].append(send)
        return out

    def offline_by_user(self) -> dict[str, list[OfflineWindow]]:
        """Each user's offline windows (every user is a key)."""
        out: dict[str, list[OfflineWindow]] = {user: [] for user in self.users}
        for window in self.offline:
            out[window.user].append(window)
        return out


def plan_conversations(
    rng: random.Random, users: list[str], groups: int, direct_chats: int, sizes: tuple[int, int]
) -> dict[str, tuple[str, ...]]:
    """Direct chats between distinct pairs and groups of the configured sizes (capped at users)."""
    conversations: dict[str, tuple[str, ...]] = {}
    pairs = [(a, b) for i, a in enumerate(users) for b in users[i + 1 :]]
    rng.shuffle(pairs)
    for k, (a, b) in enumerate(pairs[:direct_chats]):
        conversations[f"d{k + 1}"] = (a, b)
    for k in range(groups):
        size = min(rng.randint(*sizes), len(users))
        conversations[f"g{k + 1}"] = tuple(sorted(rng.sample(users, size), key=users.index))
    return conversations


def split_senders(users: list[str], senders: str) -> tuple[list[str], list[str]]:
    """(members, producers): with ``outsiders`` the last quarter of the users (at least one) are
    producers, in no conversation; otherwise every user is a member and there are none."""
    if senders != "outsiders":
        return users, []
    count = max(1, len(users) // 4)
    return users[:-count], users[-count:]


def plan_starts(
    rng: random.Random, names: Sequence[str], faults: Sequence[float], how: str
) -> dict[str, float]:
    """When each conversation is first used; empty (any time) unless ``how`` is
    ``before-faults``: then, in a seeded order, each conversation starts 0.3-1.2 s before the
    next fault start in ``faults``, so a system's per-conversation state (a NATS stream) is
    created just before a fault; conversations left over start at 0."""
    if how != "before-faults":
        return {}
    order = sorted(names)
    rng.shuffle(order)
    times = sorted(set(faults))
    return {
        conv: round(max(0.0, times[k] - rng.uniform(*LEAD_SECONDS)), 6) if k < len(times) else 0.0
        for k, conv in enumerate(order)
    }


def _rate_at(t: float, rate: float, bursts: Sequence[float], burst: float) -> float:
    return rate * burst if any(b <= t < b + BURST_SECONDS for b in bursts) else rate


def plan_sends(
    rng: random.Random,
    conversations: dict[str, tuple[str, ...]],
    rate: float,
    duration: float,
    sizes: Sequence[int] = (24,),
    bursts: Sequence[float] = (),
    burst: float = 1.0,
    starts: Mapping[str, float] | None = None,
    producers: Sequence[str] = (),
) -> tuple[PlannedSend, ...]:
    """Poisson arrivals at ``rate`` per second (``rate * burst`` for a few seconds from each time
    in ``bursts``); each from a random member of a random chat, of a size drawn from ``sizes``.

    With ``starts`` (see :func:`plan_starts`) a conversation gets a send at its start time and
    none before; with ``producers`` every send is by one of them instead of a member."""
    starts = starts or {}
    sends: list[PlannedSend] = []
    counters: dict[str, int] = {}
    names = sorted(conversations)
    firsts = sorted((at, conv) for conv, at in starts.items() if at < duration)

    def add(at: float, conv: str) -> None:
        user = rng.choice(producers or conversations[conv])
        counters[user] = counters.get(user, 0) + 1
        msg_id = f"m{user[1:]}-{counters[user]}"
        size = rng.choice(sizes)
        sends.append(PlannedSend(round(at, 6), msg_id, user, conv, size, rng.getrandbits(64)))

    peak = rate * max(1.0, burst)
    t = rng.expovariate(peak)
    while t < duration:
        while firsts and firsts[0][0] <= t:
            add(*firsts.pop(0))
        if rng.random() * peak < _rate_at(t, rate, bursts, burst):
            started = [c for c in names if starts.get(c, 0.0) <= t]
            if started:
                add(t, rng.choice(started))
        t += rng.expovariate(peak)
    for at, conv in firsts:
        add(at, conv)
    return tuple(sends)


class AllBut(Sequence[str]):
    """``items`` without the ones at ``skipped`` (sorted positions), in order, without a copy:
    drawing from it costs a binary search, not a pass over every send."""

    def __init__(self, items: list[str], skipped: list[int]) -> None:
        self.items, self.skipped = items, skipped

    def __len__(self) -> int:
        return len(self.items) - len(self.skipped)

    def __getitem__(self, k: int) -> str:  # type: ignore[override]
        if not 0 <= k < len(self):
            raise IndexError(k)
        before = bisect.bisect_right(self.skipped, k)
        while (more := bisect.bisect_right(self.skipped, k + before)) != before:
            before = more
        return self.items[k + before]


def collide_ids(
    rng: random.Random, sends: tuple[PlannedSend, ...], share: float
) -> tuple[PlannedSend, ...]:
    """About ``share`` of the sends (at least one when ``share`` > 0) reuse, on the wire, the id
    of another sender's send; their history ids become ``<id>~<sender>``."""
    if share <= 0 or len({s.user for s in sends}) < 2:
        return sends
    chosen = set(rng.sample(range(len(sends)), max(1, round(share * len(sends)))))
    pool = [s for j, s in enumerate(sends) if j not in chosen]
    ids = [s.msg_id for s in pool]
    positions: dict[str, list[int]] = {}
    for p, s in enumerate(pool):
        positions.setdefault(s.user, []).append(p)
    out = list(sends)
    taken: set[tuple[str, str]] = set()
    for i in sorted(chosen):
        send = sends[i]
        others = AllBut(ids, positions.get(send.user, []))
        if not others:
            continue
        wire = rng.choice(others)
        if (wire, send.user) in taken:
            continue
        taken.add((wire, send.user))
        out[i] = PlannedSend(
            send.at, history_id(wire, send.user), send.user, send.conv, send.size,
            send.body_seed, wire,
        )  # fmt: skip
    return tuple(out)


def plan_offline(
    rng: random.Random,
    users: list[str],
    fraction: float,
    duration: float,
    faults: Sequence[float] = (),
) -> tuple[OfflineWindow, ...]:
    """One offline window for about ``fraction`` of the users (at least one user when
    ``fraction`` > 0), inside the workload's duration; half of them start during a fault (at a
    time in ``faults``), so clients reconnect while the cluster is broken."""
    if duration < 4 or fraction <= 0:
        return ()
    chosen = [u for u in users if rng.random() < fraction] or [rng.choice(users)]
    windows = []
    for user in chosen:
        length = rng.uniform(2.0, min(8.0, duration / 3))
        latest = max(0.6, duration - length - 0.5)
        start = rng.uniform(0.5, latest)
        if faults and rng.random() < 0.5:
            start = min(latest, rng.choice(faults) + rng.uniform(0.0, 1.0))
        windows.append(OfflineWindow(user, round(start, 3), round(length, 3)))
    return tuple(windows)


def plan_workload(config: RunConfig, faults: Sequence[float] = ()) -> WorkloadPlan:
    """The whole plan for ``config``; equal configs (and fault times) give equal plans.

    ``faults`` are the times the seeded fault schedule starts a fault: sends burst there, some
    clients go offline there, and ``before-faults`` conversations start just before them.
    With ``senders = outsiders`` the members are offline from 0 to the time limit (they connect
    only for the drain) and only the producers get random offline windows.
    """
    rng = random.Random(f"workload-{config.seed}")
    users = [f"u{i + 1}" for i in range(config.clients)]
    members, producers = split_senders(users, config.senders)
    conversations = plan_conversations(
        rng, members, config.groups, config.direct_chats, config.group_sizes
    )
    starts = plan_starts(rng, list(conversations), faults, config.conversation_starts)
    client_group = {user: client_group_of(i, config.client_groups) for i, user in enumerate(users)}
    sends = plan_sends(
        rng,
        conversations,
        config.rate,
        config.time_limit,
        config.payload_sizes,
        faults,
        config.burst,
        starts,
        producers,
    )
    sends = collide_ids(rng, sends, config.colliding_ids)
    offline = plan_offline(
        rng, producers or users, config.offline_fraction, config.time_limit, faults
    )
    offline += tuple(OfflineWindow(u, 0.0, config.time_limit) for u in members if producers)
    return WorkloadPlan(tuple(users), conversations, client_group, sends, offline)
