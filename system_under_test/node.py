"""A node process: ``python -m system_under_test.node --name n1 --listen HOST:PORT ...``.

One listening port serves clients (WebSocket path ``/client``), peers (``/peer``) and
``GET /status`` (JSON). Everything the node decides is decided by :class:`core.NodeCore`; this
module only moves bytes, keeps time and writes SQLite. A node sends its own requests to a peer
only on the connection it dialed to that peer's ``--peer`` address, and answers a peer's requests
on the connection the peer dialed; keepalive pings close a link that went silent, and the dialer
then redials.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.http11 import Request, Response

from system_under_test import wire
from system_under_test.antientropy import ApReplica
from system_under_test.core import BUGS, NodeCore
from system_under_test.gateway import (
    MAX_FRAME,
    ClientFrame,
    CloseClient,
    Closed,
    Gateway,
    Log,
    Opened,
    ToClient,
)
from system_under_test.keys import load_directory
from system_under_test.records import (
    FromPeer,
    LinkState,
    ReplyConn,
    SaveCommit,
    SaveEntries,
    SaveMeta,
    SendPeer,
    Tick,
)
from system_under_test.replication import Replica, Timing
from system_under_test.store import Store

TICK = 0.02
MAX_WS_MESSAGE = 16 * 1024 * 1024
QUEUE_LIMIT = 10_000

log = logging.getLogger("splitbrain.node")


@dataclass(frozen=True)
class NodeArgs:
    name: str
    host: str
    port: int
    peers: dict[str, tuple[str, int]]
    db: Path
    users: Path
    mode: str
    bugs: frozenset[str]
    e2e: bool
    log: Path | None
    timing: Timing


def split_address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:7001)")
    return host, int(port)


def parse_args(argv: Sequence[str] | None = None) -> NodeArgs:
    p = argparse.ArgumentParser(prog="python -m system_under_test.node", description=__doc__)
    p.add_argument("--name", required=True)
    p.add_argument("--listen", required=True, type=split_address, help="HOST:PORT to serve on")
    p.add_argument("--peer", action="append", default=[], help="NAME=HOST:PORT to dial a peer")
    p.add_argument("--db", required=True, type=Path, help="this node's SQLite file")
    p.add_argument("--users", required=True, type=Path, help="the users file (public keys)")
    p.add_argument("--mode", choices=("cp", "ap"), default="cp")
    p.add_argument("--bug", action="append", default=[], choices=sorted(BUGS))
    p.add_argument("--e2e", choices=("on", "off"), default="on")
    p.add_argument("--log", type=Path)
    p.add_argument("--heartbeat", type=float, default=Timing.heartbeat, help=argparse.SUPPRESS)
    p.add_argument("--election", type=float, default=Timing.election, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    peers = {}
    for item in a.peer:
        name, eq, address = item.partition("=")
        if not eq or not name:
            p.error(f"--peer {item!r}: expected NAME=HOST:PORT, e.g. --peer n2=127.0.0.1:7002")
        try:
            peers[name] = split_address(address)
        except argparse.ArgumentTypeError as exc:
            p.error(f"--peer {item!r}: {exc}")
    return NodeArgs(
        name=a.name,
        host=a.listen[0],
        port=a.listen[1],
        peers=peers,
        db=a.db,
        users=a.users,
        mode=a.mode,
        bugs=frozenset(a.bug),
        e2e=a.e2e == "on",
        log=a.log,
        timing=Timing(heartbeat=a.heartbeat, election=a.election),
    )


class Outbox:
    """A connection's ordered outgoing frames, written by one task; drops when too far behind."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[str | bytes] = asyncio.Queue(QUEUE_LIMIT)
        self.dropped = 0

    def put(self, data: str | bytes) -> None:
        try:
            self.queue.put_nowait(data)
        except asyncio.QueueFull:
            self.dropped += 1

    async def pump(self, ws: ServerConnection | ClientConnection) -> None:
        while True:
            data = await self.queue.get()
            await ws.send(data)


