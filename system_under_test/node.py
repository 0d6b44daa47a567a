"""A node process: ``python -m system_under_test.node --name n1 --listen HOST:PORT ...``.

One listening port serves clients (WebSocket path ``/client``), peers (``/peer``) and
``GET /status`` (JSON). Everything the node decides is decided by :class:`core.NodeCore`; this
module only moves bytes, keeps time and writes SQLite (group commit: one transaction per turn of
the event loop, committed before any frame of that turn leaves the node). A node sends its own
requests to a peer only on the connection it dialed to that peer's ``--peer`` address, and
answers a peer's requests on the connection the peer dialed; keepalive pings close a link that
went silent, and the dialer then redials. The messages a node has for one peer link in one turn
travel as one frame (:func:`wire.batch`).

Peers authenticate each other with the cluster secret (``--cluster-secret-file``, mode 0600): the
node that is dialed sends a fresh nonce, the dialer answers with its name and an HMAC of that
nonce and sends its own nonce, which the node answers with an HMAC in turn (see
:func:`crypto.peer_mac`). Only names of the ``--peer`` list are accepted, and a peer's messages
must carry its own name as leader or candidate. Every peer frame, and every message of a batch,
is decoded strictly (:mod:`wire`); a frame that does not decode, or any of whose messages speaks
for another node, is refused whole and logged at ERROR, and the link goes on.

Resources are bounded per connection: a client's unsent frames are bounded in bytes and a client
that stops reading is closed (code 4008, logged at WARNING; what it was not sent stays in its
backlog for the next session); a session that does not authenticate in time is closed (4003);
WebSocket messages over MAX_WS_MESSAGE close the connection. A task that fails unexpectedly is
logged and restarted (peer links, timers); an error in the node's own state machine stops the
node with exit code 70 and a CRITICAL log line, since its state can no longer be trusted.

The node runs on uvloop (libuv): at the cluster's message rates the event loop's own Python code
was a fifth of the node's CPU per message.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import itertools
import json
import logging
import os
import signal
import sqlite3
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path

import orjson
import uvloop
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.http11 import Request, Response

from system_under_test import crypto, wire
from system_under_test.antientropy import ApReplica
from system_under_test.core import BUGS, NodeCore
from system_under_test.gateway import (
    BACKLOG_BUDGET,
    MAX_WS_MESSAGE,
    ClientFrame,
    CloseClient,
    Closed,
    Drained,
    Gateway,
    JoinFrames,
    Log,
    Opened,
    ToClient,
)
from system_under_test.keys import load_cluster_secret, load_directory
from system_under_test.records import (
    AppendEntries,
    FromPeer,
    LinkState,
    PeerMessage,
    ReplyConn,
    RequestVote,
    SaveCommit,
    SaveEntries,
    SaveMeta,
    SendPeer,
    Tick,
)
from system_under_test.replication import Replica, Timing
from system_under_test.store import Store

TICK = 0.02
MAX_PEER_MESSAGE = 64 * 1024 * 1024  # an authenticated peer's batch of entries
OUTBOX_BYTES = 8 * 1024 * 1024  # unsent frames per connection
SEND_STALL = 10.0  # seconds one frame may wait to be written before the reader counts as stalled
AUTH_TIMEOUT = 10.0  # seconds a client session or a peer handshake has to authenticate
HANDSHAKE_TIMEOUT = 5.0
CLOSE_SLOW = 4008  # a client that stopped reading
CLOSE_AUTH_TIMEOUT = 4003
CLOSE_PEER_AUTH = 4001
EXIT_INTERNAL = 70
PEER_BATCH_BYTES = 1024 * 1024  # peer messages joined into one frame, up to about this size
# Client frames joined into one: well under the client's frame limit even if ids are not ASCII.
JOIN_CHARS = 64 * 1024
JOIN_FRAMES = 64

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
    cluster_secret: Path
    outbox_bytes: int = OUTBOX_BYTES
    send_stall: float = SEND_STALL
    auth_timeout: float = AUTH_TIMEOUT


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
    p.add_argument(
        "--cluster-secret-file",
        required=True,
        type=Path,
        help="file (mode 0600) with the secret every node of the cluster shares; "
        "write one with system_under_test.keys.write_cluster_secret",
    )
    p.add_argument("--outbox-bytes", type=int, default=OUTBOX_BYTES, help=argparse.SUPPRESS)
    p.add_argument("--send-stall", type=float, default=SEND_STALL, help=argparse.SUPPRESS)
    p.add_argument("--auth-timeout", type=float, default=AUTH_TIMEOUT, help=argparse.SUPPRESS)
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
        cluster_secret=a.cluster_secret_file,
        outbox_bytes=a.outbox_bytes,
        send_stall=a.send_stall,
        auth_timeout=a.auth_timeout,
    )


class Stalled(Exception):
    """The reader at the other end does not keep up; the text says how."""


class Outbox:
    """A connection's ordered outgoing frames, written by one task, bounded in bytes.

    ``put`` never blocks and never drops a frame silently: once the unsent frames would exceed
    ``limit`` bytes the outbox is marked overflowed and takes nothing more, and :meth:`pump`
    raises :class:`Stalled`, as it does when one frame waits more than ``stall`` seconds to be
    written. The caller then closes the connection. ``on_drained`` is called each time the
    last queued frame was written (the gateway then pushes more of a session's backlog).

    Once ``joinable`` is set (the client said it reads batches), text frames waiting together
    leave as one JSON array, in order, up to ``JOIN_CHARS``: one write and one read instead of
    several, which is most of what a frame costs on both ends.
    """

    def __init__(
        self,
        limit: int = OUTBOX_BYTES,
        stall: float = SEND_STALL,
        on_drained: Callable[[], None] | None = None,
    ) -> None:
        self.queue: deque[str | bytes] = deque()
        self.limit, self.stall, self.on_drained = limit, stall, on_drained
        self.size = 0
        self.overflowed = False
        self.joinable = False
        self._wake = asyncio.Event()

    def __len__(self) -> int:
        """Frames waiting to be written."""
        return len(self.queue)

    def put(self, data: str | bytes) -> None:
        if self.overflowed:
            return
        if self.size + len(data) > self.limit:
            self.overflowed = True
            self._wake.set()
            return
        self.size += len(data)
        self.queue.append(data)
        self._wake.set()

    async def pump(self, ws: ServerConnection | ClientConnection) -> None:
        while True:
            if self.overflowed:
                raise Stalled(f"more than {self.limit} bytes waiting to be sent")
            if not self.queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            data, size = self.take()
            try:
                async with asyncio.timeout(self.stall):
                    await ws.send(data)
            except TimeoutError:
                raise Stalled(f"a frame waited more than {self.stall:g} s to be written") from None
            self.size -= size
            if self.on_drained is not None and not self.queue:
                self.on_drained()

    def take(self) -> tuple[str | bytes, int]:
        """Remove the next frame to write (several joined, when joinable); return it and the
        queued size it stands for."""
        first = self.queue.popleft()
        if not (self.joinable and self.queue and isinstance(first, str)):
            return first, len(first)
        parts, size = [first], len(first)
        while (
            self.queue
            and len(parts) < JOIN_FRAMES
            and isinstance(self.queue[0], str)
            and size + len(self.queue[0]) <= JOIN_CHARS
        ):
            parts.append(self.queue.popleft())  # type: ignore[arg-type]  # a str: checked above
            size += len(parts[-1])
        return ("[" + ",".join(parts) + "]" if len(parts) > 1 else first), size


class InternalError(Exception):
    """The node's state machine failed; the node stops, since its state can't be trusted."""


@dataclass(frozen=True)
class Closing:
    """A client session to close once the frames before it are out."""

    entry: tuple[ServerConnection, Outbox]
    code: int
    reason: str


class NodeServer:
    """Carries out the core's actions: sockets, timers and the SQLite file."""

    def __init__(self, args: NodeArgs) -> None:
        self.args = args
        self.secret = load_cluster_secret(args.cluster_secret)
        self.store = Store(args.db, durable="ack-before-fsync" not in args.bugs)
        loaded = self.store.load()
        directory = load_directory(args.users)
        gateway = Gateway(
            args.name,
            args.mode,
            directory,
            e2e=args.e2e,
            bugs=args.bugs,
            backlog_budget=min(BACKLOG_BUDGET, args.outbox_bytes // 4),
        )
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
        self.failure: BaseException | None = None
        self.held: list[tuple[Outbox, str | bytes] | tuple[None, Closing]] = []
        self.flush_due = False
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
        """Run one event through the core and carry out its actions in order; an exception
        in the core stops the node (:class:`InternalError`).

        Saves go into the store's open transaction; frames and closes wait in ``held`` until
        :meth:`flush` (at the next turn of the event loop, once for every event of this turn)
        commits, then lets them out in order. So no frame leaves before what it depends on is
        durable, a burst of requests costs one commit, and a peer gets one frame per turn.
        """
        try:
            actions = self.core.handle(event, time.monotonic())
        except Exception as exc:
            self.fail(f"state machine failed on {type(event).__name__}", exc)
            raise InternalError(str(exc)) from exc
        for action in actions:
            if isinstance(action, ToClient):
                entry = self.clients.get(action.sid)
                if entry is not None:
                    self.held.append((entry[1], orjson.dumps(action.frame).decode()))
            elif isinstance(action, SendPeer):
                outbox = self.links.get(action.peer)
                if outbox is not None:
                    self.held.append((outbox, wire.encode(action.msg)))
            elif isinstance(action, ReplyConn):
                outbox = self.inbound.get(action.conn)
                if outbox is not None:
                    self.held.append((outbox, wire.encode(action.msg)))
            elif isinstance(action, SaveEntries):
                self.store.save_entries(action.start, action.entries)
            elif isinstance(action, SaveMeta):
                self.store.save_meta(action.term, action.voted_for)
            elif isinstance(action, SaveCommit):
                self.store.save_commit(action.index)
            elif isinstance(action, JoinFrames):
                entry = self.clients.get(action.sid)
                if entry is not None:
                    entry[1].joinable = True
            elif isinstance(action, CloseClient):
                entry = self.clients.get(action.sid)
                if entry is not None:
                    self.held.append((None, Closing(entry, action.code, action.reason)))
            elif isinstance(action, Log):
                log.log(LEVELS.get(action.level, logging.INFO), action.text)
        if (self.held or self.store.dirty) and not self.flush_due:
            self.flush_due = True
            asyncio.get_running_loop().call_soon(self.flush)

    def fail(self, what: str, exc: BaseException) -> None:
        """Stop the node loudly: log CRITICAL with the traceback; ``main`` exits 70."""
        log.critical("%s: %s: %s; stopping the node", self.args.name, what, exc, exc_info=exc)
        if self.failure is None:
            self.failure = exc
        self.stopping.set()

    def flush(self) -> None:
        """Commit the open transaction, then let out the frames and closes held for it, each
        connection's in order; a peer link's messages go as one frame (:func:`wire.batch`). A
        commit that fails stops the node and nothing held leaves (its state is not durable)."""
        self.flush_due = False
        try:
            self.store.commit()
        except sqlite3.Error as exc:
            self.held = []
            self.fail("commit failed", exc)
            return
        held, self.held = self.held, []
        to_peers: dict[Outbox, list[bytes]] = {}
        for outbox, item in held:
            if isinstance(item, bytes) and outbox is not None:
                to_peers.setdefault(outbox, []).append(item)
            elif outbox is not None and not isinstance(item, Closing):
                outbox.put(item)
            elif isinstance(item, Closing):
                asyncio.get_running_loop().create_task(
                    self._close_later(item.entry, item.code, item.reason)
                )
        for outbox, frames in to_peers.items():
            for part in split_by_size(frames, PEER_BATCH_BYTES, wire.MAX_BATCH):
                outbox.put(wire.batch(part))

    async def _close_later(self, entry: tuple[ServerConnection, Outbox], code: int, reason: str):
        ws, outbox = entry
        for _ in range(50):
            if not outbox:
                break
            await asyncio.sleep(0.01)
        await close_hard(ws, code, reason)

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
        try:
            if ws.request is not None and ws.request.path.startswith("/peer"):
                await self._serve_peer(ws)
            else:
                await self._serve_client(ws)
        except InternalError:
            pass  # already logged; the node is stopping
        except Exception as exc:  # a bug in this module: log it, keep serving others
            log.error("connection handler failed: %s", exc, exc_info=exc)

    async def _serve_client(self, ws: ServerConnection) -> None:
        sid = next(self.ids)
        outbox = Outbox(
            self.args.outbox_bytes, self.args.send_stall, lambda: self.feed(Drained(sid))
        )
        self.clients[sid] = (ws, outbox)
        pump = asyncio.create_task(self._pump_client(sid, ws, outbox))
        timer = asyncio.create_task(self._auth_deadline(sid, ws))
        try:
            self.feed(Opened(sid, os.urandom(16)))
            async for data in ws:
                self.feed(ClientFrame(sid, data))
        except ConnectionClosed as exc:
            if (exc.rcvd is not None and exc.rcvd.code == 1009) or (
                exc.sent is not None and exc.sent.code == 1009
            ):
                log.warning("session %d: closed, frame over %d bytes", sid, MAX_WS_MESSAGE)
            elif exc.sent is not None and exc.sent.code == 1011 and "keepalive" in exc.sent.reason:
                log.warning(
                    "session %d: closed 1011, no answer to keepalive pings (reader stalled or "
                    "gone); its unacked messages stay in the backlog for its next session",
                    sid,
                )
        finally:
            pump.cancel()
            timer.cancel()
            self.clients.pop(sid, None)
            if not self.stopping.is_set():
                self.feed(Closed(sid))

    async def _pump_client(self, sid: int, ws: ServerConnection, outbox: Outbox) -> None:
        """Write the session's frames; close a reader that stalls (its backlog is kept)."""
        try:
            await outbox.pump(ws)
        except Stalled as exc:
            user = self.core.gateway.sessions.get(sid)
            who = user.user if user is not None and user.user else "unauthenticated"
            log.warning(
                "session %d (%s): closed %d, reader too slow: %s; its unacked messages stay "
                "in the backlog for its next session",
                sid,
                who,
                CLOSE_SLOW,
                exc,
            )
            await close_hard(ws, CLOSE_SLOW, "reader too slow; reconnect to get the backlog")
        except ConnectionClosed:
            pass

    async def _pump_peer(
        self, ws: ServerConnection | ClientConnection, outbox: Outbox, who: str
    ) -> None:
        """Write a peer link's frames; a link whose reader stalls is closed (logged) and the
        dialer redials. A link that closed ends the pump quietly."""
        try:
            await outbox.pump(ws)
        except Stalled as exc:
            log.warning("%s: closed %d, peer too slow: %s", who, CLOSE_SLOW, exc)
            await close_hard(ws, CLOSE_SLOW, "peer too slow")
        except ConnectionClosed:
            pass

    async def _auth_deadline(self, sid: int, ws: ServerConnection) -> None:
        await asyncio.sleep(self.args.auth_timeout)
        session = self.core.gateway.sessions.get(sid)
        if session is not None and session.user is None:
            log.warning(
                "session %d: closed %d, not authenticated within %g s",
                sid,
                CLOSE_AUTH_TIMEOUT,
                self.args.auth_timeout,
            )
            await close_hard(ws, CLOSE_AUTH_TIMEOUT, "authenticate within the time limit")

    async def _serve_peer(self, ws: ServerConnection) -> None:
        conn = next(self.ids)
        where = f"inbound peer connection {conn} from {remote(ws)}"
        try:
            peer = await asyncio.wait_for(self._accept_peer(ws), HANDSHAKE_TIMEOUT)
        except (TimeoutError, ConnectionClosed, PeerRefused) as exc:
            log.error("%s refused: %s", where, exc or "handshake timed out")
            await close_hard(ws, CLOSE_PEER_AUTH, "peer authentication failed")
            return
        ws.protocol.max_message_size = MAX_PEER_MESSAGE  # read per frame (websockets 17)
        outbox = Outbox(MAX_PEER_MESSAGE * 2, self.args.send_stall)
        pump = asyncio.create_task(self._pump_peer(ws, outbox, f"{where} ({peer})"))
        self.inbound[conn] = outbox
        try:
            async for data in ws:
                for msg in self._peer_messages(peer, data):
                    self.feed(FromPeer(time.monotonic(), peer, msg, conn))
                if pump.done():
                    break
        except ConnectionClosed as exc:
            log.info("%s (%s) ended: %s", where, peer, exc)
        finally:
            pump.cancel()
            self.inbound.pop(conn, None)

    async def _accept_peer(self, ws: ServerConnection) -> str:
        """The dialer's handshake: returns its name once it proved it holds the cluster secret."""
        nonce = os.urandom(16)
        challenge = {"t": "peer-challenge", "node": self.args.name, "nonce": nonce.hex()}
        await ws.send(json.dumps(challenge))
        hello = handshake_frame(await ws.recv(), "peer-auth")
        peer, their_nonce = hello.get("from"), hello.get("nonce")
        if not isinstance(peer, str) or peer not in self.args.peers:
            raise PeerRefused(f"{str(peer)[:80]!r} is not in this node's --peer list")
        if not crypto.peer_mac_ok(
            self.secret, "dial", self.args.name, peer, nonce, hello.get("mac")
        ):
            raise PeerRefused(f"{peer!r} did not prove it holds the cluster secret")
        their = parse_nonce(their_nonce)
        mac = crypto.peer_mac(self.secret, "serve", self.args.name, peer, their)
        await ws.send(json.dumps({"t": "peer-welcome", "mac": mac}))
        return peer

    def _peer_messages(self, peer: str, data: str | bytes) -> list[PeerMessage]:
        """The frame's messages (one, or a batch), or none (logged at ERROR) when any of them is
        malformed or speaks for another node: a frame is taken whole or not at all."""
        try:
            msgs = wire.decode_frame(data)
        except ValueError as exc:
            log.error("peer %s: frame refused: %s", peer, exc)
            return []
        for msg in msgs:
            claimed = speaks_for(msg, peer)
            if claimed != peer:
                log.error("peer %s: frame refused: it speaks for %r", peer, claimed[:80])
                return []
        return msgs

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
                    max_size=MAX_PEER_MESSAGE,
                    compression=None,
                ) as ws:
                    await asyncio.wait_for(self._authenticate_to(ws, peer), HANDSHAKE_TIMEOUT)
                    await self._run_link(ws, peer)
            except PeerRefused as exc:
                log.error("link to %s refused: %s", peer, exc)
            except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake) as exc:
                log.debug("link to %s: %s", peer, exc)
            await asyncio.sleep(0.2)

    async def _authenticate_to(self, ws: ClientConnection, peer: str) -> None:
        challenge = handshake_frame(await ws.recv(), "peer-challenge")
        if challenge.get("node") != peer:
            raise PeerRefused(f"the node at its address says it is {challenge.get('node')!r}")
        nonce = parse_nonce(challenge.get("nonce"))
        mine = os.urandom(16)
        mac = crypto.peer_mac(self.secret, "dial", peer, self.args.name, nonce)
        hello = {"t": "peer-auth", "from": self.args.name, "nonce": mine.hex(), "mac": mac}
        await ws.send(json.dumps(hello))
        welcome = handshake_frame(await ws.recv(), "peer-welcome")
        if not crypto.peer_mac_ok(
            self.secret, "serve", peer, self.args.name, mine, welcome.get("mac")
        ):
            raise PeerRefused("it did not prove it holds the cluster secret")

    async def _run_link(self, ws: ClientConnection, peer: str) -> None:
        outbox = Outbox(MAX_PEER_MESSAGE * 2, self.args.send_stall)
        self.links[peer] = outbox
        log.info("link to %s up", peer)
        pump = asyncio.create_task(self._pump_peer(ws, outbox, f"link to {peer}"))
        self.feed(LinkState(time.monotonic(), peer, True))
        try:
            async for data in ws:
                for msg in self._peer_messages(peer, data):
                    self.feed(FromPeer(time.monotonic(), peer, msg, None))
                if pump.done():
                    break
        finally:
            self.links[peer] = None
            pump.cancel()
            stopped = pump.exception() if pump.done() and not pump.cancelled() else None
            log.info("link to %s down%s", peer, f" (writer: {stopped})" if stopped else "")
            if not self.stopping.is_set():
                self.feed(LinkState(time.monotonic(), peer, False))

    async def ticker(self) -> None:
        while True:
            self.feed(Tick(time.monotonic()))
            await asyncio.sleep(TICK)

    async def supervise(self, name: str, make: Callable[[], Awaitable[None]]) -> None:
        """Run ``make()`` until the node stops; restart it (logged at ERROR) when it fails."""
        while not self.stopping.is_set():
            try:
                await make()
                return
            except InternalError:
                return
            except Exception as exc:
                log.error("task %s failed: %s; restarting it", name, exc, exc_info=exc)
                await asyncio.sleep(0.2)

    async def run(self) -> int:
        """Serve until SIGTERM/SIGINT (returns 0) or an internal failure (returns 70)."""
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
            tasks = [asyncio.create_task(self.supervise("ticker", self.ticker))]
            tasks += [
                asyncio.create_task(
                    self.supervise(f"link to {p}", functools.partial(self.dial, p, h, port))
                )
                for p, (h, port) in self.args.peers.items()
            ]
            log.info(
                "%s serving on %s:%d (event loop: %s)",
                self.args.name,
                self.args.host,
                self.args.port,
                type(loop).__module__.split(".")[0],
            )
            await self.stopping.wait()
            log.info("%s stopping", self.args.name)
            for task in tasks:
                task.cancel()
            server.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 3)
        self.store.close()
        return EXIT_INTERNAL if self.failure is not None else 0


