"""The power-loss fault: its params, the nemesis runner's record of it, and a real cluster on
lazyfs where ``--bug ack-before-fsync`` loses acknowledged messages and the correct store does not.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson
import pytest

from nemesis.power import LazyDisks, check_params, cut_power, draw_params, scope_nodes
from nemesis.runner import Nemesis
from nemesis.schedule import FaultStep, Schedule
from system_under_test.client import ChatClient, Delivery
from system_under_test.launcher import LocalCluster, free_base_port, local_specs, provision_users
from system_under_test.records import MSG
from system_under_test.store import Store

NODES = ("n1", "n2", "n3", "n4", "n5")


def test_scopes_hit_one_node_a_minority_or_all() -> None:
    rng = random.Random(3)
    assert len(scope_nodes("one", NODES, rng)) == 1
    assert len(scope_nodes("minority", NODES, rng)) == 2
    assert len(scope_nodes("minority", NODES[:3], rng)) == 1
    assert scope_nodes("all", NODES, rng) == list(NODES)
    drawn = {len(draw_params(NODES, random.Random(seed))["nodes"]) for seed in range(40)}
    assert drawn == {1, 2, 5}
    with pytest.raises(ValueError, match="valid scopes"):
        scope_nodes("most", NODES, rng)


@pytest.mark.parametrize("params", [{}, {"nodes": []}, {"nodes": ["n9"]}, {"nodes": ["n1", "n1"]}])
def test_bad_params_are_refused_with_the_valid_nodes(params: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="non-empty list of distinct nodes"):
        check_params(params, NODES[:3])
    with pytest.raises(ValueError, match="step 0"):
        Schedule((FaultStep(1.0, "power-loss", 2.0, params),), NODES[:3], ("c0",), 10.0)


class Recorded:
    """A cluster stand-in for the runner test: records kill, restart and lose_unsynced calls."""

    def __init__(self, lazy: bool = True) -> None:
        self.nodes, self.client_groups, self.calls = NODES[:3], ("c0",), []
        if lazy:
            self.lose_unsynced = lambda node: self.calls.append(("lose", node)) or 7

    def kill(self, node: str) -> None:
        self.calls.append(("kill", node))

    def restart(self, node: str) -> None:
        self.calls.append(("restart", node))

    def primary(self) -> str | None:
        return "n1"


def _run_power_loss_step(target: Recorded) -> list[tuple[str, str, Any]]:
    ops: list[tuple[str, str, Any]] = []
    step = FaultStep(0.0, "power-loss", 0.05, {"nodes": ["n1", "n3"]})
    schedule = Schedule((step,), target.nodes, target.client_groups, 1.0)
    nemesis = Nemesis(target, None, lambda p, t, f, v, **kw: ops.append((t, f, v)) or {})  # type: ignore[arg-type]
    asyncio.run(nemesis.run(schedule))
    asyncio.run(nemesis.heal_all())
    return ops


def test_the_runner_kills_all_then_drops_then_restarts() -> None:
    target = Recorded()
    ops = _run_power_loss_step(target)
    assert ops[:2] == [
        ("invoke", "power-loss", {"nodes": ["n1", "n3"]}),
        ("ok", "power-loss", {"nodes": ["n1", "n3"]}),
    ]
    assert [(t, f) for t, f, _ in ops[2:]] == [("invoke", "restart"), ("ok", "restart")] * 2
    assert target.calls == [
        ("kill", "n1"),
        ("kill", "n3"),
        ("lose", "n1"),
        ("lose", "n3"),
        ("restart", "n1"),
        ("restart", "n3"),
    ]


def test_a_cluster_without_lazyfs_is_refused_before_any_fault() -> None:
    target = Recorded(lazy=False)
    with pytest.raises(ValueError, match="power-loss faults but Recorded cannot lose power"):
        _run_power_loss_step(target)
    assert target.calls == []
    with pytest.raises(TypeError, match="not on lazyfs"):
        cut_power(target, ["n1"])
    assert target.calls == []


# ----------------------------------------------------------------- the store on lazyfs


COMMIT = "store.commit()"  # the end of a turn of the node's loop


def _saves_then_killed(db: Path, calls: str, durable: bool = True) -> None:
    """Run store saves in a child that then dies without closing the store, as kill -9 does
    (``store.commit()`` in ``calls`` ends a turn of the node's loop: what it made durable)."""
    code = (
        "import os, sys\n"
        "from system_under_test.records import Entry, MSG\n"
        "from system_under_test.store import Store\n"
        "def e(i): return Entry(1, MSG, {'id': f'm{i}', 'conv': 'g1', 'seq': i})\n"
        f"store = Store(sys.argv[1], durable={durable})\n{calls}\nos._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(db)], check=True, timeout=60)


def _ids(db: Path) -> tuple[list[str], int]:
    store = Store(db)
    try:
        loaded = store.load()
    finally:
        store.close()
    return [e.data["id"] for e in loaded.log], loaded.commit


def test_the_store_keeps_every_commit_it_returned_from(
    tmp_path: Path, fuse_available: None
) -> None:
    with LazyDisks(tmp_path) as disks:
        db = disks.mount("n1") / "n1.sqlite"
        _saves_then_killed(db, "store.save_entries(1, [e(1)]); store.save_commit(1)\n" + COMMIT)
        disks.lose_unsynced("n1")
        assert _ids(db) == (["m1"], 1)
        turn = "store.save_entries(2, [e(2)]); store.save_meta(2, 'n2')\n" + COMMIT
        _saves_then_killed(db, turn + "\nstore.save_entries(3, [e(3)])  # not committed")
        disks.lose_unsynced("n1")
        assert _ids(db) == (["m1", "m2"], 1)


def test_the_store_survives_power_loss_after_a_wal_checkpoint(
    tmp_path: Path, fuse_available: None
) -> None:
    """SQLite checkpoints the WAL into the database inside whichever commit passes 1000 pages,
    then starts the WAL over. Here the checkpoint falls in a commit that saves only the commit
    index and the next commit restarts the WAL: a checkpoint without its fsyncs would leave
    those entries nowhere on disk."""
    with LazyDisks(tmp_path) as disks:
        db = disks.mount("n1") / "n1.sqlite"
        calls = (
            "for i in range(1, 21):\n"
            "    store.save_entries(i, [e(i)]); store.save_commit(i); store.commit()\n"
            "store.db.execute('PRAGMA wal_autocheckpoint=1')\n"
            "store.save_commit(20); store.commit()\n"
            "store.db.execute('PRAGMA wal_autocheckpoint=0')\n"
            "store.save_entries(21, [e(21)]); store.commit()"
        )
        _saves_then_killed(db, calls)
        disks.lose_unsynced("n1")
        conn = sqlite3.connect(db)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        finally:
            conn.close()
        ids, commit = _ids(db)
        assert ids == [f"m{i}" for i in range(1, 22)] and commit == 20


def test_the_ack_before_fsync_store_loses_what_it_saved(
    tmp_path: Path, fuse_available: None
) -> None:
    with LazyDisks(tmp_path) as disks:
        db = disks.mount("n1") / "n1.sqlite"
        _saves_then_killed(db, "store.save_entries(1, [e(1), e(2)]); store.commit()", durable=False)
        assert disks.lose_unsynced("n1") > 0
        assert _ids(db) == ([], 0)


# ----------------------------------------------------------------- a real cluster on lazyfs


@dataclass
class LocalPower:
    """What the local backend must offer for power-loss: kill by process, drop by mount."""

    cluster: LocalCluster
    disks: LazyDisks

    def kill(self, node: str) -> None:
        self.cluster.kill(node)

    def lose_unsynced(self, node: str) -> int:
        return self.disks.lose_unsynced(node)


@dataclass
class Outcome:
    acked: list[str]
    delivered: list[str]
    stored: dict[str, set[str]]
    dropped: dict[str, int]


def _stored_ids(db: Path) -> set[str]:
    if not db.exists():
        return set()
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT data FROM log WHERE kind = ?", (MSG,)).fetchall()
    except sqlite3.OperationalError:
        return set()  # the schema itself was lost
    finally:
        conn.close()
    return {orjson.loads(data)["id"] for (data,) in rows}


def _power_loss_of_all_nodes(tmp_path: Path, bug: str | None, sends: int = 25) -> Outcome:
    keys, users, _ = provision_users(tmp_path, 3, seed=5)

    def client(user: str, got: list[Delivery] | None = None) -> ChatClient:
        on = got.append if got is not None else None
        return ChatClient(user, keys.secrets[user], keys.directory, cluster.urls(), on_deliver=on)

    async def send_while_u2_is_offline() -> list[str]:
        u1 = client("u1")
        await u1.connect()
        acked = [f"m{i}" for i in range(sends)]
        for msg_id in acked:
            await u1.send(msg_id, "g1", b"body %s" % msg_id.encode())
        await u1.close()
        return acked

    async def u2_catches_up() -> list[str]:
        got: list[Delivery] = []
        u2 = client("u2", got)
        await u2.connect()
        await u2.wait_synced(10)
        await u2.sync(10)
        await u2.close()
        return [d.id for d in got]

    with LazyDisks(tmp_path / "disks") as disks:
        specs = local_specs(3, tmp_path, users, base_port=free_base_port(3), bug=bug)
        specs = [replace(s, db=disks.mount(s.name) / f"{s.name}.sqlite") for s in specs]
        cluster = LocalCluster(specs)
        try:
            cluster.start()
            cluster.wait_ready(30)
            acked = asyncio.run(send_while_u2_is_offline())
            dropped = cut_power(LocalPower(cluster, disks), cluster.names)
            cluster.start()
            cluster.wait_ready(30)
            delivered = asyncio.run(u2_catches_up())
        finally:
            cluster.stop()
        stored = {s.name: _stored_ids(s.db) for s in specs}
    return Outcome(acked, delivered, stored, dropped)


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_power_loss_of_all_nodes_erases_what_ack_before_fsync_acknowledged(
    tmp_path: Path, fuse_available: None
) -> None:
    out = _power_loss_of_all_nodes(tmp_path, "ack-before-fsync")
    assert len(out.acked) == 25
    assert all(n > 0 for n in out.dropped.values()), out.dropped
    lost = set(out.acked) - set(out.delivered)
    assert lost, f"every acked message survived the power loss: {out}"
    assert all(not set(out.acked) <= ids for ids in out.stored.values()), out.stored


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_power_loss_of_all_nodes_loses_nothing_the_durable_store_acknowledged(
    tmp_path: Path, fuse_available: None
) -> None:
    out = _power_loss_of_all_nodes(tmp_path, None)
    assert len(out.acked) == 25
    assert sorted(out.delivered) == sorted(out.acked)
    for node, ids in out.stored.items():
        assert set(out.acked) <= ids, f"{node} lost {set(out.acked) - ids}"
