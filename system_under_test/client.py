"""The chat client library (asyncio) that the harness and the tests drive.

Protocol (JSON text frames, field ``t`` is the type):

- node -> client ``challenge {node, nonce, mode, e2e}``; client -> node
  ``auth {user, sig, have, batch}`` where ``sig`` signs the challenge (:func:`crypto.auth_payload`),
  ``have`` lists the ``[sender, id]`` keys of messages this client already received whose ack the
  cluster has not confirmed yet, and ``batch: true`` (optional) says the client reads a JSON array
  as several frames in order; node -> client ``welcome {batch}`` or ``error {code: "auth-failed"}``
  and a close (4001). To a client that reads batches, frames waiting together leave as one array,
  from the ``welcome`` on.
- then the node pushes ``msg {id, conv, from, seq, body}`` for the user's backlog, then
  ``synced {req: null}``; later messages are pushed as they are stored. The node never sees a
  digest: the recipient computes the one it records from the body it decrypted.
- ``send {req, id, conv, bodies: {recipient: base64}}`` -> ``sent {req, seq}`` or
  ``error {req, code, message}`` with code ``rejected``/``not-member``/``bad-frame``/``too-large``
  (definite) or ``indeterminate``. A message is known by its sender and id together.
- ``ack {ids: [[sender, id], ...]}`` -> ``acked {ids}`` once the acks are stored (at most 1000
  keys a frame, only of messages pushed on this session); a client acks what arrived within
  ``ack_delay`` (default 250 ms) of the first unacked arrival together, so under load each ack
  costs the cluster a fraction of a replicated entry (an ack entry costs the cluster about what a
  message does; at 50 ms there was nearly one per message); ``sync {req}`` -> pushes, then
  ``synced {req}`` once the node applied all the primary had committed when the sync arrived, or
  ``error {req, code: "rejected"|"indeterminate"}`` when it could not confirm that (no primary).

A ChatClient never reconnects by itself: when its connection drops, pending sends raise
:class:`SendIndeterminate`, ``node`` becomes None, and the caller decides where to connect next.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from nacl.public import Box
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.frames import DATA_OPCODES, Frame, Opcode
from websockets.protocol import Event

from splitbrain.messages import UNDECRYPTABLE, digest
from system_under_test import crypto
from system_under_test.gateway import MAX_ACK, MAX_FRAME, MAX_HAVE, MAX_WS_MESSAGE
from system_under_test.keys import Directory, box_private_key, signing_key

log = logging.getLogger(__name__)
MAX_UNCONFIRMED = MAX_HAVE
ACK_DELAY = 0.25  # seconds a delivery's ack waits for others to travel with it


@dataclass(frozen=True)
class Sent:
    """A send the cluster took: its seq in the conversation and the node that answered."""

    seq: int | None
    node: str


@dataclass(frozen=True)
class Delivery:
    """One arrival of a message at ``user``; ``digest`` is "undecryptable" when it did not open."""

    id: str
    conv: str
    sender: str
    user: str
    seq: int | None
    digest: str
    node: str


class ConnectFailed(Exception):
    """No node given could be reached and authenticated."""


class AuthRefused(ConnectFailed):
    """A node refused this user's credentials (wrong secret or users file)."""


class SendRejected(Exception):
    """The cluster certainly did not take the send."""


class SendIndeterminate(Exception):
    """Nobody knows whether the cluster took the send (timeout, connection lost)."""


class NotSynced(Exception):
    """The node could not confirm it caught up with the primary; sync again, here or elsewhere."""


class ConnectionLost(ConnectionError):
    """The client is not connected, or its connection dropped while waiting."""


