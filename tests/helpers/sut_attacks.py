"""What the adversarial tests share: a real cluster on loopback, a raw peer or client connection
as an attacker would open one, and readers of what the nodes stored and logged."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from splitbrain.ports import free_port_block
from system_under_test import crypto
from system_under_test.client import ChatClient, Delivery
from system_under_test.keys import Provisioned, load_cluster_secret
from system_under_test.launcher import (
    CLUSTER_SECRET,
    LocalCluster,
    NodeSpec,
    local_specs,
    provision_users,
)

HONEST_BOUND = 5.0  # seconds within which an honest client's send must be acked during attacks


@dataclass
class Lab:
    """A running 3-node CP cluster and what an attacker or a test needs to look at it."""

    cluster: LocalCluster
    keys: Provisioned
    dir: Path
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def secret(self) -> bytes:
        return load_cluster_secret(self.dir / CLUSTER_SECRET)

    def spec(self, node: str) -> NodeSpec:
        return self.cluster.spec(node)

    def url(self, node: str, path: str) -> str:
        return f"{self.spec(node).client_url}{path}"

    def client(self, user: str, got: list[Delivery] | None = None) -> ChatClient:
        return ChatClient(
            user,
            self.keys.secrets[user],
            self.keys.directory,
            self.cluster.urls(),
            on_deliver=got.append if got is not None else None,
        )

    def committed(self, node: str) -> list[tuple]:
        """The node's committed log entries as stored in its SQLite file (read-only)."""
        db = sqlite3.connect(f"file:{self.spec(node).db}?mode=ro", uri=True, timeout=5)
        try:
            meta = dict(db.execute("SELECT k, v FROM meta"))
            commit = int(meta.get("commit", 0))
            rows = db.execute("SELECT idx, term, kind, data FROM log WHERE idx <= ?", (commit,))
            return [(i, t, k, bytes(d)) for i, t, k, d in rows]
        finally:
            db.close()

    def snapshot(self) -> dict[str, list[tuple]]:
        return {n: self.committed(n) for n in self.cluster.names}

    def assert_history_kept(self, before: dict[str, list[tuple]]) -> None:
        """No committed entry changed on any node: each old committed log is a prefix."""
        for node, old in before.items():
            now = self.committed(node)
            assert now[: len(old)] == old, f"{node}: committed entries changed"

    def log_text(self, node: str) -> str:
        path = self.spec(node).log
        assert path is not None
        return path.read_text(errors="replace")

    def count_in_log(self, node: str, needle: str) -> int:
        return self.log_text(node).count(needle)

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.cluster.procs.values())

    def serve_honest_send(self, msg_id: str, via: str | None = None) -> float:
        """Seconds until an honest send is acked and delivered; fails past HONEST_BOUND."""
        got: list[Delivery] = []

        async def go() -> float:
            began = time.monotonic()
            u1, u2 = self.client("u1"), self.client("u2", got)
            try:
                await u2.connect([via] if via else None)
                await u1.connect([via] if via else None)
                await u1.send(msg_id, "d-u1-u2", b"honest " + msg_id.encode())
                while not any(d.id == msg_id for d in got):
                    assert time.monotonic() - began < HONEST_BOUND, "honest client not served"
                    await asyncio.sleep(0.02)
                return time.monotonic() - began
            finally:
                await u1.close()
                await u2.close()

        took = asyncio.run(asyncio.wait_for(go(), HONEST_BOUND + 2))
        assert took < HONEST_BOUND
        return took

    def bump(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n


def start_lab(folder: Path, *, extra_args: tuple[str, ...] = ()) -> Lab:
    keys, users, _ = provision_users(folder, 3)
    specs = local_specs(3, folder, users, base_port=free_port_block(3), extra_args=extra_args)
    cluster = LocalCluster(specs)
    cluster.start()
    try:
        cluster.wait_ready(30)
    except BaseException:
        cluster.stop()
        raise
    return Lab(cluster, keys, folder)


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.05)


def raw(url: str, **kw) -> ClientConnection:
    """A raw WebSocket connection, as any program on the machine can open one."""
    return connect(
        url, open_timeout=3, close_timeout=1, compression=None, proxy=None, legacy=True, **kw
    )


def closed_code(ws: ClientConnection, timeout: float = 3.0) -> int | None:
    """Read until the node closes the connection; its close code (None: still open)."""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ws.recv(timeout=max(0.01, deadline - time.monotonic()))
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd is not None else 1006
    except TimeoutError:
        return None
    return None


def send_quietly(ws: ClientConnection, data: str | bytes) -> bool:
    """Send, ignoring a connection the node already closed; True when it was sent."""
    try:
        ws.send(data)
    except ConnectionClosed:
        return False
    return True


def peer_login(lab: Lab, node: str, as_name: str, secret: bytes | None = None) -> ClientConnection:
    """Authenticate to ``node``'s peer port as ``as_name`` (with the cluster secret unless
    another is given) and return the link; the node's welcome is checked."""
    ws = raw(lab.url(node, "/peer"), max_size=2**26)
    challenge = json.loads(ws.recv(timeout=3))
    assert challenge["t"] == "peer-challenge" and challenge["node"] == node
    nonce = bytes.fromhex(challenge["nonce"])
    mine = os.urandom(16)
    key = lab.secret if secret is None else secret
    mac = crypto.peer_mac(key, "dial", node, as_name, nonce)
    ws.send(json.dumps({"t": "peer-auth", "from": as_name, "nonce": mine.hex(), "mac": mac}))
    return ws


def client_login(lab: Lab, node: str, user: str) -> ClientConnection:
    """An authenticated raw client session (the welcome read)."""
    ws = raw(lab.url(node, "/client"))
    challenge = json.loads(ws.recv(timeout=3))
    key = crypto.SigningKey(lab.keys.secrets[user])
    sig = crypto.sign_challenge(key, challenge["node"], bytes.fromhex(challenge["nonce"]))
    ws.send(json.dumps({"t": "auth", "user": user, "sig": sig, "have": []}))
    welcome = json.loads(ws.recv(timeout=3))
    assert welcome["t"] == "welcome", welcome
    return ws
