"""The power-loss fault: where it is offered, the store on lazyfs, and a real cluster on lazyfs
where ``--bug ack-before-fsync`` loses acknowledged messages and the correct store does not, also
through ``splitbrain run``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson
import pytest

from nemesis.power import LazyDisks
from splitbrain.ports import free_port_block
from system_under_test.client import ChatClient, Delivery
from system_under_test.launcher import LocalCluster, local_specs, provision_users
from system_under_test.records import MSG
from system_under_test.store import Store


def test_power_loss_is_offered_only_where_nodes_can_lose_power() -> None:
    from harness.config import from_mapping
    from harness.run import RunError, make_schedule
    from systems.seam import Capabilities

    config = from_mapping({"nemesis": "power-loss", "backend": "docker", "time_limit": 20})
    with pytest.raises(RunError, match="power-loss"):
        make_schedule(config, Capabilities(primary=True))
    by_profile = make_schedule(config.changed(nemesis=None), Capabilities(primary=True))
    assert "power-loss" not in {step.kind for step in by_profile.steps}


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


def specs_names(specs: list[Any]) -> list[str]:
    return [s.name for s in specs]


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
        specs = local_specs(3, tmp_path, users, base_port=free_port_block(3), bug=bug)
        specs = [replace(s, db=disks.mount(s.name) / f"{s.name}.sqlite") for s in specs]
        cluster = LocalCluster(specs)
        try:
            cluster.start()
            cluster.wait_ready(30)
            acked = asyncio.run(send_while_u2_is_offline())
            for node in cluster.names:  # every node dies before any loses its writes
                cluster.kill(node)
            dropped = {node: disks.lose_unsynced(node) for node in specs_names(specs)}
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


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_splitbrain_run_catches_ack_before_fsync_with_power_loss(
    tmp_path: Path, fuse_available: None
) -> None:
    """Through the whole harness: lazyfs mounts under the local backend, power-loss faults of
    the default profile's scopes, and the checkers. Seeds 3 and 5 cut power to every node. A
    recipient online then got the erased messages live (they show as ``seq-conflict`` when the
    emptied cluster numbers new ones again); ``lost`` needs one away across the power loss, so
    most clients go offline for a while."""
    from harness.config import from_mapping
    from harness.run import run_test

    seen = {}
    for seed in (3, 5):
        settings = {"seed": seed, "bug": "ack-before-fsync", "nemesis": "power-loss",
                    "time_limit": 20.0, "clients": 8, "offline_fraction": 0.75,
                    "out": tmp_path / str(seed)}  # fmt: skip
        outcome = run_test(from_mapping(settings))
        counts = outcome.results["anomaly_counts"]
        seen[seed] = {k: v for k, v in counts.items() if v}
        assert not list((tmp_path / str(seed)).rglob("mnt/*")), "a lazyfs mount was left"
        if counts["lost"]:
            assert outcome.exit_code == 1
            return
    pytest.fail(f"ack-before-fsync was not caught under power loss: {seen}")
