"""Kill cycles against a NATS cluster: the 2.10.22 stream-loss trigger, driven through the
NATS system's own client (used by ``benchmarks/nats_kill_loop.py`` and the slow tests).

Each cycle a producer outside the conversations (so no consumer exists yet, as in Jepsen's
workload) starts a new conversation: its first send creates the stream, and it sends a few
messages until acknowledged; then nodes are killed (all three with probability 0.7, else two)
within 0-2 s, restarted, and the cluster waited for. At the end both recipients come online and
drain every conversation; an acknowledged message a recipient never sees is ``lost`` (per message
and recipient, as the checker counts).

A durable consumer created right after the stream (what a member's connect does) shields the
stream from this trigger: the consumer's meta entry follows the stream's before the crash.
"""

from __future__ import annotations

import asyncio
import random
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from systems.nats import NatsSystem
from systems.registry import create
from systems.seam import (
    Accounts,
    ClientSettings,
    Delivery,
    Indeterminate,
    NotCaughtUp,
    Refused,
    Unreachable,
)
from tests.helpers.nats_cluster import DirectCluster

SETTINGS = ClientSettings(connect_timeout=1.0, request_timeout=2.0, heartbeat=0.5)
PER_CYCLE = 3


@dataclass
class Cycles:
    """What one seed did: acknowledged sends by id, deliveries, and the kills."""

    acked: dict[str, tuple[str, int]] = field(default_factory=dict)  # id -> conv, seq
    deliveries: list[Delivery] = field(default_factory=list)
    kills: list[str] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)


def accounts(cycles: int) -> Accounts:
    """Recipients u1 and u2 in every conversation; the producer p is in none (it only
    publishes, so it creates the streams but no consumer)."""
    return Accounts(("p", "u1", "u2"), {f"c{i}": ("u1", "u2") for i in range(cycles)})


async def send_until_acked(system: NatsSystem, cluster: DirectCluster, conv: str, run: Cycles):
    client = system.client("p", cluster.endpoints(), lambda d: None, SETTINGS)
    try:
        for k in range(PER_CYCLE):
            msg_id = f"{conv}-m{k}"
            for _ in range(40):
                try:
                    if client.node is None:
                        await client.connect(cluster.names)
                    sent = await client.send(msg_id, conv, msg_id.encode())
                except (Refused, Indeterminate, Unreachable) as exc:
                    name = type(exc).__name__
                    run.errors[name] = run.errors.get(name, 0) + 1
                    await asyncio.sleep(0.25)
                    continue
                run.acked[msg_id] = (conv, sent.seq or 0)
                break
    finally:
        await client.close()


async def drain(system: NatsSystem, cluster: DirectCluster, run: Cycles) -> bool:
    """Both recipients come online and catch up; False when one cannot."""
    caught_up = True
    for user in ("u1", "u2"):
        client = system.client(user, cluster.endpoints(), run.deliveries.append, SETTINGS)
        try:
            for _ in range(5):
                try:
                    await client.connect(cluster.names)
                    await client.sync(30)
                    break
                except (Unreachable, NotCaughtUp):
                    await client.close()
            else:
                caught_up = False
        finally:
            await client.close()
    return caught_up


async def one_seed(
    version: str, seed: int, cycles: int, root: Path | None = None
) -> dict[str, Any]:
    """Run ``cycles`` kill cycles with ``seed`` against ``version``, nodes under ``root`` (a new
    temporary directory, kept for its logs, when None); what was acked, lost, and drained."""
    rng = random.Random(seed)
    system = create("nats", {"version": version})
    assert isinstance(system, NatsSystem)
    root = root or Path(tempfile.mkdtemp(prefix=f"nats-kill-{version}-{seed}-"))
    run = Cycles()
    with DirectCluster(system, root) as cluster:
        cluster.wait_healthy()
        system.provision(accounts(cycles), root, cluster.names, seed)
        for i in range(cycles):
            await send_until_acked(system, cluster, f"c{i}", run)
            await asyncio.sleep(rng.uniform(0, 2))
            victims = cluster.names if rng.random() < 0.7 else rng.sample(cluster.names, 2)
            for v in victims:
                cluster.kill(v)
            run.kills.append(",".join(sorted(victims)))
            await asyncio.sleep(rng.uniform(0.1, 1.0))
            for v in victims:
                cluster.start(v)
            cluster.wait_healthy(60)
        drained = await drain(system, cluster, run)
    seen = {(d.id, d.user) for d in run.deliveries}
    lost = sorted((m, u) for m in run.acked for u in ("u1", "u2") if (m, u) not in seen)
    return {
        "seed": seed,
        "acked": len(run.acked),
        "lost": len(lost),
        "lost_convs": sorted({run.acked[m][0] for m, _ in lost}),
        "drained": drained,
        "kills_of_all": sum(k.count(",") == 2 for k in run.kills),
        "errors": run.errors,
        "dir": str(root),
    }
