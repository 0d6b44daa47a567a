"""A bounded soak of the reference cluster: CP mode, continuous faults, a stalled reader.

    python benchmarks/soak.py                 # about 10 minutes
    python benchmarks/soak.py --minutes 3

Three local nodes (real processes, SQLite, WebSockets, PyNaCl). Users u1..u3 send to their group
and to each other without pause and read everything sent to them, reconnecting elsewhere when a
node goes away; u3 also sends u4 a FLOOD-byte message every half second; u4, a member of the
group, authenticates with a small receive buffer and then never reads (a new stalled session
every 10 s), so the nodes must close it (4008 when frames wait, 1011 when pings go unanswered)
rather than queue for it without end. Every few seconds one node is killed and restarted, or
paused and resumed (never more than one at a time, so a majority stays). At the end every fault
is healed, every reader (u4 too) connects again and reads its backlog, and the script prints:

- every 30 s: each node's resident memory, this process's (the harness side), the sends acked so
  far, deliveries, faults and stalled sessions the nodes closed;
- at the end: acknowledged messages lost (a send acked ``ok`` whose recipient never got it),
  which must be 0, and whether memory stayed under ``--node-mb`` / ``--harness-mb``.

Exit status 0 when nothing acked was lost and memory stayed under its bounds, 1 otherwise. Not
part of the test suite: it takes minutes by design.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect

from splitbrain.ports import free_port_block
from system_under_test import crypto
from system_under_test.client import (
    ChatClient,
    ConnectFailed,
    ConnectionLost,
    Delivery,
    NotSynced,
    SendIndeterminate,
    SendRejected,
)
from system_under_test.keys import Provisioned, signing_key
from system_under_test.launcher import LocalCluster, local_specs, provision_users

SENDERS = ("u1", "u2", "u3")
STALLED = "u4"
BODY = 1000  # bytes of plaintext per message
FLOOD = 48_000  # bytes of plaintext per message u3 sends to the stalled reader
REPORT_EVERY = 30.0


@dataclass
class Tally:
    """What the soak saw; ``acked`` maps (sender, id) -> its recipients."""

    acked: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    delivered: set[tuple[str, str, str]] = field(default_factory=set)  # (user, sender, id)
    deliveries: int = 0
    indeterminate: int = 0
    faults: int = 0
    peak_node_mb: float = 0.0
    peak_harness_mb: float = 0.0

    def on_deliver(self, d: Delivery) -> None:
        self.deliveries += 1
        self.delivered.add((d.user, d.sender, d.id))

    def lost(self) -> list[tuple[str, str, str]]:
        return [
            (user, sender, msg_id)
            for (sender, msg_id), users in self.acked.items()
            for user in users
            if (user, sender, msg_id) not in self.delivered
        ]


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MiB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


async def connect_anywhere(client: ChatClient, cluster: LocalCluster) -> None:
    """Connect to some running node, trying them in a random order until one takes it."""
    while True:
        names = [n for n in cluster.names if n in cluster.procs]
        random.shuffle(names)
        try:
            await client.connect(names or None)
            return
        except ConnectFailed:
            await asyncio.sleep(0.3)


async def sender(
    user: str,
    cluster: LocalCluster,
    keys: Provisioned,
    tally: Tally,
    stop: asyncio.Event,
    *,
    convs: list[str] | None = None,
    size: int = BODY,
    pause: float = 0.05,
    tag: str = "",
) -> None:
    """Send to ``convs`` (default: all of the user's), retrying the same id until it is certain,
    and read what is sent to the user (a session acks what it was pushed: it must be counted)."""
    client = ChatClient(
        user, keys.secrets[user], keys.directory, cluster.urls(), on_deliver=tally.on_deliver
    )
    convs = convs or keys.directory.conversations_of(user)
    n = 0
    while not stop.is_set():
        if client.node is None:
            await connect_anywhere(client, cluster)
        n += 1
        msg_id, conv = f"{user}{tag}-{n}", random.choice(convs)
        body = f"{msg_id} {os.urandom(size // 2).hex()}".encode()
        for _ in range(20):
            try:
                if client.node is None:
                    await connect_anywhere(client, cluster)
                await client.send(msg_id, conv, body)
                tally.acked[(user, msg_id)] = tuple(client.recipients(conv))
                break
            except SendRejected:
                break
            except (SendIndeterminate, ConnectionLost, OSError):
                await client.close()
                await asyncio.sleep(0.1)
        else:
            tally.indeterminate += 1
        await asyncio.sleep(pause)
    await client.close()


async def stalled_session(url: str, keys: Provisioned) -> ClientConnection:
    """A session of STALLED that authenticates and then reads nothing (a queue of one frame)."""
    host, _, port = url.removeprefix("ws://").rpartition(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    ws = await connect(
        url + "/client", sock=sock, max_queue=1, compression=None, ping_interval=None
    )
    challenge = json.loads(await ws.recv())
    key = signing_key(keys.secrets[STALLED])
    sig = crypto.sign_challenge(key, challenge["node"], bytes.fromhex(challenge["nonce"]))
    await ws.send(json.dumps({"t": "auth", "user": STALLED, "sig": sig, "have": []}))
    return ws


async def stalled_reader(cluster: LocalCluster, keys: Provisioned, stop: asyncio.Event) -> None:
    while not stop.is_set():
        name = random.choice([n for n in cluster.names if n in cluster.procs] or cluster.names)
        ws = None
        with contextlib.suppress(OSError, TimeoutError, Exception):
            ws = await asyncio.wait_for(stalled_session(cluster.urls()[name], keys), 3)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), 10)
        if ws is not None:
            ws.transport.abort()


async def nemesis(cluster: LocalCluster, tally: Tally, stop: asyncio.Event) -> None:
    """One fault at a time: kill then restart, or pause then resume, a random node or the
    primary; a few seconds of calm in between."""
    rng = random.Random(7)
    while not stop.is_set():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), rng.uniform(2, 5))
        if stop.is_set():
            return
        primary = await asyncio.to_thread(cluster.primary)
        victim = primary if primary and rng.random() < 0.5 else rng.choice(cluster.names)
        tally.faults += 1
        if rng.random() < 0.5:
            await asyncio.to_thread(cluster.kill, victim)
            await asyncio.sleep(rng.uniform(1, 4))
            await asyncio.to_thread(cluster.start, [victim])
        else:
            await asyncio.to_thread(cluster.pause, victim)
            await asyncio.sleep(rng.uniform(1, 4))
            await asyncio.to_thread(cluster.resume, victim)
        with contextlib.suppress(TimeoutError):
            await asyncio.to_thread(cluster.wait_ready, 20)


def stalled_closes(folder: Path) -> int:
    """Sessions the nodes closed as stalled: too slow to take frames (4008) or silent to
    keepalive pings (1011), each logged at WARNING."""
    texts = [p.read_text(errors="replace") for p in folder.glob("n*.log")]
    return sum(t.count("reader too slow") + t.count("no answer to keepalive pings") for t in texts)


async def reporter(
    cluster: LocalCluster, folder: Path, tally: Tally, began: float, stop: asyncio.Event
) -> None:
    while not stop.is_set():
        nodes = {n: rss_mb(p.pid) for n, p in cluster.procs.items()}
        harness = rss_mb(os.getpid())
        tally.peak_node_mb = max([tally.peak_node_mb, *nodes.values()])
        tally.peak_harness_mb = max(tally.peak_harness_mb, harness)
        mem = " ".join(f"{n}={mb:.0f}MB" for n, mb in sorted(nodes.items()))
        print(
            f"t={time.monotonic() - began:5.0f}s  {mem}  harness={harness:.0f}MB  "
            f"acked={len(tally.acked)} deliveries={tally.deliveries} faults={tally.faults} "
            f"stalled-closed={stalled_closes(folder)}",
            flush=True,
        )
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), REPORT_EVERY)


async def drain(cluster: LocalCluster, keys: Provisioned, tally: Tally) -> None:
    """Every recipient (the stalled user too) connects again and reads its whole backlog."""
    for user in (*SENDERS, STALLED):
        client = ChatClient(
            user, keys.secrets[user], keys.directory, cluster.urls(), on_deliver=tally.on_deliver
        )
        for _ in range(10):
            try:
                await connect_anywhere(client, cluster)
                await client.wait_synced(120)
                await client.sync(30)
                break
            except (NotSynced, ConnectionLost, TimeoutError):
                await asyncio.sleep(1)
        await client.close()


async def soak(args: argparse.Namespace, folder: Path) -> int:
    keys, users, _ = provision_users(folder, 4)
    cluster = LocalCluster(local_specs(3, folder, users, base_port=free_port_block(3)))
    cluster.start()
    tally = Tally()
    try:
        await asyncio.to_thread(cluster.wait_ready, 30)
        stop = asyncio.Event()
        began = time.monotonic()
        print(
            f"soak: 3 CP nodes in {folder}, {args.minutes:g} min, senders {', '.join(SENDERS)}, "
            f"stalled reader {STALLED}; bounds: node {args.node_mb} MB, harness "
            f"{args.harness_mb} MB",
            flush=True,
        )
        tasks = [asyncio.create_task(sender(u, cluster, keys, tally, stop)) for u in SENDERS]
        flood = sender(
            "u3", cluster, keys, tally, stop, convs=["d-u3-u4"], size=FLOOD, pause=0.5, tag="f"
        )
        tasks.append(asyncio.create_task(flood))
        tasks += [
            asyncio.create_task(stalled_reader(cluster, keys, stop)),
            asyncio.create_task(nemesis(cluster, tally, stop)),
            asyncio.create_task(reporter(cluster, folder, tally, began, stop)),
        ]
        await asyncio.sleep(args.minutes * 60)
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for name in cluster.names:
            if name not in cluster.procs:
                cluster.start([name])
            else:
                cluster.resume(name)
        await asyncio.to_thread(cluster.wait_ready, 30)
        print("faults stopped, every node up; draining every reader ...", flush=True)
        await drain(cluster, keys, tally)
        nodes = {n: rss_mb(p.pid) for n, p in cluster.procs.items()}
        tally.peak_node_mb = max([tally.peak_node_mb, *nodes.values()])
    finally:
        cluster.stop()
    lost = tally.lost()
    ok_memory = tally.peak_node_mb <= args.node_mb and tally.peak_harness_mb <= args.harness_mb
    print(
        f"result: acked={len(tally.acked)} deliveries={tally.deliveries} "
        f"indeterminate={tally.indeterminate} faults={tally.faults} "
        f"stalled-closed={stalled_closes(folder)} acknowledged-lost={len(lost)} "
        f"peak node={tally.peak_node_mb:.0f}MB (bound {args.node_mb}) "
        f"peak harness={tally.peak_harness_mb:.0f}MB (bound {args.harness_mb})",
        flush=True,
    )
    for item in lost[:10]:
        print(f"  lost: {item}")
    return 0 if not lost and ok_memory else 1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--minutes", type=float, default=10.0, help="how long faults run (10)")
    p.add_argument("--node-mb", type=int, default=400, help="bound on a node's memory (400)")
    p.add_argument("--harness-mb", type=int, default=400, help="bound on this process (400)")
    p.add_argument("--dir", type=Path, help="keep the cluster's files here (default: temporary)")
    args = p.parse_args()
    if not 0 < args.minutes <= 120:
        p.error("--minutes must be in (0, 120]")
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.dir:
        args.dir.mkdir(parents=True, exist_ok=True)
        return asyncio.run(soak(args, args.dir))
    with tempfile.TemporaryDirectory(prefix="splitbrain-soak-") as tmp:
        return asyncio.run(soak(args, Path(tmp)))


if __name__ == "__main__":
    sys.exit(main())
