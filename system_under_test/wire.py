"""Peer messages to bytes and back (orjson).

Decoding is strict, since a peer frame that decodes is acted on: every field of a message must be
there with its exact JSON type (an integer is an integer in ``0..MAX_INT``, never a bool or a
float; a flag is a bool), names and texts are bounded strings, lists are bounded, and each log
entry has the shape of a message, an ack or a no-op. Anything else raises ValueError saying what
is wrong; nothing is half-decoded.

A peer frame holds one message (a JSON object) or, when a node had several for the same link in
one turn of its event loop, a batch of them in order (a JSON array of 1..MAX_BATCH such objects):
one frame and one write instead of many. :func:`decode_frame` reads either, each message of a
batch as strictly as a lone one, and takes a frame whole or not at all.
"""

from __future__ import annotations

import builtins
from typing import Any

import orjson

from system_under_test import records as r

MAX_INT = 2**53 - 1  # terms, indexes, seqs: exact in every JSON reader
MAX_NAME = 200  # node, user, conversation names and message ids
MAX_TEXT = 1000  # a result's message
MAX_ENTRIES = 1024  # per AppendEntries / Entries (senders batch at most 512)
MAX_ACK_IDS = 1000  # message keys per ack entry (the gateway splits larger acks)
MAX_HAVE_ORIGINS = 256  # origins in an AP Pull
MAX_BODY = 512 * 1024  # one recipient's base64 copy (a client frame is at most 256 KiB)
MAX_BATCH = 4096  # messages in one batched frame (the node splits longer batches)

_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (
        r.AppendEntries,
        r.AppendReply,
        r.RequestVote,
        r.VoteReply,
        r.Forward,
        r.ForwardReply,
        r.Pull,
        r.Entries,
    )
}
_STATUSES = ("ok", "rejected", "indeterminate")


class Malformed(ValueError):
    """A peer frame that is not a well-formed peer message; the text says what is wrong."""


def _entry(e: r.Entry) -> list:
    return [e.term, e.kind, e.data, e.origin, e.n]


def encode(msg: r.PeerMessage) -> bytes:
    fields: dict[str, Any] = {"t": type(msg).__name__}
    for name in msg.__slots__:
        value = getattr(msg, name)
        if name == "entries":
            value = [_entry(e) for e in value]
        elif isinstance(value, r.Request | r.Result):
            value = {k: getattr(value, k) for k in value.__slots__}
        fields[name] = value
    return orjson.dumps(fields)


def batch(encoded: list[bytes]) -> bytes:
    """One frame carrying messages made by :func:`encode`, in order (at most MAX_BATCH)."""
    return encoded[0] if len(encoded) == 1 else b"[" + b",".join(encoded) + b"]"


def decode(data: bytes | str) -> r.PeerMessage:
    """The peer message in ``data`` (one JSON object); raises :class:`Malformed` (a ValueError)
    otherwise."""
    return _message(_parse(data))


def decode_frame(data: bytes | str) -> list[r.PeerMessage]:
    """The messages of one frame: one message, or a :func:`batch` of 1..MAX_BATCH of them in
    order. Raises :class:`Malformed` when any part is malformed (naming the batch item), so a
    frame is taken whole or not at all."""
    parsed = _parse(data)
    if not isinstance(parsed, list):
        return [_message(parsed)]
    if not 0 < len(parsed) <= MAX_BATCH:
        raise Malformed(f"malformed peer message: a batch must hold 1..{MAX_BATCH} messages")
    msgs = []
    for i, fields in enumerate(parsed):
        try:
            msgs.append(_message(fields))
        except Malformed as exc:
            raise Malformed(f"batch item {i}: {exc}") from None
    return msgs


def _parse(data: bytes | str) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise Malformed(f"malformed peer message: not JSON ({exc.msg})") from None


