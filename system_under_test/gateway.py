"""The node's client protocol as a pure state machine, and the message view it serves from.

``Gateway.handle(event)`` takes a client session's opening, frames and closing, plus what the
replication layer reports (:class:`Applied` entries, :class:`Respond` answers), and returns
actions: frames to send to sessions, sessions to close, requests to replicate (:class:`Ask`) and
log lines. Frames are JSON objects with a type ``t``, listed in
:mod:`system_under_test.client`.

What callers may rely on: a session must answer the challenge before anything else; after auth,
once the node applied all the primary had committed (or found it could not tell), the user's
backlog (every stored message of the user's conversations, not sent by the user and not yet acked
by the user) is pushed in seq order per conversation, then a ``synced`` frame (an ``error`` when it
could not tell); nothing is pushed before, so an ack confirmed elsewhere is not redelivered;
later messages are pushed as they are applied; a message is pushed at most once per session (a
retried or duplicated store of the same id under another seq is a different message). A message is
known by its sender and client id together, in acks too: another sender's message with the same
id is a different message. Bad input gets an ``error`` frame echoing the request's ``req`` and a
log line; a failed authentication closes the session. Bodies are never logged, and the node keeps
no digest of them: the recipient computes the digest of what it decrypts.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import orjson

from system_under_test.crypto import verify_challenge
from system_under_test.keys import Directory
from system_under_test.records import (
    ACK,
    BARRIER,
    MSG,
    Applied,
    ClientOrigin,
    Entry,
    Request,
    Respond,
    Result,
    Tick,
)

MAX_ID = 200
MAX_FRAME = 256 * 1024  # bytes; a larger client frame gets a "too-large" error
MAX_WS_MESSAGE = MAX_FRAME + 64 * 1024  # a larger WebSocket message closes the connection (1009)
MAX_HAVE = 1000  # [sender, id] keys in an auth's "have"
MAX_ACK = 1000  # keys in one ack frame (and in one replicated ack entry)
MAX_EARLY_ACKS = 10_000  # per user: acks of messages this node has not applied yet (AP)
BARRIER_RETRY = 0.25  # seconds between a session's failed barrier and the next try
BACKLOG_BUDGET = 1024 * 1024  # bytes of backlog frames pushed before waiting for a Drained


@dataclass(frozen=True, slots=True)
class Opened:
    sid: int
    nonce: bytes


@dataclass(frozen=True, slots=True)
class ClientFrame:
    sid: int
    data: str | bytes


@dataclass(frozen=True, slots=True)
class Closed:
    sid: int


@dataclass(frozen=True, slots=True)
class Drained:
    """Everything queued for session ``sid`` was written: push the next part of its backlog."""

    sid: int


@dataclass(frozen=True, slots=True)
class ToClient:
    sid: int
    frame: dict[str, Any]


@dataclass(frozen=True, slots=True)
class JoinFrames:
    """Session ``sid`` reads a JSON array as several frames, so frames waiting together may
    leave as one."""

    sid: int


@dataclass(frozen=True, slots=True)
class CloseClient:
    sid: int
    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class Ask:
    """Replicate ``request``; the answer comes back as a :class:`Respond` to ``origin``."""

    origin: ClientOrigin
    request: Request


@dataclass(frozen=True, slots=True)
class Log:
    level: str  # "info" | "warning" | "error"
    text: str


MsgKey = tuple[str, str]  # (sender, client id): what acks and "have" name


@dataclass(frozen=True, slots=True)
class Stored:
    """A message as the node holds it: ciphertext per recipient, never plaintext nor its hash."""

    id: str
    conv: str
    sender: str
    seq: int | None
    bodies: dict[str, str]

    @property
    def key(self) -> tuple[str, str, str, int | None]:
        return (self.sender, self.id, self.conv, self.seq)

    @property
    def msg_key(self) -> MsgKey:
        return (self.sender, self.id)


class Mailbox:
    """Applied messages per conversation and each user's acks. Pure; rebuilt from the log.

    A user's ack set holds only keys of messages addressed to that user, so it grows with the
    messages and not with what clients claim; acks of messages not applied yet (in AP mode an ack
    can arrive before its message) wait in a set bounded by MAX_EARLY_ACKS, oldest dropped first.
    """

    def __init__(self) -> None:
        self.by_conv: dict[str, list[Stored]] = {}
        self.keys: set[tuple[str, str, str, int | None]] = set()
        self.to_user: dict[str, set[MsgKey]] = {}
        self.acked: dict[str, set[MsgKey]] = {}
        self.early: dict[str, OrderedDict[MsgKey, None]] = {}

    def apply(self, entry: Entry) -> Stored | None:
        """Take in one applied entry; returns the message when it is a new one."""
        d = entry.data
        if entry.kind == ACK:
            self._ack(d["user"], [(k[0], k[1]) for k in d["ids"]])
            return None
        if entry.kind != MSG:
            return None
        stored = Stored(d["id"], d["conv"], d["from"], d["seq"], d["bodies"])
        if stored.key in self.keys:
            return None
        self.keys.add(stored.key)
        self.by_conv.setdefault(stored.conv, []).append(stored)
        for user in stored.bodies:
            self.to_user.setdefault(user, set()).add(stored.msg_key)
            early = self.early.get(user)
            if early is not None and stored.msg_key in early:
                del early[stored.msg_key]
                self.acked.setdefault(user, set()).add(stored.msg_key)
        return stored

    def _ack(self, user: str, keys: list[MsgKey]) -> None:
        mine = self.to_user.get(user, set())
        for key in keys:
            if key in mine:
                self.acked.setdefault(user, set()).add(key)
            else:
                early = self.early.setdefault(user, OrderedDict())
                early[key] = None
                while len(early) > MAX_EARLY_ACKS:
                    early.popitem(last=False)

    def is_acked(self, user: str, key: MsgKey) -> bool:
        return key in self.acked.get(user, ())

    def backlog(self, user: str, convs: list[str], unordered: bool = False) -> list[Stored]:
        """Messages ``user`` has not acked, per conversation in (seq, id) order."""
        out: list[Stored] = []
        for conv in convs:
            todo = [
                m
                for m in self.by_conv.get(conv, ())
                if m.sender != user and user in m.bodies and not self.is_acked(user, m.msg_key)
            ]
            todo.sort(key=lambda m: (m.seq or 0, m.id), reverse=unordered)
            out.extend(todo)
        return out


@dataclass(slots=True)
class Session:
    sid: int
    nonce: bytes
    user: str | None = None
    pushed: set[tuple[str, str, str, int | None]] = field(default_factory=set)
    pushed_keys: set[MsgKey] = field(default_factory=set)  # what this session may ack
    have: frozenset[MsgKey] = frozenset()
    caught_up: bool = False  # a barrier confirmed this node caught up: pushes may start
    awaiting_barrier: bool = False  # not caught up and no barrier in flight: ask again later
    barrier_retry_at: float = 0.0  # the first Tick at or after this time asks again
    draining: bool = False  # part of the backlog is still to push; live pushes wait for it
    synced_reqs: list[int | None] = field(default_factory=list)  # answered when it is pushed


class BadFrame(ValueError):
    """A frame that does not follow the protocol; the message says what is wrong."""


class Gateway:
    """Client sessions of one node. Not thread-safe; holds no I/O."""

    def __init__(
        self,
        node: str,
        mode: str,
        directory: Directory,
        *,
        e2e: bool,
        bugs: frozenset[str],
        backlog_budget: int = BACKLOG_BUDGET,
    ) -> None:
        self.node, self.mode, self.directory, self.e2e = node, mode, directory, e2e
        self.backlog_budget = backlog_budget
        self.unordered = "unordered-backlog" in bugs
        # Without dedup a retried id is a second message to everyone, acks and "have" included.
        self.dedup = "no-dedup" not in bugs
        self.mailbox = Mailbox()
        self.sessions: dict[int, Session] = {}
        self.by_user: dict[str, set[int]] = {}
        self.now = 0.0  # the last Tick's time

    def handle(
        self, event: Opened | ClientFrame | Closed | Drained | Applied | Respond | Tick
    ) -> list:
        """Apply one event; return the actions to carry out, in order."""
        if isinstance(event, Drained):
            session = self.sessions.get(event.sid)
            return self._push_backlog(session) if session and session.draining else []
        if isinstance(event, Tick):
            self.now = event.now
            return self._retry_barriers(event.now)
        if isinstance(event, Opened):
            self.sessions[event.sid] = Session(event.sid, event.nonce)
            challenge = {
                "t": "challenge",
                "node": self.node,
                "nonce": event.nonce.hex(),
                "mode": self.mode,
                "e2e": self.e2e,
            }
            return [ToClient(event.sid, challenge)]
        if isinstance(event, Closed):
            session = self.sessions.pop(event.sid, None)
            if session is not None and session.user is not None:
                self.by_user.get(session.user, set()).discard(event.sid)
            return []
        if isinstance(event, Applied):
            return self._applied(event.entries)
        if isinstance(event, Respond):
            return self._answer(event)
        session = self.sessions.get(event.sid)
        if session is None:
            return []
        req = None
        try:
            frame = decode(event.data)
            req = _req_of(frame)
            if len(event.data) > MAX_FRAME:
                raise BadFrame(f"frames are limited to {MAX_FRAME} bytes; send smaller bodies")
            return self._frame(session, frame)
        except BadFrame as refused:
            exc = refused
            code = "unknown-type" if str(exc).startswith("unknown frame type") else "bad-frame"
            if len(event.data) > MAX_FRAME:
                code = "too-large"
                exc = BadFrame(f"frames are limited to {MAX_FRAME} bytes; send smaller bodies")
            who = session.user or "unauthenticated"
            return [
                Log("warning", f"session {session.sid} ({who}): {code}: {exc}"),
                ToClient(session.sid, error(req, code, f"{exc}; see the client protocol")),
            ]

    # -- frames ----------------------------------------------------------------------------------

    def _frame(self, session: Session, frame: dict[str, Any]) -> list:
        kind = frame.get("t")
        if session.user is None:
            if kind != "auth":
                raise BadFrame(f"expected an auth frame first, got {kind!r}")
            return self._auth(session, frame)
        if kind == "send":
            return self._send(session, frame)
        if kind == "ack":
            return self._ack(session, _keys(frame, "ids", MAX_ACK))
        if kind == "sync":
            return [_barrier(session.sid, _int(frame, "req"))]
        raise BadFrame(f"unknown frame type {kind!r} (expected send, ack or sync)")

    def _auth(self, session: Session, frame: dict[str, Any]) -> list:
        user, sig = _str(frame, "user"), _str(frame, "sig")
        have = _keys(frame, "have", MAX_HAVE) if "have" in frame else []
        if user not in self.directory.users or not verify_challenge(
            self.directory.verify_key(user), self.node, session.nonce, sig
        ):
            return [
                Log("warning", f"session {session.sid}: authentication failed for {user!r}"),
                ToClient(
                    session.sid,
                    error(
                        None,
                        "auth-failed",
                        "signature does not match the user's key; check "
                        "the secrets file matches the users file the nodes run with",
                    ),
                ),
                CloseClient(session.sid, 4001, "authentication failed"),
            ]
        session.user, session.have = user, frozenset(have)
        self.by_user.setdefault(user, set()).add(session.sid)
        welcome: dict[str, Any] = {"t": "welcome", "node": self.node, "user": user}
        out: list = [Log("info", f"session {session.sid}: {user} authenticated")]
        if frame.get("batch") is True:
            welcome["batch"] = True
            out.append(JoinFrames(session.sid))
        out.append(ToClient(session.sid, welcome))
        if session.have:
            out.append(_ack_ask(session.sid, user, sorted(session.have)))
        return [*out, _barrier(session.sid, None)]

    def _ack(self, session: Session, keys: list[MsgKey]) -> list:
        """Replicate the acks of messages this session was pushed; others are not acks at all."""
        assert session.user is not None
        mine = [k for k in keys if k in session.pushed_keys]
        out: list = []
        if len(mine) < len(keys):
            out.append(
                Log(
                    "warning",
                    f"session {session.sid} ({session.user}): ack of {len(keys) - len(mine)} "
                    "messages never pushed to this session ignored",
                )
            )
        if mine:
            out.append(_ack_ask(session.sid, session.user, mine))
        return out

    def _send(self, session: Session, frame: dict[str, Any]) -> list:
        req = _int(frame, "req")
        msg_id, conv = _str(frame, "id"), _str(frame, "conv")
        bodies = frame.get("bodies")
        if not 0 < len(msg_id) <= MAX_ID or len(conv) > MAX_ID:
            raise BadFrame("id must be 1..200 characters and conv at most 200")
        members = self.directory.members(conv)
        user = session.user
        if user not in members:
            return [
                Log("warning", f"session {session.sid} ({user}): send to {conv!r}, not a member"),
                ToClient(
                    session.sid,
                    error(
                        req,
                        "not-member",
                        f"{user} is not in conversation {conv!r}; "
                        "send only to conversations of the users file",
                    ),
                ),
            ]
        expected = set(members) - {user}
        if (
            not isinstance(bodies, dict)
            or set(bodies) != expected
            or not all(isinstance(b, str) for b in bodies.values())
        ):
            raise BadFrame(f"bodies must map each recipient {sorted(expected)} to a base64 string")
        data = {"id": msg_id, "conv": conv, "from": user, "bodies": bodies}
        return [Ask(ClientOrigin(session.sid, req), Request(MSG, data))]

    # -- from replication ------------------------------------------------------------------------

    def _retry_barriers(self, now: float) -> list:
        """Ask again for sessions whose barrier failed, at most every BARRIER_RETRY seconds,
        so a session does not depend on this node applying another entry to catch up."""
        out: list = []
        for session in self.sessions.values():
            if session.awaiting_barrier and now >= session.barrier_retry_at:
                session.awaiting_barrier = False
                out.append(_barrier(session.sid, None))
        return out

    def _applied(self, entries: list[Entry]) -> list:
        out: list = []
        for session in self.sessions.values():
            if session.awaiting_barrier and entries:
                session.awaiting_barrier = False
                out.append(_barrier(session.sid, None))
        for entry in entries:
            stored = self.mailbox.apply(entry)
            if stored is None:
                continue
            for user in stored.bodies:
                if self.dedup and self.mailbox.is_acked(user, stored.msg_key):
                    continue
                for sid in self.by_user.get(user, ()):
                    out.extend(self._push(self.sessions[sid], stored))
        return out

    def _answer(self, event: Respond) -> list:
        origin, result = event.origin, event.result
        if origin.sid not in self.sessions:
            return []
        if origin.kind == "sync":
            return self._synced(self.sessions[origin.sid], origin.req, result)
        if origin.kind == "ack":  # confirm so the client stops re-sending these ids
            if result.status != "ok":
                return []
            return [ToClient(origin.sid, {"t": "acked", "ids": [list(k) for k in origin.ids]})]
        if result.status == "ok":
            return [ToClient(origin.sid, {"t": "sent", "req": origin.req, "seq": result.seq})]
        return [ToClient(origin.sid, error(origin.req, result.status, result.message))]

    def _synced(self, session: Session, req: int | None, result: Result) -> list:
        """Push the backlog, then ``synced``, when the barrier confirmed this node caught up with
        the primary. Otherwise push nothing (this node's view may be behind: it may not have
        applied acks the majority committed, and would redeliver) and answer an ``error``
        (``rejected``/``indeterminate``); a session not yet caught up asks again when this node
        next applies entries, and the client may sync again, here or elsewhere."""
        if result.status == "ok":
            session.caught_up = True
            session.awaiting_barrier = False
            session.synced_reqs.append(req)
            return self._push_backlog(session)
        if not session.caught_up:
            session.awaiting_barrier = True
            session.barrier_retry_at = self.now + BARRIER_RETRY
        if req is None:
            return []
        message = f"not synced, this node may be behind the primary: {result.message}"
        return [ToClient(session.sid, error(req, result.status, message))]

    # -- pushing ---------------------------------------------------------------------------------

    def _push(self, session: Session, m: Stored, live: bool = True) -> list:
        if not session.caught_up or session.user is None or (live and session.draining):
            return []
        if m.key in session.pushed or (self.dedup and m.msg_key in session.have):
            return []
        session.pushed.add(m.key)
        session.pushed_keys.add(m.msg_key)
        frame = {
            "t": "msg",
            "id": m.id,
            "conv": m.conv,
            "from": m.sender,
            "seq": m.seq,
            "body": m.bodies[session.user],
        }
        return [ToClient(session.sid, frame)]

    def _push_backlog(self, session: Session) -> list:
        """Push the backlog this session has not had yet, about ``backlog_budget`` bytes at a time
        (the rest after the node reports the session :class:`Drained`), then ``synced`` for every
        sync waiting. Live pushes wait meanwhile, so each conversation still arrives in order."""
        assert session.user is not None
        convs = self.directory.conversations_of(session.user)
        out: list = []
        budget = self.backlog_budget
        for m in self.mailbox.backlog(session.user, convs, unordered=self.unordered):
            if budget <= 0:
                session.draining = True
                return out
            pushed = self._push(session, m, live=False)
            budget -= sum(len(f.frame["body"]) + 200 for f in pushed)
            out.extend(pushed)
        session.draining = False
        reqs, session.synced_reqs = session.synced_reqs, []
        return out + [ToClient(session.sid, {"t": "synced", "req": req}) for req in reqs]


def error(req: int | None, code: str, message: str) -> dict[str, Any]:
    return {"t": "error", "req": req, "code": code, "message": message}


def decode(data: str | bytes) -> dict[str, Any]:
    """A client frame as a dict; raises BadFrame when it is not a JSON object with a type."""
    try:
        frame = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadFrame(f"not JSON ({exc.msg})") from None
    if not isinstance(frame, dict) or not isinstance(frame.get("t"), str):
        raise BadFrame('a frame must be a JSON object with a string field "t"')
    return frame


def _barrier(sid: int, req: int | None) -> Ask:
    """Ask to catch up with what the primary committed, then push the backlog and ``synced``."""
    return Ask(ClientOrigin(sid, req, (), "sync"), Request(BARRIER, {}))


def _ack_ask(sid: int, user: str, keys: list[MsgKey]) -> Ask:
    origin = ClientOrigin(sid, None, tuple(keys), "ack")
    return Ask(origin, Request(ACK, {"user": user, "ids": [list(k) for k in keys]}))


def _req_of(frame: dict[str, Any]) -> int | None:
    """The frame's ``req`` when it is a usable one, so a refusal can name the request."""
    req = frame.get("req")
    return req if isinstance(req, int) and not isinstance(req, bool) else None