class ChatClient:
    """One user's connection to the cluster; see the module docstring for the protocol.

    It pings its node every ``heartbeat`` seconds and drops a link silent for twice that, so a
    shorter heartbeat finds a cut node sooner (fewer sends end ``info`` before failover).
    """

    def __init__(
        self,
        user: str,
        secret: bytes,
        directory: Directory,
        urls: Mapping[str, str],
        *,
        e2e: bool = True,
        on_deliver: Callable[[Delivery], None] | None = None,
        connect_timeout: float = 2.0,
        request_timeout: float = 3.0,
        heartbeat: float = 1.0,
        ack_delay: float = ACK_DELAY,
    ) -> None:
        if user not in directory.users:
            raise ValueError(f"user {user!r} is not in the users file; provision it first")
        self.user = user
        self.directory = directory
        self.urls = dict(urls)
        self.e2e = e2e
        self.on_deliver = on_deliver
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.heartbeat = heartbeat
        self.ack_delay = ack_delay
        self._sign = signing_key(secret)
        self._box = box_private_key(secret)
        self._boxes: dict[str, Box] = {}
        self._nonces = crypto.Nonces()
        self._recipients: dict[str, list[str]] = {}
        self._ws: Link | None = None
        self._node: str | None = None
        self._watcher: asyncio.Task | None = None
        self._pending: dict[int, asyncio.Future] = {}
        self._reqs = itertools.count(1)
        self._unconfirmed: dict[tuple[str, str], None] = {}
        self._to_ack: list[tuple[str, str]] = []
        self._flusher: asyncio.Task | None = None
        self._synced = asyncio.Event()

    @property
    def node(self) -> str | None:
        """The node this client is connected to, or None."""
        return self._node

    def recipients(self, conv: str) -> list[str]:
        """Members of ``conv`` other than this user."""
        found = self._recipients.get(conv)
        if found is None:
            found = [m for m in self.directory.members(conv) if m != self.user]
            self._recipients[conv] = found
        return found

    def _box_with(self, other: str) -> Box:
        """The Box shared with ``other``, made once (its key derivation dominates a seal)."""
        box = self._boxes.get(other)
        if box is None:
            box = crypto.shared_box(self._box, self.directory.box_key(other))
            self._boxes[other] = box
        return box

    # -- connecting ------------------------------------------------------------------------------

    async def connect(self, order: Sequence[str] | None = None) -> str:
        """Connect and authenticate to the first node of ``order`` that answers; return its name.

        Raises :class:`AuthRefused` when a node refuses the credentials and :class:`ConnectFailed`
        when none is reachable. The backlog then arrives through ``on_deliver``.
        """
        await self.close()
        reasons = []
        for name in order or list(self.urls):
            if name not in self.urls:
                raise ConnectFailed(f"unknown node {name!r}; known: {sorted(self.urls)}")
            try:
                return await self._connect_one(name)
            except AuthRefused:
                raise
            except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake, InvalidURI) as exc:
                reasons.append(f"{name}: {type(exc).__name__} {exc}".strip())
        raise ConnectFailed(
            "no node reachable (" + "; ".join(reasons) + "); check the cluster is up and the URLs"
        )

    async def _connect_one(self, name: str) -> str:
        url = self.urls[name].rstrip("/") + "/client"
        ws: Link = await connect(  # type: ignore[assignment]  # create_connection=Link
            url,
            open_timeout=self.connect_timeout,
            ping_interval=self.heartbeat,
            ping_timeout=2 * self.heartbeat,
            close_timeout=0.5,
            max_size=MAX_WS_MESSAGE,
            compression=None,
            create_connection=Link,
        )
        welcome: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
        watcher = asyncio.create_task(self._watch(ws, welcome))
        try:
            challenge = frames_of(await asyncio.wait_for(ws.recv(), self.connect_timeout))[0]
            if challenge.get("t") != "challenge" or challenge.get("e2e") != self.e2e:
                raise ConnectFailed(
                    f"{name} runs with e2e={challenge.get('e2e')}, this client with "
                    f"e2e={self.e2e}; start both with the same --e2e"
                )
            nonce = bytes.fromhex(challenge["nonce"])
            sig = crypto.sign_challenge(self._sign, challenge["node"], nonce)
            have = [list(key) for key in self._unconfirmed]
            self._to_ack = []  # their acks ride in ``have``; an ack frame would go to a new session
            self._synced.clear()
            ws.on_message = functools.partial(self._on_message, ws, name, welcome)
            auth = {"t": "auth", "user": self.user, "sig": sig, "have": have, "batch": True}
            await ws.send(orjson.dumps(auth).decode())
            hello = await asyncio.wait_for(welcome, self.connect_timeout)
            if hello is None:
                raise ws.protocol.close_exc
            if hello.get("t") != "welcome":
                raise AuthRefused(f"{name} refused {self.user}: {hello.get('message')}")
        except BaseException:
            watcher.cancel()
            await ws.close()
            raise
        self._ws, self._node, self._watcher = ws, name, watcher
        return name

    async def close(self) -> None:
        """Close the connection (if any); pending requests end as if the connection dropped."""
        ws, watcher = self._ws, self._watcher
        self._ws, self._watcher = None, None
        if watcher is not None:
            watcher.cancel()
        if ws is not None:
            ws.on_message = None  # nothing arriving while it closes is handled
            await ws.close()
        self._lost()

    def _lost(self) -> None:
        self._node = None
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ConnectionLost("connection to the node dropped"))
        self._pending.clear()

    # -- requests --------------------------------------------------------------------------------

    async def send(self, msg_id: str, conv: str, body: bytes) -> Sent:
        """Send ``body`` to every other member of ``conv``; retrying the same ``msg_id`` is safe."""
        ws, node = self._ws, self._node
        if ws is None or node is None:
            raise SendRejected("not connected: call connect() first")
        bodies = {
            r: crypto.seal(self._box_with(r), body, self.e2e, next(self._nonces))
            for r in self.recipients(conv)
        }
        req = next(self._reqs)
        frame = orjson.dumps(
            {
                "t": "send",
                "req": req,
                "id": msg_id,
                "conv": conv,
                "bodies": bodies,
            }
        ).decode()
        if len(frame) > MAX_FRAME:
            raise SendRejected(f"message too large ({len(frame)} bytes framed, max {MAX_FRAME})")
        try:
            reply = await self._request(ws, req, frame)
        except (ConnectionLost, ConnectionClosed) as exc:
            raise SendIndeterminate(f"connection to {node} lost: {exc}") from None
        except TimeoutError:
            raise SendIndeterminate(f"{node} did not answer in {self.request_timeout}s") from None
        if reply["t"] == "sent":
            return Sent(seq=reply.get("seq"), node=node)
        if reply.get("code") == "indeterminate":
            raise SendIndeterminate(f"{node}: {reply.get('message')}")
        raise SendRejected(f"{node}: {reply.get('code')}: {reply.get('message')}")

    async def sync(self, timeout: float) -> None:
        """Ask for the backlog again; return once the node says synced: every message committed
        before the sync arrived has then been pushed to this client.

        Raises TimeoutError after ``timeout``, :class:`ConnectionLost` when not connected and
        :class:`NotSynced` when the node could not confirm it caught up (it knows no primary).
        """
        ws = self._ws
        if ws is None:
            raise ConnectionLost("not connected: call connect() first")
        req = next(self._reqs)
        try:
            frame = orjson.dumps({"t": "sync", "req": req}).decode()
            reply = await self._request(ws, req, frame, timeout)
        except ConnectionClosed as exc:
            raise ConnectionLost(str(exc)) from None
        if reply.get("t") != "synced":
            raise NotSynced(f"{self._node}: {reply.get('code')}: {reply.get('message')}")

    async def wait_synced(self, timeout: float) -> None:
        """Wait for the ``synced`` marker that follows the backlog pushed after connect."""
        await asyncio.wait_for(self._synced.wait(), timeout)

    async def _request(
        self, ws: ClientConnection, req: int, frame: str, timeout: float | None = None
    ) -> dict[str, Any]:
        """Send ``frame`` and wait for the reply to ``req``; TimeoutError after ``timeout``
        (counted from before the send). One timer per request, no extra future or task."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        self._pending[req] = fut
        timer = loop.call_later(timeout or self.request_timeout, _time_out, fut)
        try:
            await ws.send(frame)
            return await fut
        finally:
            timer.cancel()
            self._pending.pop(req, None)

    # -- incoming --------------------------------------------------------------------------------

    def _on_message(
        self, ws: Link, node: str, welcome: asyncio.Future[dict[str, Any] | None], data: bytes
    ) -> None:
        """Handle one message from ``node`` as the connection parses it; the first one after
        ``auth`` answers it. A message that is not JSON frames drops the connection."""
        if welcome.cancelled():
            return
        try:
            frames = frames_of(data)
            if not welcome.done():
                welcome.set_result(frames[0])
                frames = frames[1:]
            for frame in frames:
                self._on_frame(frame, node)
        except (ValueError, KeyError, TypeError, IndexError, AttributeError):
            log.warning(
                "%s: dropping the connection to %s: a message it sent could not be read",
                self.user,
                node,
                exc_info=True,
            )
            ws.transport.abort()

    async def _watch(self, ws: Link, welcome: asyncio.Future[dict[str, Any] | None]) -> None:
        """Once ``ws`` closes, whoever closed it, end what waits on it (None for the welcome)."""
        await ws.wait_closed()
        if not welcome.done():
            welcome.set_result(None)
        if self._ws is ws:
            self._ws = None
            self._lost()

    def _on_frame(self, frame: dict[str, Any], node: str) -> None:
        kind = frame.get("t")
        if kind == "msg":
            self._deliver(frame, node)
        elif kind == "acked":
            for key in frame.get("ids", ()):
                if isinstance(key, list) and len(key) == 2:
                    self._unconfirmed.pop((key[0], key[1]), None)
        elif frame.get("req") is not None:
            fut = self._pending.get(frame["req"])
            if fut is not None and not fut.done():
                fut.set_result(frame)
        elif kind == "synced":
            self._synced.set()

    def _deliver(self, frame: dict[str, Any], node: str) -> None:
        sender = frame.get("from", "")
        plain = None
        if sender in self.directory.users and isinstance(frame.get("body"), str):
            plain = crypto.open_body(self._box_with(sender), frame["body"], self.e2e)
        delivery = Delivery(
            id=frame["id"],
            conv=frame.get("conv", ""),
            sender=sender,
            user=self.user,
            seq=frame.get("seq"),
            digest=UNDECRYPTABLE if plain is None else digest(plain),
            node=node,
        )
        if self.on_deliver is not None:
            self.on_deliver(delivery)
        key = (delivery.sender, delivery.id)
        self._unconfirmed[key] = None
        while len(self._unconfirmed) > MAX_UNCONFIRMED:
            self._unconfirmed.pop(next(iter(self._unconfirmed)))
        self._to_ack.append(key)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_acks())

    async def _flush_acks(self) -> None:
        await asyncio.sleep(self.ack_delay)
        keys, self._to_ack = self._to_ack, []
        ws = self._ws
        if ws is None:
            return
        for start in range(0, len(keys), MAX_ACK):
            chunk = [list(k) for k in keys[start : start + MAX_ACK]]
            with contextlib.suppress(ConnectionClosed):
                await ws.send(orjson.dumps({"t": "ack", "ids": chunk}).decode())


class Link(ClientConnection):
    """A client connection that, once ``on_message`` is set, hands it each whole message as it
    is parsed instead of queueing it for :meth:`recv`.

    At the generator's rates the reader task that ``recv`` needs cost a tenth of each send (one
    wake-up per message). Keepalive, closing and the handshake stay websockets' own. The node
    never fragments a message; a fragment drops the connection.
    """

    on_message: Callable[[bytes], None] | None = None

    def process_event(self, event: Event) -> None:
        on_message = self.on_message
        if on_message is None or not isinstance(event, Frame) or event.opcode not in DATA_OPCODES:
            super().process_event(event)
        elif event.fin and event.opcode is not Opcode.CONT:
            on_message(bytes(event.data))
        else:
            self.transport.abort()


def frames_of(data: str | bytes) -> list[dict[str, Any]]:
    """The frames in one WebSocket message: a JSON object, or an array of them (``batch``)."""
    parsed = orjson.loads(data)
    return parsed if isinstance(parsed, list) else [parsed]


def _time_out(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_exception(TimeoutError())
