"""Cost of a NATS run: cluster start-up, and sends per second through the seam's client against
raw nats-py JetStream publishes on the same cluster (the in-run baseline).

    .venv/bin/python benchmarks/nats_throughput.py [--messages 600] [--version 2.15.3]

Prints seconds until the 3-node cluster is healthy, then ops/s of both and their ratio (the
client's overhead: envelope, msg-id header, one request per send, deliveries and acks running).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import nats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from systems.nats.config import stream_name, subject
from systems.registry import create
from systems.seam import ClientSettings, Delivery
from tests.helpers.nats_cluster import DirectCluster, built_server, default_accounts


async def through_client(cluster: DirectCluster, count: int) -> tuple[float, int]:
    """Seconds for ``count`` sends spread over three users (concurrently), and deliveries."""
    got: list[Delivery] = []
    clients = {
        u: cluster.system.client(u, cluster.endpoints(), got.append, ClientSettings())
        for u in ("u1", "u2", "u3")
    }
    for i, client in enumerate(clients.values()):
        names = cluster.names
        await client.connect(names[i:] + names[:i])

    async def one(user: str, n: int) -> None:
        for k in range(n):
            await clients[user].send(f"{user}-{k}", "g1", f"{user} {k}".encode())

    started = time.perf_counter()
    await asyncio.gather(*(one(u, count // 3) for u in clients))
    elapsed = time.perf_counter() - started
    for client in clients.values():
        await client.sync(30)
        await client.close()
    return elapsed, len(got)


async def raw_publishes(cluster: DirectCluster, count: int) -> float:
    """Seconds for ``count`` plain JetStream publishes (three connections, concurrently) to a
    stream set up like a conversation's."""
    conns = [await nats.connect(f"nats://{a}") for a in cluster.endpoints().values()]
    js = conns[0].jetstream()
    await js.add_stream(name=stream_name("raw"), subjects=[subject("raw")], num_replicas=3)

    async def one(nc: nats.NATS, tag: int, n: int) -> None:
        jsc = nc.jetstream()
        for k in range(n):
            await jsc.publish(subject("raw"), b"x" * 64, headers={"Nats-Msg-Id": f"{tag}-{k}"})

    started = time.perf_counter()
    await asyncio.gather(*(one(nc, i, count // 3) for i, nc in enumerate(conns)))
    elapsed = time.perf_counter() - started
    for nc in conns:
        await nc.close()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--version", default=None)
    args = parser.parse_args()
    options = {"version": args.version} if args.version else {}
    system = create("nats", options)
    built_server(system.settings["version"])
    with DirectCluster(system, Path(tempfile.mkdtemp(prefix="nats-bench-"))) as cluster:
        startup = cluster.wait_healthy()
        cluster.provision(default_accounts())
        raw = asyncio.run(raw_publishes(cluster, args.messages))
        ours, delivered = asyncio.run(through_client(cluster, args.messages))
    n = args.messages - args.messages % 3
    print(f"nats-server {system.settings['version']}: 3 nodes healthy {startup:.2f} s after start")
    print(f"raw nats-py publishes: {n / raw:.0f} ops/s")
    print(f"splitbrain client sends: {n / ours:.0f} ops/s ({delivered} deliveries)")
    print(f"the client takes {ours / raw:.2f}x the time of raw publishes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