def refuse_request(directory: Directory, request: Request) -> str | None:
    """Why a request forwarded by a peer cannot be one a session of a node made, or None.

    A node only forwards what its gateway accepted, so this refuses only forged or corrupt
    requests: a message whose sender is not a member of its conversation or whose bodies are not
    exactly for the other members, an ack by an unknown user.
    """
    d = request.data
    if request.kind == MSG:
        members = directory.members(d["conv"])
        if d["from"] not in members:
            return f"{d['from']!r} is not a member of conversation {d['conv']!r}"
        if set(d["bodies"]) != set(members) - {d["from"]}:
            return f"bodies of {d['id']!r} are not exactly for the other members of {d['conv']!r}"
    elif request.kind == ACK and d["user"] not in directory.users:
        return f"ack by {d['user']!r}, who is not a user"
    return None


def _str(frame: dict[str, Any], name: str) -> str:
    value = frame.get(name)
    if not isinstance(value, str):
        raise BadFrame(f"field {name!r} must be a string")
    return value


def _int(frame: dict[str, Any], name: str) -> int:
    value = frame.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadFrame(f"field {name!r} must be an integer")
    return value


def _keys(frame: dict[str, Any], name: str, limit: int) -> list[MsgKey]:
    value = frame.get(name)
    if (
        not isinstance(value, list)
        or len(value) > limit
        or not all(
            isinstance(v, list)
            and len(v) == 2
            and all(isinstance(x, str) and 0 < len(x) <= MAX_ID for x in v)
            for v in value
        )
    ):
        raise BadFrame(f"field {name!r} must be a list of at most {limit} [sender, id] pairs")
    return [(v[0], v[1]) for v in value]
