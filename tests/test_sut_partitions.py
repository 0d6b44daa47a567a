"""The reference cluster under real Toxiproxy partitions (drop mode), through the local backend.

Each test starts three nodes behind one proxy per directed link (``start_local``), cuts every
proxy to and from one node, heals, and times how soon sends are taken again. Clients reach every
node through their own proxies, which stay up. Bounds are generous so a loaded CI machine does not
flake; the measured figures are printed (``pytest -s``) and are typically near 0.3 s.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.backends.base import ClusterSpec
from harness.backends.local import LocalCluster, start_local
from nemesis.interface import proxy_name
from system_under_test.client import (
    ChatClient,
    Delivery,
    NotSynced,
    SendIndeterminate,
    SendRejected,
)
from system_under_test.keys import Provisioned
from system_under_test.launcher import CLUSTER_SECRET, provision_users

NODES = ("n1", "n2", "n3")
HEALED_WITHIN = 3.0  # seconds from heal to an accepted send; measured ~0.3 s


@dataclass
class Run:
    cluster: LocalCluster
    keys: Provisioned

    def client(self, user: str, got: list[Delivery] | None = None) -> ChatClient:
        return ChatClient(
            user,
            self.keys.secrets[user],
            self.keys.directory,
            self.cluster.client_urls("c0"),
            on_deliver=got.append if got is not None else None,
            request_timeout=2.0,
        )

    def cut(self, node: str) -> list[str]:
        links = [proxy_name(a, b) for a in NODES for b in NODES if a != b and node in (a, b)]
        self.cluster.proxies.cut(links, mode="drop")
        return links

    def status(self, node: str) -> dict:
        return self.cluster.status(node, timeout=0.5) or {}


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[[str], Run]]:
    started: list[LocalCluster] = []

    def start(mode: str) -> Run:
        keys, users, _ = provision_users(tmp_path, 3)
        secret = ("--cluster-secret-file", str(tmp_path / CLUSTER_SECRET))
        spec = ClusterSpec(
            nodes=NODES, mode=mode, users_file=users, run_dir=tmp_path, node_args=secret
        )
        cluster = start_local(spec)
        started.append(cluster)
        return Run(cluster, keys)

    try:
        yield start
    finally:
        for cluster in started:
            cluster.stop()


async def until(what: str, predicate: Callable[[], bool], timeout: float) -> float:
    """Seconds until ``predicate`` held; fails naming ``what`` after ``timeout``."""
    began = time.monotonic()
    while not predicate():
        if time.monotonic() - began > timeout:
            raise AssertionError(f"{what}: not within {timeout} s")
        await asyncio.sleep(0.05)
    return time.monotonic() - began


async def one_primary(run: Run, timeout: float = 15.0) -> str:
    def agreed() -> bool:
        statuses = [run.status(n) for n in NODES]
        return len({s.get("primary") for s in statuses}) == 1 and all(
            s.get("primary") for s in statuses
        )

    await until("one primary known to all", agreed, timeout)
    return run.status(NODES[0])["primary"]


async def accepted_after(client: ChatClient, node: str, prefix: str, timeout: float) -> float:
    """Seconds until a send through ``node`` is acked; reconnects when the connection drops."""
    began, n = time.monotonic(), 0
    while time.monotonic() - began < timeout:
        n += 1
        try:
            if client.node is None:
                await client.connect([node])
            await client.send(f"{prefix}-{n}", "g1", b"probe")
            return time.monotonic() - began
        except (SendRejected, SendIndeterminate, OSError):
            await asyncio.sleep(0.05)
    raise AssertionError(f"no send through {node} accepted within {timeout} s of the heal")


async def keeps_accepting(client: ChatClient, prefix: str, seconds: float) -> None:
    """Every send for ``seconds`` is acked (raises on the first that is not)."""
    end, n = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        n += 1
        await client.send(f"{prefix}-{n}", "g1", b"steady")
        await asyncio.sleep(0.05)


def _seconds(times: dict[str, float]) -> str:
    return ", ".join(f"{n} {t:.2f} s" for n, t in sorted(times.items()))


def test_cp_secondary_alone_refuses_then_rejoins_without_deposing_the_primary(start):
    run = start("cp")

    async def scenario() -> None:
        primary = await one_primary(run)
        lone, other = (n for n in NODES if n != primary)
        epoch = run.status(primary)["epoch"]
        got: list[Delivery] = []
        writer, reader, lone_writer = run.client("u1"), run.client("u2", got), run.client("u3")
        await writer.connect([other])
        await reader.connect([lone])
        await lone_writer.connect([lone])
        links = run.cut(lone)
        await until("the lone node forgets its primary", lambda: not run.status(lone)["ready"], 5)
        with pytest.raises(SendRejected, match="no primary"):
            await lone_writer.send("refused", "g1", b"x")
        during = [f"cut-{i}" for i in range(3)]
        for msg_id in during:
            await writer.send(msg_id, "g1", b"while cut")
        await asyncio.sleep(1.0)
        assert run.status(lone)["epoch"] == epoch, "failed pre-votes raised the lone epoch"
        run.cluster.proxies.restore(links)
        healed = time.monotonic()
        while True:  # the barrier holds "synced" back until the lone node caught up
            try:
                await reader.sync(2.0)
                break
            except (NotSynced, TimeoutError):
                assert time.monotonic() - healed < HEALED_WITHIN
        synced = time.monotonic() - healed
        assert set(during) <= {d.id for d in got}, "synced before the messages arrived"
        await accepted_after(lone_writer, lone, "after", HEALED_WITHIN)
        took = time.monotonic() - healed
        print(f"\nCP secondary alone, after the heal: {lone} synced in {synced:.2f} s, "
              f"took a send in {took:.2f} s")  # fmt: skip
        await keeps_accepting(writer, "steady", 1.0)
        after = run.status(primary)
        assert (after["role"], after["epoch"]) == ("primary", epoch), "the primary was deposed"
        for c in (writer, reader, lone_writer):
            await c.close()

    asyncio.run(scenario())


def test_cp_primary_alone_is_replaced_and_rejoins_under_the_new_primary(start):
    run = start("cp")

    async def scenario() -> None:
        old = await one_primary(run)
        majority = [n for n in NODES if n != old]
        clients = {n: run.client(u) for n, u in zip(NODES, ("u1", "u2", "u3"), strict=True)}
        for node, client in clients.items():
            await client.connect([node])
        links, cut_at = run.cut(old), time.monotonic()

        def replaced() -> bool:
            return {run.status(n).get("primary") for n in majority} - {None, old} != set()

        await until("the majority elects a new primary", replaced, 8)
        new = run.status(majority[0])["primary"]
        await accepted_after(clients[majority[0]], majority[0], "maj", 5)
        await until("the old primary steps down", lambda: not run.status(old)["ready"], 5)
        with pytest.raises(SendRejected, match="no primary"):
            await clients[old].send("refused", "g1", b"x")
        await asyncio.sleep(max(0.0, cut_at + 4.0 - time.monotonic()))  # a few failed elections
        epoch = run.status(new)["epoch"]
        run.cluster.proxies.restore(links)
        took = {n: await accepted_after(c, n, "after", HEALED_WITHIN) for n, c in clients.items()}
        print(f"\nCP primary alone: sends accepted after the heal in {_seconds(took)}")
        await keeps_accepting(clients[majority[1]], "steady", 1.0)
        assert await one_primary(run, HEALED_WITHIN) == new
        assert run.status(new)["epoch"] == epoch, "the rejoining node raised the epoch"
        for c in clients.values():
            await c.close()

    asyncio.run(scenario())


def test_ap_both_sides_accept_while_cut_and_every_message_reaches_every_recipient(start):
    run = start("ap")

    async def scenario() -> None:
        got = {u: [] for u in ("u1", "u2", "u3")}
        where = {"u1": "n1", "u2": "n2", "u3": "n3"}
        clients = {u: run.client(u, got[u]) for u in got}
        for user, client in clients.items():
            await client.connect([where[user]])
        links = run.cut("n3")
        sent = {"u1": ["a1", "a2"], "u3": ["b1", "b2"]}
        for user, ids in sent.items():
            for msg_id in ids:
                assert (await clients[user].send(msg_id, "g1", b"ap")).seq is not None
        await asyncio.sleep(0.5)
        assert not {d.id for d in got["u3"]} & set(sent["u1"]), "n3 got data through the cut"
        run.cluster.proxies.restore(links)
        wanted = {"u1": set(sent["u3"]), "u2": set(sent["u1"] + sent["u3"]), "u3": set(sent["u1"])}

        def delivered() -> bool:
            return all(wanted[u] <= {d.id for d in got[u]} for u in got)

        took = await until("anti-entropy delivers every message", delivered, HEALED_WITHIN)
        print(f"\nAP: every message at every recipient {took:.2f} s after the heal")
        for c in clients.values():
            await c.close()

    asyncio.run(scenario())