def _message(fields: Any) -> r.PeerMessage:
    if not isinstance(fields, dict):
        raise Malformed("malformed peer message: not a JSON object")
    kind = fields.pop("t", None)
    cls = _TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise Malformed(f"malformed peer message: unknown type {str(kind)[:40]!r}")
    try:
        return _DECODERS[cls](Fields(fields, cls.__name__))
    except Malformed as exc:
        raise Malformed(f"malformed peer message: {exc}") from None


class Fields:
    """One decoded JSON object, read field by field with exact types; unknown fields refused."""

    def __init__(self, obj: dict[str, Any], where: str) -> None:
        self.obj, self.where = obj, where
        self.read: set[str] = set()

    def get(self, name: str, default: Any = ...) -> Any:
        if name not in self.obj:
            if default is ...:
                raise Malformed(f"{self.where} has no field {name!r}")
            return default
        self.read.add(name)
        return self.obj[name]

    def int(self, name: str, default: Any = ...) -> int:
        return integer(self.get(name, default), f"{self.where}.{name}")

    def bool(self, name: str, default: Any = ...) -> bool:
        value = self.get(name, default)
        if not isinstance(value, bool):
            raise Malformed(f"{self.where}.{name} must be true or false")
        return value

    def str(self, name: str, limit: builtins.int = MAX_NAME, default: Any = ...) -> builtins.str:
        return text(self.get(name, default), f"{self.where}.{name}", limit)

    def done(self) -> None:
        extra = set(self.obj) - self.read
        if extra:
            raise Malformed(f"{self.where} has unknown fields {sorted(extra)[:5]}")