class NodeServer:
    """Carries out the core's actions: sockets, timers and the SQLite file."""

    def __init__(self, args: NodeArgs) -> None:
        self.args = args
        self.store = Store(args.db, durable="ack-before-fsync" not in args.bugs)
        loaded = self.store.load()
        directory = load_directory(args.users)
        gateway = Gateway(args.name, args.mode, directory, e2e=args.e2e, bugs=args.bugs)
        peers = sorted(args.peers)
        replica: Replica | ApReplica
        if args.mode == "cp":
            replica = Replica(
                args.name,
                peers,
                term=loaded.term,
                voted_for=loaded.voted_for,
                log=loaded.log,
                commit=loaded.commit,
                timing=args.timing,
                bugs=args.bugs,
                seed=os.getpid(),
                now=time.monotonic(),
            )
        else:
            replica = ApReplica(args.name, peers, log=loaded.log, bugs=args.bugs)
        self.core = NodeCore(gateway, replica)
        self.clients: dict[int, tuple[ServerConnection, Outbox]] = {}
        self.inbound: dict[int, Outbox] = {}
        self.links: dict[str, Outbox | None] = dict.fromkeys(peers)
        self.ids = itertools.count(1)
        self.stopping = asyncio.Event()
        log.info(
            "%s starting: mode=%s bugs=%s e2e=%s log=%d commit=%d epoch=%d",
            args.name,
            args.mode,
            sorted(args.bugs) or "none",
            args.e2e,
            len(loaded.log),
            loaded.commit,
            loaded.term,
        )

    # -- the core --------------------------------------------------------------------------------

    def feed(self, event) -> None:
        """Run one event through the core and carry out its actions in order."""
        for action in self.core.handle(event, time.monotonic()):
            if isinstance(action, ToClient):
                entry = self.clients.get(action.sid)
                if entry is not None:
                    entry[1].put(json.dumps(action.frame, separators=(",", ":")))
            elif isinstance(action, SendPeer):
                outbox = self.links.get(action.peer)
                if outbox is not None:
                    outbox.put(wire.encode(action.msg))
            elif isinstance(action, ReplyConn):
                outbox = self.inbound.get(action.conn)
                if outbox is not None:
                    outbox.put(wire.encode(action.msg))
            elif isinstance(action, SaveEntries):
                self.store.save_entries(action.start, action.entries)
            elif isinstance(action, SaveMeta):
                self.store.save_meta(action.term, action.voted_for)
            elif isinstance(action, SaveCommit):
                self.store.save_commit(action.index)
            elif isinstance(action, CloseClient):
                entry = self.clients.get(action.sid)
                if entry is not None:
                    asyncio.get_running_loop().create_task(
                        self._close_later(entry, action.code, action.reason)
                    )
            elif isinstance(action, Log):
                log.log(logging.WARNING if action.level == "warning" else logging.INFO, action.text)

    async def _close_later(self, entry: tuple[ServerConnection, Outbox], code: int, reason: str):
        ws, outbox = entry
        for _ in range(50):
            if outbox.queue.empty():
                break
            await asyncio.sleep(0.01)
        await ws.close(code, reason)

    # -- serving ---------------------------------------------------------------------------------

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        if path == "/status":
            response = connection.respond(HTTPStatus.OK, json.dumps(self.core.status()) + "\n")
            del response.headers["Content-Type"]
            response.headers["Content-Type"] = "application/json"
            return response
        if path not in ("/client", "/peer"):
            return connection.respond(
                HTTPStatus.NOT_FOUND, "use /client for clients, /peer for peers, /status\n"
            )
        return None

    async def handler(self, ws: ServerConnection) -> None:
        if ws.request is not None and ws.request.path.startswith("/peer"):
            await self._serve_peer(ws)
        else:
            await self._serve_client(ws)

    async def _serve_client(self, ws: ServerConnection) -> None:
        sid = next(self.ids)
        outbox = Outbox()
        self.clients[sid] = (ws, outbox)
        pump = asyncio.create_task(outbox.pump(ws))
        try:
            self.feed(Opened(sid, os.urandom(16)))
            async for data in ws:
                if len(data) > MAX_FRAME:
                    log.warning("session %d: too-large: frame of %d bytes refused", sid, len(data))
                    outbox.put(
                        '{"t":"error","req":null,"code":"too-large","message":'
                        f'"frames are limited to {MAX_FRAME} bytes; send smaller bodies"}}'
                    )
                    continue
                self.feed(ClientFrame(sid, data))
        except ConnectionClosed as exc:
            if (exc.rcvd is not None and exc.rcvd.code == 1009) or (
                exc.sent is not None and exc.sent.code == 1009
            ):
                log.warning("session %d: closed, frame over %d bytes", sid, MAX_WS_MESSAGE)
        finally:
            pump.cancel()
            self.clients.pop(sid, None)
            self.feed(Closed(sid))

    async def _serve_peer(self, ws: ServerConnection) -> None:
        conn = next(self.ids)
        outbox = Outbox()
        pump = asyncio.create_task(outbox.pump(ws))
        self.inbound[conn] = outbox
        try:
            hello = json.loads(await asyncio.wait_for(ws.recv(), 5))
            peer = hello["from"]
            async for data in ws:
                try:
                    msg = wire.decode(data)
                except ValueError as exc:
                    log.warning("peer %s: %s", peer, exc)
                    continue
                self.feed(FromPeer(time.monotonic(), peer, msg, conn))
        except (ConnectionClosed, TimeoutError, ValueError, KeyError, TypeError) as exc:
            log.info("inbound peer connection %d ended: %s", conn, exc)
        finally:
            pump.cancel()
            self.inbound.pop(conn, None)

    async def dial(self, peer: str, host: str, port: int) -> None:
        """Keep one dialed connection to ``peer``: our requests go out on it, replies come back."""
        url = f"ws://{host}:{port}/peer"
        while not self.stopping.is_set():
            try:
                async with connect(
                    url,
                    open_timeout=1.0,
                    ping_interval=0.5,
                    ping_timeout=1.5,
                    close_timeout=0.5,
                    max_size=MAX_WS_MESSAGE,
                    compression=None,
                ) as ws:
                    await ws.send(json.dumps({"from": self.args.name}))
                    outbox = Outbox()
                    self.links[peer] = outbox
                    log.info("link to %s up", peer)
                    pump = asyncio.create_task(outbox.pump(ws))
                    self.feed(LinkState(time.monotonic(), peer, True))
                    try:
                        async for data in ws:
                            self.feed(FromPeer(time.monotonic(), peer, wire.decode(data), None))
                    finally:
                        self.links[peer] = None
                        pump.cancel()
                        log.info("link to %s down", peer)
                        self.feed(LinkState(time.monotonic(), peer, False))
            except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake, ValueError) as exc:
                log.debug("link to %s: %s", peer, exc)
            await asyncio.sleep(0.2)

    async def ticker(self) -> None:
        while True:
            self.feed(Tick(time.monotonic()))
            await asyncio.sleep(TICK)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        server: Server
        async with serve(
            self.handler,
            self.args.host,
            self.args.port,
            process_request=self.process_request,
            max_size=MAX_WS_MESSAGE,
            ping_interval=1.0,
            ping_timeout=3.0,
            close_timeout=1.0,
            compression=None,
        ) as server:
            for peer in self.links:
                self.feed(LinkState(time.monotonic(), peer, False))
            tasks = [asyncio.create_task(self.ticker())]
            tasks += [
                asyncio.create_task(self.dial(p, h, port))
                for p, (h, port) in self.args.peers.items()
            ]
            log.info("%s serving on %s:%d", self.args.name, self.args.host, self.args.port)
            await self.stopping.wait()
            log.info("%s stopping", self.args.name)
            for task in tasks:
                task.cancel()
            server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 3)
        self.store.close()


def setup_logging(path: Path | None) -> None:
    handler: logging.Handler = logging.FileHandler(path) if path else logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("websockets").setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    setup_logging(args.log)
    try:
        server = NodeServer(args)
    except (ValueError, OSError) as exc:
        log.error("cannot start %s: %s", args.name, exc)
        print(f"cannot start node {args.name}: {exc}", file=sys.stderr)
        return 2
    asyncio.run(server.run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
