"""Calibration: does a dense ``kill -9`` schedule make nats-server forget acknowledged messages?

NATS 2.10.20-2.10.22 can forget a whole stream after repeated kill -9 of random nodes
(nats-server issue 6888, fixed in 2.10.23). This drives the NATS system's own client against a
3-node cluster started from ``NatsSystem.launch`` (peers dial each other directly), kills random
subsets of nodes (several at once, short gaps), restarts everyone, drains, and counts acknowledged
messages a recipient never saw. Seeded; prints one line per seed and a summary.

    .venv/bin/python benchmarks/nats_kill_loop.py --version 2.10.22 --seeds 1-5 --duration 40
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from nats_cluster import DirectCluster, built_server

from systems.registry import create
from systems.seam import (
    Accounts,
    ClientSettings,
    Delivery,
    Indeterminate,
    MessagingClient,
    NotCaughtUp,
    Refused,
    Unreachable,
)

ACCOUNTS = Accounts(
    users=("u1", "u2", "u3"),
    conversations={"g1": ("u1", "u2", "u3"), "d12": ("u1", "u2"), "d23": ("u2", "u3")},
)
SETTINGS = ClientSettings(connect_timeout=1.0, request_timeout=2.0, heartbeat=0.5)


@dataclass
class Tally:
    acked: dict[str, tuple[str, str, int]] = field(default_factory=dict)  # id -> conv, from, seq
    outcomes: dict[str, int] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)

    def count(self, what: str) -> None:
        self.outcomes[what] = self.outcomes.get(what, 0) + 1


async def sender(user: str, client: MessagingClient, tally: Tally, names: list[str], stop: float):
    convs = [c for c, m in ACCOUNTS.conversations.items() if user in m]
    n = 0
    while time.monotonic() < stop:
        conv = convs[n % len(convs)]
        msg_id = f"{user}-{n}"
        n += 1
        try:
            if client.node is None:
                await client.connect(random.sample(names, len(names)))
            sent = await client.send(msg_id, conv, msg_id.encode())
        except Unreachable:
            tally.count("unreachable")
            await asyncio.sleep(0.2)
            continue
        except Refused:
            tally.count("fail")
            await asyncio.sleep(0.05)
            continue
        except Indeterminate:
            tally.count("info")
            await client.close()
            continue
        tally.count("ok")
        tally.acked[msg_id] = (conv, user, sent.seq or 0)
        await asyncio.sleep(0.01)


@dataclass(frozen=True)
class Schedule:
    """Seconds a kill lasts and seconds between kills (uniform in each range)."""

    down: tuple[float, float] = (0.2, 1.5)
    up: tuple[float, float] = (0.5, 3.0)


async def nemesis(
    cluster: DirectCluster, rng: random.Random, stop: float, log: list[str], schedule: Schedule
):
    while time.monotonic() < stop:
        victims = rng.sample(cluster.names, rng.randint(1, len(cluster.names)))
        for v in victims:
            cluster.kill(v)
        log.append(f"kill {','.join(sorted(victims))}")
        await asyncio.sleep(rng.uniform(*schedule.down))
        for v in victims:
            cluster.start(v)
        await asyncio.sleep(rng.uniform(*schedule.up))


async def one_seed(
    version: str, seed: int, duration: float, sync_interval: str, schedule: Schedule
) -> dict:
    rng = random.Random(seed)
    random.seed(seed)
    system = create("nats", {"version": version, "sync_interval": sync_interval})
    root = Path(tempfile.mkdtemp(prefix=f"nats-kill-{version}-{seed}-"))
    tally = Tally()
    kills: list[str] = []
    with DirectCluster(system, root) as cluster:
        cluster.wait_healthy()
        cluster.provision(ACCOUNTS)
        clients = {
            u: system.client(u, cluster.endpoints(), tally.deliveries.append, SETTINGS)
            for u in ACCOUNTS.users
        }
        for c in clients.values():
            await c.connect(cluster.names)
        stop = time.monotonic() + duration
        await asyncio.gather(
            nemesis(cluster, rng, stop, kills, schedule),
            *(sender(u, c, tally, cluster.names, stop) for u, c in clients.items()),
        )
        for n in cluster.names:
            if n not in cluster.procs:
                cluster.start(n)
        healthy = True
        try:
            cluster.wait_healthy(60)
        except AssertionError:
            healthy = False
        drained = True
        for c in clients.values():
            for _ in range(3):
                try:
                    if c.node is None:
                        await c.connect(cluster.names)
                    await c.sync(30)
                    break
                except (Unreachable, NotCaughtUp):
                    await c.close()
            else:
                drained = False
        streams = {n: (s or {}).get("streams") for n, s in cluster.statuses().items()}
        for c in clients.values():
            await c.close()
    seen = {(d.id, d.user) for d in tally.deliveries}
    lost = sorted(
        (m, u)
        for m, (conv, sender_, _) in tally.acked.items()
        for u in ACCOUNTS.conversations[conv]
        if u != sender_ and (m, u) not in seen
    )
    seqs: dict[tuple[str, int], set[str]] = {}
    for d in tally.deliveries:
        seqs.setdefault((d.conv, d.seq or 0), set()).add(d.id)
    for m, (conv, _, seq) in tally.acked.items():
        seqs.setdefault((conv, seq), set()).add(m)
    conflicts = sum(1 for ids in seqs.values() if len(ids) > 1)
    return {
        "seed": seed,
        "kills": len(kills),
        "outcomes": tally.outcomes,
        "healthy": healthy,
        "drained": drained,
        "lost": len(lost),
        "lost_ids": sorted({m for m, _ in lost})[:8],
        "seq_conflicts": conflicts,
        "streams_after": streams,
        "dir": str(root),
    }


def seeds(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def span(text: str) -> tuple[float, float]:
    lo, _, hi = text.partition("-")
    return float(lo), float(hi or lo)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default="2.10.22")
    parser.add_argument("--seeds", type=seeds, default=seeds("1-3"))
    parser.add_argument("--duration", type=float, default=40.0)
    parser.add_argument("--sync-interval", default="2m")
    parser.add_argument("--down", type=span, default=(0.2, 1.5), help="kill lasts LO-HI s")
    parser.add_argument("--up", type=span, default=(0.5, 3.0), help="LO-HI s between kills")
    args = parser.parse_args()
    built_server(args.version)
    hits = 0
    for seed in args.seeds:
        started = time.monotonic()
        schedule = Schedule(args.down, args.up)
        result = asyncio.run(
            one_seed(args.version, seed, args.duration, args.sync_interval, schedule)
        )
        hits += result["lost"] > 0
        print(f"{args.version} {time.monotonic() - started:.0f}s {result}", flush=True)
    print(f"{args.version}: {hits}/{len(args.seeds)} seeds lost acknowledged messages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
