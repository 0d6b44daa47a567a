"""Protocol tests against real nodes on loopback: real websockets, SQLite files and PyNaCl."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from splitbrain.messages import digest
from splitbrain.ports import free_port_block
from system_under_test import crypto
from system_under_test.client import (
    AuthRefused,
    ChatClient,
    ConnectionLost,
    Delivery,
    SendRejected,
)
from system_under_test.keys import Provisioned
from system_under_test.launcher import (
    LocalCluster,
    local_specs,
    provision_users,
)


@dataclass
class Running:
    cluster: LocalCluster
    keys: Provisioned
    dir: Path
    e2e: bool

    def client(self, user: str, got: list[Delivery] | None = None, **kw) -> ChatClient:
        return ChatClient(
            user,
            self.keys.secrets[user],
            self.keys.directory,
            self.cluster.urls(),
            e2e=self.e2e,
            on_deliver=got.append if got is not None else None,
            **kw,
        )


@pytest.fixture
def start_cluster(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    started: list[LocalCluster] = []

    def start(n: int = 3, mode: str = "cp", bug: str | None = None, e2e: bool = True) -> Running:
        d = tmp_path / f"cluster{len(started)}"
        d.mkdir()
        keys, users, _ = provision_users(d, 3)
        specs = local_specs(n, d, users, base_port=free_port_block(n), mode=mode, bug=bug, e2e=e2e)
        cluster = LocalCluster(specs)
        started.append(cluster)
        cluster.start()
        cluster.wait_ready(30)
        return Running(cluster, keys, d, e2e)

    yield start
    for cluster in started:
        cluster.stop()


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


def caught_up(cluster: LocalCluster) -> bool:
    """Every running node has applied all the primary committed."""
    statuses = [cluster.status(n) or {} for n in cluster.procs]
    return len({s.get("commit") for s in statuses}) == 1


def ids(got: list[Delivery], conv: str | None = None) -> list[str]:
    return [d.id for d in got if conv is None or d.conv == conv]


def test_one_to_one_and_group_messages_online(start_cluster):
    run = start_cluster()

    async def scenario():
        got2, got3 = [], []
        u1, u2, u3 = run.client("u1"), run.client("u2", got2), run.client("u3", got3)
        await u1.connect(["n1"]), await u2.connect(["n2"]), await u3.connect(["n3"])
        sent = [await u1.send(f"g-{i}", "g1", b"group %d" % i) for i in range(3)]
        direct = await u1.send("d-0", "d-u1-u2", b"just you")
        await until(lambda: len(got2) == 4 and len(got3) == 3)
        assert [s.seq for s in sent] == [1, 2, 3] and direct.seq == 1
        assert ids(got2, "g1") == ids(got3) == ["g-0", "g-1", "g-2"]
        assert [d.seq for d in got3] == [1, 2, 3]
        assert got2[-1].digest == digest(b"just you")
        assert got3[0].digest == digest(b"group 0") and got3[0].sender == "u1"
        for c in (u1, u2, u3):
            await c.close()

    asyncio.run(scenario())


def test_offline_backlog_comes_in_seq_order_on_any_node_and_only_once(start_cluster):
    run = start_cluster()

    async def scenario():
        u1 = run.client("u1")
        await u1.connect(["n1"])
        for i in range(6):
            await u1.send(f"m{i}", "g1", b"x%d" % i)
        got: list[Delivery] = []
        u2 = run.client("u2", got)
        assert await u2.connect(["n3"]) == "n3"
        await u2.wait_synced(5)
        assert ids(got) == [f"m{i}" for i in range(6)]
        assert [d.seq for d in got] == [1, 2, 3, 4, 5, 6]
        await asyncio.sleep(1.0)  # let the acks commit (they wait ack_delay, 0.25 s)
        await u2.connect(["n2"])
        await u2.sync(5)
        assert len(got) == 6, "acked messages must not come back on another node"
        await u1.close(), await u2.close()

    asyncio.run(scenario())


def test_retry_of_the_same_id_is_stored_once(start_cluster):
    run = start_cluster()

    async def scenario():
        got: list[Delivery] = []
        u1, u2 = run.client("u1"), run.client("u2", got)
        await u1.connect(["n2"]), await u2.connect(["n1"])
        first = await u1.send("r1", "d-u1-u2", b"once")
        await u1.connect(["n3"])
        again = await u1.send("r1", "d-u1-u2", b"once")
        await u1.send("r2", "d-u1-u2", b"after")
        await until(lambda: "r2" in ids(got))
        assert first.seq == again.seq == 1
        assert ids(got) == ["r1", "r2"]
        await u1.close(), await u2.close()

    asyncio.run(scenario())


def test_bad_input_gets_errors_and_the_node_keeps_serving(start_cluster):
    run = start_cluster()
    url = run.cluster.urls()["n1"] + "/client"

    async def recv(ws) -> dict:
        return json.loads(await asyncio.wait_for(ws.recv(), 5))

    async def scenario():
        async with connect(url) as ws:
            await recv(ws)  # challenge
            await ws.send("{not json")
            assert (await recv(ws))["code"] == "bad-frame"
            await ws.send(json.dumps({"t": "send", "req": 1}))
            assert (await recv(ws))["code"] == "bad-frame", "nothing but auth before auth"
            await ws.send("x" * 300_000)
            assert (await recv(ws))["code"] == "too-large"
        async with connect(url) as ws:
            challenge = await recv(ws)
            sig = crypto.sign_challenge(
                crypto.SigningKey(run.keys.secrets["u1"]),
                "n1",
                bytes.fromhex(challenge["nonce"]),
            )
            await ws.send(json.dumps({"t": "auth", "user": "u1", "sig": sig}))
            assert (await recv(ws))["t"] == "welcome"
            assert (await recv(ws))["t"] == "synced"
            await ws.send(json.dumps({"t": "dance", "req": 2}))
            assert (await recv(ws))["code"] == "unknown-type"
            await ws.send(json.dumps({"t": "send", "req": 3, "id": "x", "conv": "g1"}))
            assert (await recv(ws))["code"] == "bad-frame"
        u3 = run.client("u3")
        await u3.connect(["n1"])
        with pytest.raises(SendRejected, match="not-member"):
            await u3.send("nm", "d-u1-u2", b"intrusion")
        got: list[Delivery] = []
        u1 = run.client("u1", got)
        await u1.connect(["n1"])
        assert (await u3.send("ok", "g1", b"still serving")).seq == 1
        await until(lambda: ids(got) == ["ok"])
        await u1.close(), await u3.close()

    asyncio.run(scenario())
    text = (run.dir / "n1.log").read_text()
    for reason in ("bad-frame", "unknown-type", "too-large", "not a member"):
        assert reason in text, f"{reason} not logged"
    assert "(event loop: uvloop)" in text


def test_auth_refusals(start_cluster):
    run = start_cluster()
    wrong = ChatClient("u1", b"\x01" * 32, run.keys.directory, run.cluster.urls())

    async def scenario():
        with pytest.raises(AuthRefused):
            await wrong.connect()
        assert wrong.node is None

    asyncio.run(scenario())
    assert "authentication failed for 'u1'" in (run.dir / "n1.log").read_text()


def test_nodes_store_and_log_no_plaintext(start_cluster):
    run = start_cluster()
    secret = b"PLAINTEXT-CANARY-7f3a"

    async def scenario():
        got: list[Delivery] = []
        u1, u2 = run.client("u1"), run.client("u2", got)
        await u1.connect(["n2"]), await u2.connect(["n3"])
        await u1.send("c1", "g1", secret)
        await until(lambda: len(got) == 1)
        assert got[0].digest == digest(secret)
        await u1.close(), await u2.close()

    asyncio.run(scenario())
    run.cluster.stop()
    files = [p for p in run.dir.iterdir() if p.name.startswith("n")]
    assert any(p.suffix == ".sqlite" for p in files)
    for path in files:
        data = path.read_bytes()
        assert secret not in data and secret.hex().encode() not in data, path.name


def test_e2e_off_carries_plaintext_with_the_same_framing(start_cluster):
    run = start_cluster(e2e=False)

    async def scenario():
        got: list[Delivery] = []
        u1, u2 = run.client("u1"), run.client("u2", got)
        await u1.connect(), await u2.connect()
        await u1.send("p1", "d-u1-u2", b"clear")
        await until(lambda: len(got) == 1)
        assert got[0].digest == digest(b"clear")
        on = ChatClient("u1", run.keys.secrets["u1"], run.keys.directory, run.cluster.urls())
        with pytest.raises(Exception, match="e2e"):
            await on.connect()
        await u1.close(), await u2.close()

    asyncio.run(scenario())


@pytest.mark.slow
def test_failover_after_primary_kill_then_restart_catches_up(start_cluster):
    run = start_cluster()
    old = run.cluster.primary()
    assert old is not None
    others = [n for n in run.cluster.names if n != old]

    async def scenario():
        got: list[Delivery] = []
        u1, u2 = run.client("u1"), run.client("u2", got)
        await u1.connect([old]), await u2.connect([others[0]])
        await u1.send("before", "g1", b"1")
        run.cluster.kill(old)
        await until(lambda: u1.node is None)
        with pytest.raises(SendRejected):
            await u1.send("nowhere", "g1", b"x")
        assert await u1.connect([old, *others]) in others
        await until(lambda: run.cluster.primary() in others, timeout=10)
        after = await u1.send("after", "g1", b"2")
        assert after.seq == 2
        await until(lambda: ids(got) == ["before", "after"])
        run.cluster.start([old])
        run.cluster.wait_ready(20, [old])
        await until(lambda: (run.cluster.status(old) or {}).get("commit", 0) >= 4, timeout=10)
        got3: list[Delivery] = []
        u3 = run.client("u3", got3)
        await u3.connect([old])
        await u3.wait_synced(5)
        assert ids(got3) == ["before", "after"]
        for c in (u1, u2, u3):
            await c.close()

    asyncio.run(scenario())


@pytest.mark.slow
def test_cp_minority_refuses_sends_definitely(start_cluster):
    run = start_cluster()
    survivor = run.cluster.names[0]
    for name in run.cluster.names[1:]:
        run.cluster.kill(name)

    async def scenario():
        u1 = run.client("u1")
        await u1.connect([survivor])
        await until(lambda: not (run.cluster.status(survivor) or {}).get("ready"), timeout=10)
        with pytest.raises(SendRejected, match="no primary"):
            await u1.send("refused", "g1", b"x")
        await u1.close()

    asyncio.run(scenario())


@pytest.mark.slow
def test_ap_accepts_while_cut_off_and_exchanges_on_reconnect(start_cluster):
    run = start_cluster(mode="ap")
    n1, n2, n3 = run.cluster.names
    run.cluster.kill(n2), run.cluster.kill(n3)

    async def scenario():
        u1 = run.client("u1")
        await u1.connect([n1])
        assert (await u1.send("alone", "g1", b"x")).seq == 1
        run.cluster.start([n2, n3])
        run.cluster.wait_ready(20)
        got: list[Delivery] = []
        u2 = run.client("u2", got)
        await u2.connect([n3])
        await until(lambda: ids(got) == ["alone"], timeout=10)
        await u1.close(), await u2.close()

    asyncio.run(scenario())


def test_unordered_backlog_bug_pushes_the_backlog_out_of_order(start_cluster):
    run = start_cluster(bug="unordered-backlog")

    async def scenario():
        u1 = run.client("u1")
        await u1.connect()
        for i in range(3):
            await u1.send(f"m{i}", "g1", b"%d" % i)
        await until(lambda: caught_up(run.cluster))
        got: list[Delivery] = []
        u2 = run.client("u2", got)
        await u2.connect()
        await u2.wait_synced(5)
        assert [d.seq for d in got] == [3, 2, 1]
        await u1.close(), await u2.close()

    asyncio.run(scenario())


def test_sync_without_connection_raises():
    from system_under_test.keys import provision

    keys = provision(["u1"], {}, 1)
    client = ChatClient("u1", keys.secrets["u1"], keys.directory, {"n1": "ws://127.0.0.1:9"})
    with pytest.raises(ConnectionLost):
        asyncio.run(client.sync(1))
