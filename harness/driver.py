"""Chat clients that carry out the workload plan against the cluster and record what they see.

One :class:`ClientDriver` per user. It records every send as ``invoke`` then
``ok``/``fail``/``info`` and every arrival as a ``deliver`` line, following history-format.md: a
process whose send ended ``info`` is never reused (the driver takes a fresh process number), and a
retry after ``info`` reuses the message id. When its node is unreachable the driver fails over
to the other nodes of its client group, as the design's load balancer would.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import random
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from harness.counts import OpCounts
from harness.workload import OfflineWindow, PlannedSend, history_id
from splitbrain.messages import digest
from systems.seam import (
    ClientSettings,
    Delivery,
    Indeterminate,
    MessagingClient,
    NotCaughtUp,
    Refused,
    System,
    Unreachable,
)

Record = Callable[..., dict[str, Any]]


class ProcessIds:
    """Hands out fresh client process numbers for one run."""

    def __init__(self) -> None:
        self._counter = itertools.count()

    def next(self) -> int:
        return next(self._counter)


@dataclass
class DriverSettings:
    client: ClientSettings = field(default_factory=ClientSettings)
    retries_after_info: int = 2


@dataclass
class ClientDriver:
    """Drives one user's client; every public coroutine returns, never raises on cluster faults."""

    user: str
    system: System
    conversations: Mapping[str, tuple[str, ...]]
    endpoints: Mapping[str, str]
    record: Record
    process_ids: ProcessIds
    settings: DriverSettings
    rng: random.Random
    counts: OpCounts = field(default_factory=OpCounts)

    def __post_init__(self) -> None:
        self.process = self.process_ids.next()
        self.last_delivery_at = 0.0
        self.sync_problem = ""  # why the last sync failed, for the drain's error
        self._order = list(self.endpoints)
        self.rng.shuffle(self._order)
        # One client for the whole run, so a system's client may remember what it received
        # across reconnects (the reference client tells each node, so failover does not redeliver).
        self._client: MessagingClient = self.system.client(
            self.user, self.endpoints, self._on_deliver, self.settings.client
        )

    def _on_deliver(self, d: Delivery) -> None:
        value = {
            "id": history_id(d.id, d.sender),
            "conv": d.conv,
            "from": d.sender,
            "user": d.user,
            "seq": d.seq,
            "digest": d.digest,
        }
        self.record(self.process, "ok", "deliver", value, node=d.node)
        self.counts.delivered += 1
        self.last_delivery_at = asyncio.get_running_loop().time()

    @property
    def node(self) -> str | None:
        return self._client.node

    async def connect(self) -> bool:
        """Connect to the first reachable node of this client's group, preferred node first."""
        if self._client.node is not None:
            return True
        try:
            await self._client.connect(self._order)
        except Unreachable:
            await self.disconnect()
            return False
        self.counts.connects += 1
        return True

    async def disconnect(self) -> None:
        with contextlib.suppress(Exception):
            await self._client.close()

    def _rotate_from(self, node: str | None) -> None:
        """Prefer the next node after ``node`` from now on (failover away from it)."""
        if node in self._order:
            i = self._order.index(node)
            self._order = self._order[i + 1 :] + self._order[: i + 1]

    async def send(self, planned: PlannedSend, deadline: float) -> None:
        """Send one planned message, retrying with the same id after ``info`` while time remains."""
        loop = asyncio.get_running_loop()
        attempts = 0
        while True:
            outcome = await self._send_once(planned)
            if outcome != "info":
                return
            attempts += 1
            if attempts > self.settings.retries_after_info or loop.time() >= deadline:
                return

    def _end(
        self,
        process: int,
        outcome: str,
        planned: PlannedSend,
        node: str | None,
        error: str | None = None,
        seq: int | None = None,
    ) -> str:
        """Record the completion of a send and count it; returns ``outcome``."""
        value: dict[str, Any] = {"id": planned.msg_id, "conv": planned.conv}
        if seq is not None:
            value["seq"] = seq
        self.record(process, outcome, "send", value, node=node, error=error)
        self.counts.ended(outcome)
        return outcome

    async def _send_once(self, planned: PlannedSend) -> str:
        body = planned.body
        to = sorted(u for u in self.conversations[planned.conv] if u != self.user)
        invoke = {
            "id": planned.msg_id,
            "conv": planned.conv,
            "from": self.user,
            "to": to,
            "digest": digest(body),
        }
        connected = await self.connect()
        process = self.process
        if not connected:
            self.record(process, "invoke", "send", invoke)
            return self._end(process, "fail", planned, None, "no node reachable from this client")
        node = self._client.node
        self.record(process, "invoke", "send", invoke, node=node)
        try:
            sent = await self._client.send(planned.system_id, planned.conv, body)
        except Refused as exc:
            outcome = self._end(process, "fail", planned, node, str(exc) or "rejected")
        except Indeterminate as exc:
            outcome = self._end(process, "info", planned, node, str(exc) or type(exc).__name__)
            self.process = self.process_ids.next()
        else:
            return self._end(process, "ok", planned, sent.node or node, seq=sent.seq)
        self._rotate_from(node)
        await self.disconnect()
        return outcome

    async def run(
        self,
        sends: list[PlannedSend],
        offline: list[OfflineWindow],
        start: float,
        deadline: float,
    ) -> None:
        """Carry out this user's sends and offline windows (times relative to ``start``); a user
        offline from the start does not connect before its window ends."""
        loop = asyncio.get_running_loop()
        online = not any(w.start <= 0 for w in offline)
        if online:
            await self.connect()
        for at, event in timeline(sends, offline):
            delay = start + at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if loop.time() >= deadline:
                break
            if isinstance(event, PlannedSend):
                if online:
                    await self.send(event, deadline)
            elif event[0] == "offline":
                online = False
                await self.disconnect()
            else:
                online = True
                await self.connect()

    async def sync(self, timeout: float, node: str | None = None) -> bool:
        """Reconnect if needed and catch up; True when the node confirmed it.

        With ``node``, catch up against that node only (moving there first), so the drain can
        read what every replica holds; otherwise against any node, failing over as in the run.
        """
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        self.sync_problem = f"could not connect{f' to {node}' if node else ''}"
        while loop.time() < end:
            if node is not None and self._client.node not in (None, node):
                await self.disconnect()
            if await self._connect_to(node):
                try:
                    await self._client.sync(timeout=max(0.5, min(5.0, end - loop.time())))
                    self.sync_problem = ""
                    return True
                except (NotCaughtUp, Unreachable, Indeterminate) as exc:
                    self.sync_problem = str(exc) or type(exc).__name__
                    self._rotate_from(self.node)
                    await self.disconnect()
            await asyncio.sleep(0.3)
        return False

    async def _connect_to(self, node: str | None) -> bool:
        if node is None:
            return await self.connect()
        if self._client.node == node:
            return True
        try:
            await self._client.connect([node])
        except Unreachable:
            await self.disconnect()
            return False
        self.counts.connects += 1
        return True


Event = PlannedSend | tuple[str, OfflineWindow]


def timeline(
    sends: list[PlannedSend], offline: list[OfflineWindow]
) -> Iterator[tuple[float, Event]]:
    """``sends`` (in time order) and the going offline and coming back of ``offline``, as
    ``(at, event)`` in time order; at the same time, going offline or online comes first.

    Lazy, so a driver pays for the sends it reaches, not for the whole plan up front.
    """
    changes: list[tuple[float, Event]] = []
    for w in offline:
        changes.append((w.start, ("offline", w)))
        changes.append((w.start + w.duration, ("online", w)))
    changes.sort(key=itemgetter(0))
    return heapq.merge(changes, ((s.at, s) for s in sends), key=itemgetter(0))
