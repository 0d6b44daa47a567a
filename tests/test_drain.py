"""The drain reads every node: a replica holding what the others lack shows in the history even
when no client was on it. The system here is an in-memory stand-in, since the property is the
harness's own drain logic (which node each client catches up against), not a system's."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from checkers import check_history
from checkers.history import parse_history
from harness.driver import ClientDriver, DriverSettings, ProcessIds
from harness.recorder import Recorder
from harness.run import drain
from systems.seam import (
    ClientSettings,
    Delivery,
    DeliveryCallback,
    NotCaughtUp,
    Sent,
    Unreachable,
)


@dataclass
class Replicas:
    """What each node would deliver to each user: node -> user -> [(id, conv, sender, seq)]."""

    held: dict[str, dict[str, list[tuple[str, str, str, int]]]]
    down: set[str] = field(default_factory=set)
    behind: dict[str, str] = field(default_factory=dict)  # node -> why it never catches up


class ReplicaClient:
    def __init__(self, user: str, replicas: Replicas, on_deliver: DeliveryCallback) -> None:
        self.user, self.replicas, self.on_deliver = user, replicas, on_deliver
        self._node: str | None = None
        self.seen: set[str] = set()

    @property
    def node(self) -> str | None:
        return self._node

    async def connect(self, order: Sequence[str]) -> str:
        for node in order:
            if node not in self.replicas.down:
                self._node = node
                return node
        raise Unreachable("every node is down")

    async def send(self, msg_id: str, conv: str, body: bytes) -> Sent:
        return Sent(seq=None, node=self._node)

    async def sync(self, timeout: float) -> None:
        assert self._node is not None
        if self._node in self.replicas.behind:
            raise NotCaughtUp(f"{self.user}: {self.replicas.behind[self._node]}")
        for msg_id, conv, sender, seq in self.replicas.held[self._node].get(self.user, []):
            if msg_id not in self.seen:
                self.seen.add(msg_id)
                self.on_deliver(Delivery(msg_id, conv, sender, self.user, seq, "d", self._node))

    async def close(self) -> None:
        self._node = None


class ReplicaSystem:
    def __init__(self, replicas: Replicas) -> None:
        self.replicas = replicas

    def client(
        self,
        user: str,
        endpoints: Mapping[str, str],
        on_deliver: DeliveryCallback,
        settings: ClientSettings,
    ) -> ReplicaClient:
        return ReplicaClient(user, self.replicas, on_deliver)


def drained(
    tmp_path: Any, replicas: Replicas, nodes: tuple[str, ...], timeout: float = 20.0
) -> tuple[bool, list[dict]]:
    history = tmp_path / "history.jsonl"

    async def go(recorder: Recorder) -> bool:
        ids = ProcessIds()
        drivers = [
            ClientDriver(
                user=user,
                system=ReplicaSystem(replicas),  # type: ignore[arg-type]
                conversations={"g": ("u1", "u2")},
                endpoints={"n1": "-", "n2": "-", "n3": "-"},
                record=recorder.record,
                process_ids=ids,
                settings=DriverSettings(ClientSettings()),
                rng=random.Random(user),
            )
            for user in ("u1", "u2")
        ]
        for d in drivers:
            d._order = ["n1", "n2", "n3"]
        return await drain(drivers, recorder.record, timeout=timeout, nodes=nodes)

    with Recorder(history) as recorder:
        ok = asyncio.run(go(recorder))
    return ok, [orjson.loads(line) for line in history.read_bytes().splitlines()]


def test_a_message_only_one_replica_holds_is_read_from_it(tmp_path: Any) -> None:
    replicas = Replicas({"n1": {}, "n2": {}, "n3": {"u2": [("stray", "g", "u1", 7)]}})
    ok, ops = drained(tmp_path, replicas, ("n1", "n2", "n3"))
    assert ok
    delivered = [op for op in ops if op["f"] == "deliver"]
    assert [(op["value"]["id"], op["node"]) for op in delivered] == [("stray", "n3")]
    results = check_history(parse_history([orjson.dumps(op) for op in ops]))
    assert results["anomaly_counts"]["unexpected"] == 1  # no send ever invoked "stray"


def test_without_reading_every_node_the_stray_message_stays_hidden(tmp_path: Any) -> None:
    replicas = Replicas({"n1": {}, "n2": {}, "n3": {"u2": [("stray", "g", "u1", 7)]}})
    ok, ops = drained(tmp_path, replicas, ())
    assert ok and not [op for op in ops if op["f"] == "deliver"]


def test_a_node_that_cannot_be_reached_leaves_the_drain_incomplete(tmp_path: Any) -> None:
    replicas = Replicas({"n1": {}, "n2": {}, "n3": {}}, down={"n3"})
    ok, ops = drained(tmp_path, replicas, ("n1", "n2", "n3"), timeout=6.0)
    assert not ok
    assert ops[-1]["type"] == "info" and "from n3" in ops[-1]["error"]
    assert "u1 (could not connect to n3)" in ops[-1]["error"]


def test_the_drain_error_says_why_each_client_could_not_catch_up(tmp_path: Any) -> None:
    replicas = Replicas({"n1": {}, "n2": {}, "n3": {}}, behind={"n2": "g: acked to 3 of 5"})
    ok, ops = drained(tmp_path, replicas, ("n1", "n2", "n3"), timeout=5.0)
    assert not ok
    error = ops[-1]["error"]
    assert "2 client(s) could not catch up from n2" in error
    assert "u1 (u1: g: acked to 3 of 5)" in error and "u2 (u2: g: acked to 3 of 5)" in error
