"""One user's JetStream client (``nats-py``), speaking the seam's :class:`MessagingClient`.

The mapping (each checker keeps its meaning):

* One stream per conversation (subject ``chat.<conv>``), so the stream sequence is the
  conversation's ``seq``; its duplicate window is long enough for every retry of a run.
* ``send`` publishes a JSON envelope (id, from, conv, body) with ``<sender>/<id>`` in the
  ``Nats-Msg-Id`` header. The PubAck is ``ok`` with its sequence; a retry the server recognises
  gets the original sequence back (``duplicate: true``). JetStream de-duplicates by that header
  per stream, across senders: with the bare client id, another member's send of the same id
  would be taken for a retry and answered with that member's sequence (the harness's colliding
  ids showed it as ``lost`` and ``seq-conflict``), so the id is keyed by its sender.
* What proves a send was *not* stored (:class:`Refused`, recorded ``fail``), from the server's
  source (``processClusteredInboundMsg`` and ``processJetStreamMsg``):

  - a PubAck carrying an ``error``: the stream leader answers with an error only for a message it
    rejected before proposing it to the stream's Raft group (limits, size, sealed, ...) or that
    its apply refused; a stored message is answered with a sequence;
  - "no responders" (status 503 on the request): the server the client is connected to delivered
    the publish to no subscriber at all, so no stream leader received it.

  Everything else (no PubAck within ``request_timeout``, the connection lost with the request in
  flight, a proposal that a deposed leader dropped without answering) is :class:`Indeterminate`,
  and so is a retry the server recognises while the original is proposed but not yet applied:
  ``processClusteredInboundMsg`` stages its id with sequence 0, and a retry then gets a PubAck
  with sequence 0 (2.10, seen under kills) or error 10158 (duplicate message conflict, later
  releases); the original may still be stored or dropped.
* Each member has a durable pull consumer (explicit ack) on every stream of its conversations; the
  durable consumer is the offline backlog across reconnects. A fetch loop per conversation
  delivers as messages arrive, calls ``on_deliver`` and acks after it returns. A member's own
  messages are acked without a delivery (the sender is never a recipient).
* NATS delivers at least once: a message whose ack was lost is delivered again. A client hides a
  redelivery of a message it already delivered (same stream sequence and same id), as an
  application does, unless the system option ``redeliveries=report`` asks for every arrival.
  A message stored twice under two sequences is still reported twice.
* Streams and consumers are created on ``connect`` (idempotent: the same config is accepted
  again), and again whenever the server says the stream or consumer is gone: a stream that
  JetStream forgot comes back empty, so the messages it held show up as ``lost``, not as a run
  that cannot drain. A sender outside a conversation creates its stream on its first send and
  has no consumer on it (a pure producer).
* ``connect`` dials exactly one node (``servers=[that one]``, no reconnect, no discovered
  servers): the driver does the failover.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsConnection
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from splitbrain.messages import digest
from systems.nats.config import durable_name, envelope, open_envelope, stream_name, subject
from systems.seam import (
    ClientSettings,
    Delivery,
    DeliveryCallback,
    Indeterminate,
    NotCaughtUp,
    Refused,
    Sent,
    Unreachable,
)

FETCH_BATCH = 64
STREAM_NOT_FOUND = 10059
CONSUMER_NOT_FOUND = 10014
DUPLICATE_IN_FLIGHT = 10158  # JSStreamDuplicateMessageConflictErr: the original is not applied yet
STREAM_NAME_IN_USE = 10058
MSG_ID_HEADER = "Nats-Msg-Id"


@dataclass(frozen=True)
class StreamPlan:
    """How every conversation's stream and consumers are made (the same for all clients)."""

    replicas: int
    storage: str = "file"
    duplicate_window: float = 3600.0
    ack_wait: float = 10.0
    domain: str | None = None
    report_redeliveries: bool = False

    def stream_config(self, conv: str) -> StreamConfig:
        return StreamConfig(
            name=stream_name(conv),
            subjects=[subject(conv)],
            retention=RetentionPolicy.LIMITS,
            discard=DiscardPolicy.OLD,
            storage=StorageType.MEMORY if self.storage == "memory" else StorageType.FILE,
            num_replicas=self.replicas,
            duplicate_window=self.duplicate_window,
        )

    def consumer_config(self, user: str) -> ConsumerConfig:
        return ConsumerConfig(
            durable_name=durable_name(user),
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self.ack_wait,
            max_deliver=-1,
        )


