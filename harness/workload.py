"""The seeded workload plan: who exists, who talks in which conversation, what is sent when.

Everything is decided here from the seed before the run starts, with no I/O, so the same seed and
configuration give the same plan; the client drivers only carry it out. What the cluster answers
(and so what the history holds) still depends on timing and faults.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from harness.config import RunConfig


@dataclass(frozen=True)
class PlannedSend:
    """One message to send: ``at`` seconds after the workload starts."""

    at: float
    msg_id: str
    user: str
    conv: str
    body: bytes


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


def plan_sends(
    rng: random.Random,
    conversations: dict[str, tuple[str, ...]],
    rate: float,
    duration: float,
) -> tuple[PlannedSend, ...]:
    """Poisson arrivals at ``rate`` per second; each from a random member of a random chat."""
    sends: list[PlannedSend] = []
    counters: dict[str, int] = {}
    names = sorted(conversations)
    t = rng.expovariate(rate)
    while t < duration:
        conv = rng.choice(names)
        user = rng.choice(conversations[conv])
        counters[user] = counters.get(user, 0) + 1
        msg_id = f"m{user[1:]}-{counters[user]}"
        body = f"{msg_id} {rng.getrandbits(64):016x}".encode()
        sends.append(PlannedSend(round(t, 6), msg_id, user, conv, body))
        t += rng.expovariate(rate)
    return tuple(sends)


def plan_offline(
    rng: random.Random, users: list[str], fraction: float, duration: float
) -> tuple[OfflineWindow, ...]:
    """One offline window for about ``fraction`` of the users, inside the workload's duration."""
    windows = []
    for user in users:
        if duration < 4 or rng.random() >= fraction:
            continue
        length = rng.uniform(2.0, min(8.0, duration / 3))
        start = rng.uniform(0.5, max(0.6, duration - length - 0.5))
        windows.append(OfflineWindow(user, round(start, 3), round(length, 3)))
    return tuple(windows)


def plan_workload(config: RunConfig) -> WorkloadPlan:
    """The whole plan for ``config``; equal configs give equal plans."""
    rng = random.Random(f"workload-{config.seed}")
    users = [f"u{i + 1}" for i in range(config.clients)]
    conversations = plan_conversations(
        rng, users, config.groups, config.direct_chats, config.group_sizes
    )
    client_group = {user: f"c{i % config.client_groups}" for i, user in enumerate(users)}
    sends = plan_sends(rng, conversations, config.rate, config.time_limit)
    offline = plan_offline(rng, users, config.offline_fraction, config.time_limit)
    return WorkloadPlan(tuple(users), conversations, client_group, sends, offline)