class PeerRefused(Exception):
    """A peer handshake that failed; the text says why."""


LEVELS = {"info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def speaks_for(msg: PeerMessage, sender: str) -> str:
    """The node ``msg`` claims to come from: its leader or candidate, else its ``sender``."""
    if isinstance(msg, AppendEntries):
        return msg.leader
    if isinstance(msg, RequestVote):
        return msg.candidate
    return sender


def handshake_frame(data: str | bytes, kind: str) -> dict:
    """One handshake frame of type ``kind`` as a dict; PeerRefused when it is anything else."""
    try:
        frame = json.loads(data)
    except ValueError:
        frame = None
    if not isinstance(frame, dict) or frame.get("t") != kind:
        raise PeerRefused(f"expected a {kind} frame, got {str(data)[:80]!r}")
    return frame


def parse_nonce(value: object) -> bytes:
    try:
        nonce = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        nonce = b""
    if len(nonce) != 16:
        raise PeerRefused("the nonce must be 32 hex digits")
    return nonce


def remote(ws: ServerConnection) -> str:
    address = ws.remote_address
    return f"{address[0]}:{address[1]}" if address else "?"


async def close_hard(ws: ServerConnection | ClientConnection, code: int, reason: str) -> None:
    """Close with ``code``; drop the TCP connection when the other end does not take part."""
    with contextlib.suppress(TimeoutError, ConnectionClosed, OSError):
        await asyncio.wait_for(ws.close(code, reason), 2)
    if ws.transport is not None and not ws.transport.is_closing():
        ws.transport.abort()


def split_by_size(
    frames: list[bytes], limit: int, max_count: int | None = None
) -> list[list[bytes]]:
    """``frames`` in order, cut into runs of at most about ``limit`` bytes (at least one frame
    each) and at most ``max_count`` frames."""
    parts: list[list[bytes]] = [[]]
    size = 0
    for frame in frames:
        full = max_count is not None and len(parts[-1]) >= max_count
        if parts[-1] and (size + len(frame) > limit or full):
            parts.append([])
            size = 0
        parts[-1].append(frame)
        size += len(frame)
    return parts


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
    return uvloop.run(server.run())


if __name__ == "__main__":
    sys.exit(main())