def _missing(exc: BaseException) -> bool:
    return isinstance(exc, nats.js.errors.NotFoundError) or getattr(exc, "err_code", None) in (
        STREAM_NOT_FOUND,
        CONSUMER_NOT_FOUND,
    )


async def _quiet(_: Exception) -> None:
    """nats-py logs every connection error by default; the client reports them itself."""


class NatsClient:
    """The :class:`MessagingClient` of one user; ``conversations`` maps each conversation the
    user belongs to onto its members."""

    def __init__(
        self,
        user: str,
        endpoints: Mapping[str, str],
        on_deliver: DeliveryCallback,
        settings: ClientSettings,
        conversations: Mapping[str, Sequence[str]],
        plan: StreamPlan,
    ) -> None:
        self.user = user
        self._endpoints = dict(endpoints)
        self._on_deliver = on_deliver
        self._settings = settings
        self._convs = tuple(sorted(conversations))
        self._plan = plan
        self._nc: NatsConnection | None = None
        self._js: JetStreamContext | None = None
        self._node: str | None = None
        self._loops: list[asyncio.Task[None]] = []
        self._seen: set[tuple[str, int, str]] = set()
        self._stale: set[str] = set()
        self._ensured: set[str] = set()

    @property
    def node(self) -> str | None:
        nc = self._nc
        return self._node if nc is not None and nc.is_connected else None

    async def connect(self, order: Sequence[str]) -> str:
        """Connect to the first node of ``order`` whose JetStream creates (or confirms) this
        user's streams and consumers; when none can, to the first node that answered at all
        (its streams are made later, on first use). Unreachable when no node answers."""
        await self.close()
        reasons: list[str] = []
        fallback: tuple[str, NatsConnection, JetStreamContext] | None = None
        for name in order:
            address = self._endpoints.get(name)
            if address is None:
                reasons.append(f"{name}: no endpoint")
                continue
            try:
                nc = await self._dial(address)
            except (TimeoutError, OSError, nats.errors.Error) as exc:
                reasons.append(f"{name}: {type(exc).__name__} {exc}")
                continue
            js = nc.jetstream(timeout=self._settings.request_timeout, domain=self._plan.domain)
            try:
                await asyncio.wait_for(
                    asyncio.gather(*(self._ensure(js, conv) for conv in self._convs)),
                    self._settings.request_timeout,
                )
            except (TimeoutError, OSError, nats.errors.Error) as exc:
                reasons.append(f"{name}: connected, but JetStream did not answer ({exc})")
                if fallback is None:
                    fallback = (name, nc, js)
                else:
                    await self._close_connection(nc)
                continue
            if fallback is not None:
                await self._close_connection(fallback[1])
            return self._adopt(name, nc, js)
        if fallback is not None:
            self._stale.update(self._convs)
            return self._adopt(*fallback)
        raise Unreachable(f"{self.user}: no node answered: " + "; ".join(reasons))

    def _adopt(self, name: str, nc: NatsConnection, js: JetStreamContext) -> str:
        self._nc, self._js, self._node = nc, js, name
        self._loops = [asyncio.create_task(self._fetch_loop(nc, js, c)) for c in self._convs]
        return name

    async def _dial(self, address: str) -> NatsConnection:
        s = self._settings
        return await asyncio.wait_for(
            nats.connect(
                servers=[f"nats://{address}"],
                name=f"splitbrain-{self.user}",
                allow_reconnect=False,
                connect_timeout=s.connect_timeout,
                ping_interval=max(1, round(s.heartbeat)),
                max_outstanding_pings=2,
                error_cb=_quiet,
                disconnected_cb=None,
                closed_cb=None,
            ),
            timeout=s.connect_timeout + 1.0,
        )

    async def _ensure(self, js: JetStreamContext, conv: str) -> None:
        """Create ``conv``'s stream unless it exists, and this user's consumer on it when the
        user is a member (a sender outside the conversation only publishes)."""
        try:
            await js.add_stream(self._plan.stream_config(conv))
        except nats.js.errors.BadRequestError as exc:
            if exc.err_code != STREAM_NAME_IN_USE:
                raise
        if conv in self._convs:
            await js.add_consumer(stream_name(conv), self._plan.consumer_config(self.user))
        self._stale.discard(conv)
        self._ensured.add(conv)

    def _connected(self) -> tuple[NatsConnection, JetStreamContext]:
        nc, js = self._nc, self._js
        if nc is None or js is None or not nc.is_connected:
            raise Unreachable(f"{self.user}: not connected")
        return nc, js

    async def send(self, msg_id: str, conv: str, body: bytes) -> Sent:
        try:
            _, js = self._connected()
        except Unreachable as exc:  # nothing was published: certainly not taken
            raise Refused(str(exc)) from None
        if conv in self._stale or conv not in self._ensured:
            with contextlib.suppress(nats.errors.Error, TimeoutError):
                await asyncio.wait_for(self._ensure(js, conv), self._settings.request_timeout)
        try:
            ack = await js.publish(
                subject(conv),
                envelope(msg_id, self.user, conv, body),
                timeout=self._settings.request_timeout,
                headers={MSG_ID_HEADER: f"{self.user}/{msg_id}"},
            )
        except nats.js.errors.NoStreamResponseError:
            self._stale.add(conv)
            raise Refused("no responders: no stream leader received the publish") from None
        except nats.js.errors.APIError as exc:
            if exc.err_code == DUPLICATE_IN_FLIGHT:
                raise Indeterminate(f"a retry of a publish still in flight: {exc}") from None
            if _missing(exc):
                self._stale.add(conv)
            raise Refused(
                f"JetStream refused it: {exc.code}/{exc.err_code} {exc.description}"
            ) from None
        except (TimeoutError, nats.errors.TimeoutError):
            raise Indeterminate(f"no PubAck within {self._settings.request_timeout} s") from None
        except (nats.errors.Error, OSError) as exc:
            raise Indeterminate(f"{type(exc).__name__}: {exc}") from None
        if not ack.seq:  # 2.10: a retry of a publish proposed but not yet applied
            raise Indeterminate("PubAck with sequence 0: a retry of a publish still in flight")
        return Sent(seq=ack.seq, node=self._node)

    async def _fetch_loop(self, nc: NatsConnection, js: JetStreamContext, conv: str) -> None:
        """Deliver ``conv``'s messages as they arrive until the connection closes."""
        wait = max(1.0, 2 * self._settings.heartbeat)
        idle = 0
        sub = await js.pull_subscribe_bind(
            durable=durable_name(self.user), stream=stream_name(conv)
        )
        while not nc.is_closed:
            try:
                msgs = await sub.fetch(FETCH_BATCH, timeout=wait)
            except (TimeoutError, nats.errors.TimeoutError):
                idle += 1
                if idle % 5 == 0 or conv in self._stale:
                    await self._recheck(js, conv)
                continue
            except nats.errors.ConnectionClosedError:
                return
            except (nats.errors.Error, OSError):
                await asyncio.sleep(wait / 2)
                await self._recheck(js, conv)
                continue
            idle = 0
            for msg in msgs:
                self._deliver(conv, msg)
                with contextlib.suppress(nats.errors.Error):
                    await msg.ack()

    async def _recheck(self, js: JetStreamContext, conv: str) -> None:
        """Re-create ``conv``'s consumer (and stream) if the server says it is gone."""
        try:
            await js.consumer_info(stream_name(conv), durable_name(self.user))
        except (TimeoutError, nats.errors.Error) as exc:
            if _missing(exc) or conv in self._stale:
                with contextlib.suppress(nats.errors.Error, TimeoutError):
                    await self._ensure(js, conv)

    def _deliver(self, conv: str, msg: Msg) -> None:
        seq = msg.metadata.sequence.stream
        try:
            msg_id, sender, _, body = open_envelope(msg.data)
            body_digest = digest(body)
        except ValueError:
            msg_id = (msg.headers or {}).get(MSG_ID_HEADER, f"unparsed-{conv}-{seq}")
            sender, body_digest = "", digest(msg.data)
        key = (conv, seq, msg_id)
        if sender == self.user or (key in self._seen and not self._plan.report_redeliveries):
            return
        self._seen.add(key)
        self._on_deliver(
            Delivery(
                id=msg_id,
                conv=conv,
                sender=sender,
                user=self.user,
                seq=seq,
                digest=body_digest,
                node=self._node,
            )
        )

    async def sync(self, timeout: float) -> None:
        """Return once every consumer of this user has acked up to its stream's last sequence
        as the stream leader states it at the call, with nothing pending or unacked."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        _, js = self._connected()
        targets: dict[str, int] = {}
        behind: dict[str, str] = dict.fromkeys(self._convs, "not asked yet")
        while True:
            self._raise_loop_failure()
            for conv in list(behind):
                try:
                    behind_why = await self._behind(js, conv, targets, deadline - loop.time())
                except nats.errors.ConnectionClosedError:
                    raise Unreachable(f"{self.user}: connection lost during sync") from None
                if behind_why is None:
                    del behind[conv]
                else:
                    behind[conv] = behind_why
            if not behind:
                return
            if loop.time() >= deadline:
                detail = "; ".join(f"{c}: {why}" for c, why in sorted(behind.items()))
                raise NotCaughtUp(f"{self.user}: not caught up after {timeout} s ({detail})")
            await asyncio.sleep(0.1)

    async def _behind(
        self, js: JetStreamContext, conv: str, targets: dict[str, int], left: float
    ) -> str | None:
        """None when ``conv`` is caught up, else why not."""
        timeout = max(0.1, min(self._settings.request_timeout, left))
        stream, durable = stream_name(conv), durable_name(self.user)
        try:
            if conv not in targets:
                info = await asyncio.wait_for(js.stream_info(stream), timeout)
                targets[conv] = info.state.last_seq
            ci = await js.consumer_info(stream, durable, timeout=timeout)
        except (TimeoutError, nats.errors.Error) as exc:
            if _missing(exc):
                self._stale.add(conv)
                await self._recheck(js, conv)
            return f"{type(exc).__name__} {exc}"
        floor = ci.ack_floor.stream_seq if ci.ack_floor else 0
        if ci.num_pending or ci.num_ack_pending or (floor or 0) < targets[conv]:
            return (
                f"pending {ci.num_pending}, unacked {ci.num_ack_pending}, "
                f"acked to {floor} of {targets[conv]}"
            )
        return None

    def _raise_loop_failure(self) -> None:
        for task in self._loops:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    async def close(self) -> None:
        """Stop the fetch loops and close the connection; never waits more than about
        ``connect_timeout`` + 1 s (a cancelled nats-py fetch can linger until its connection
        closes, so the connection is closed before the loops are awaited)."""
        loops, self._loops = self._loops, []
        for task in loops:
            task.cancel()
        nc, self._nc, self._js, self._node = self._nc, None, None, None
        if nc is not None:
            await self._close_connection(nc)
        if loops:
            await asyncio.wait(loops, timeout=1.0)

    async def _close_connection(self, nc: NatsConnection) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(nc.close(), timeout=self._settings.connect_timeout)


def client_conversations(
    user: str, conversations: Mapping[str, Sequence[str]]
) -> dict[str, tuple[str, ...]]:
    """The conversations ``user`` belongs to, with their members."""
    return {c: tuple(m) for c, m in conversations.items() if user in m}


def plan_from(settings: Mapping[str, Any], replicas: int) -> StreamPlan:
    """The stream plan of a run from the system's settings and the replica count."""
    return StreamPlan(
        replicas=replicas,
        storage=settings["storage"],
        duplicate_window=settings["duplicate_window"],
        ack_wait=settings["ack_wait"],
        domain=settings["domain"],
        report_redeliveries=settings["redeliveries"] == "report",
    )