def integer(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_INT:
        raise Malformed(f"{where} must be an integer in 0..{MAX_INT}")
    return value


def text(value: Any, where: str, limit: int = MAX_NAME) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise Malformed(f"{where} must be a string of at most {limit} characters")
    return value


def listed(value: Any, where: str, limit: int) -> list:
    if not isinstance(value, list) or len(value) > limit:
        raise Malformed(f"{where} must be a list of at most {limit} items")
    return value


def message_data(value: Any, where: str, *, sequenced: bool) -> dict[str, Any]:
    """The data of a message: id, conv, from, bodies, and seq once sequenced."""
    if not isinstance(value, dict):
        raise Malformed(f"{where} must be an object")
    f = Fields(value, where)
    data: dict[str, Any] = {
        "id": f.str("id"),
        "conv": f.str("conv"),
        "from": f.str("from"),
    }
    if not data["id"]:
        raise Malformed(f"{where}.id must not be empty")
    if sequenced:
        data["seq"] = f.int("seq")
    bodies = f.get("bodies")
    if not isinstance(bodies, dict) or len(bodies) > 10_000:
        raise Malformed(f"{where}.bodies must map recipients to base64 strings")
    for user, body in bodies.items():
        text(user, f"{where}.bodies key", MAX_NAME)
        text(body, f"{where}.bodies[{user[:40]!r}]", MAX_BODY)
    data["bodies"] = bodies
    f.done()
    return data


def ack_data(value: Any, where: str) -> dict[str, Any]:
    """The data of an ack: the user and the [sender, id] keys of the messages it acknowledges."""
    if not isinstance(value, dict):
        raise Malformed(f"{where} must be an object")
    f = Fields(value, where)
    user = f.str("user")
    keys = listed(f.get("ids"), f"{where}.ids", MAX_ACK_IDS)
    for key in keys:
        if not (isinstance(key, list) and len(key) == 2):
            raise Malformed(f"{where}.ids must hold [sender, id] pairs")
        text(key[0], f"{where}.ids sender")
        text(key[1], f"{where}.ids id")
    f.done()
    return {"user": user, "ids": keys}


def request_data(kind: str, value: Any, where: str, *, sequenced: bool) -> dict[str, Any]:
    if kind == r.MSG:
        return message_data(value, where, sequenced=sequenced)
    if kind == r.ACK:
        return ack_data(value, where)
    if kind in (r.NOOP, r.BARRIER) and value == {}:
        return {}
    raise Malformed(f"{where}: a {str(kind)[:20]!r} entry cannot carry data {str(value)[:60]}")


def entry_from(raw: Any) -> r.Entry:
    """One log entry [term, kind, data, origin, n]: a sequenced message, an ack or a no-op."""
    if not (isinstance(raw, list) and len(raw) == 5):
        raise Malformed("an entry must be [term, kind, data, origin, n]")
    term, kind, data, origin, n = raw
    if kind not in (r.MSG, r.ACK, r.NOOP):
        raise Malformed(f"entry kind must be msg, ack or noop, not {str(kind)[:20]!r}")
    return r.Entry(
        integer(term, "entry term"),
        kind,
        request_data(kind, data, f"{kind} entry", sequenced=True),
        text(origin, "entry origin"),
        integer(n, "entry n"),
    )


def _entries(f: Fields) -> list[r.Entry]:
    return [entry_from(e) for e in listed(f.get("entries"), "entries", MAX_ENTRIES)]


def _request(value: Any) -> r.Request:
    if not isinstance(value, dict):
        raise Malformed("Forward.request must be an object")
    f = Fields(value, "request")
    kind = f.get("kind")
    if kind not in (r.MSG, r.ACK, r.BARRIER):
        raise Malformed(f"request kind must be msg, ack or barrier, not {str(kind)[:20]!r}")
    data = request_data(kind, f.get("data"), f"{kind} request", sequenced=False)
    f.done()
    return r.Request(kind, data)


def _result(value: Any) -> r.Result:
    if not isinstance(value, dict):
        raise Malformed("ForwardReply.result must be an object")
    f = Fields(value, "result")
    status = f.get("status")
    if status not in _STATUSES:
        raise Malformed(f"result status must be one of {_STATUSES}")
    seq = f.get("seq", None)
    result = r.Result(
        status,
        None if seq is None else integer(seq, "result.seq"),
        f.str("message", MAX_TEXT, ""),
    )
    f.done()
    return result


def _have(value: Any) -> dict[str, int]:
    if not isinstance(value, dict) or len(value) > MAX_HAVE_ORIGINS:
        raise Malformed(f"Pull.have must map at most {MAX_HAVE_ORIGINS} origins to counts")
    return {text(k, "Pull.have origin"): integer(v, "Pull.have count") for k, v in value.items()}


def _finish(f: Fields, msg: r.PeerMessage) -> r.PeerMessage:
    f.done()
    return msg


_DECODERS = {
    r.AppendEntries: lambda f: _finish(
        f,
        r.AppendEntries(
            f.int("term"),
            f.str("leader"),
            f.int("prev_index"),
            f.int("prev_term"),
            _entries(f),
            f.int("commit"),
            f.int("round", 0),
        ),
    ),
    r.AppendReply: lambda f: _finish(
        f,
        r.AppendReply(
            f.int("term"), f.bool("ok"), f.int("match"), f.int("hint"), f.int("round", 0)
        ),
    ),
    r.RequestVote: lambda f: _finish(
        f,
        r.RequestVote(
            f.int("term"),
            f.str("candidate"),
            f.int("last_index"),
            f.int("last_term"),
            f.bool("pre", False),
        ),
    ),
    r.VoteReply: lambda f: _finish(
        f, r.VoteReply(f.int("term"), f.bool("granted"), f.bool("pre", False))
    ),
    r.Forward: lambda f: _finish(f, r.Forward(f.int("fid"), _request(f.get("request")))),
    r.ForwardReply: lambda f: _finish(f, r.ForwardReply(f.int("fid"), _result(f.get("result")))),
    r.Pull: lambda f: _finish(f, r.Pull(_have(f.get("have")))),
    r.Entries: lambda f: _finish(f, r.Entries(_entries(f))),
}
