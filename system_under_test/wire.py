"""Peer messages to bytes and back (orjson). Decoding raises ValueError on anything malformed.

A peer frame holds one message (a JSON object) or, when a node had several for the same link in
one turn of its event loop, a batch of them in order (a JSON array of those objects): one frame
and one write instead of many. :func:`decode_frame` reads either.
"""

from __future__ import annotations

from typing import Any

import orjson

from system_under_test import records as r

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


def _entry(e: r.Entry) -> list:
    return [e.term, e.kind, e.data, e.origin, e.n]


def entry_from(raw: list) -> r.Entry:
    term, kind, data, origin, n = raw
    return r.Entry(int(term), str(kind), dict(data), str(origin), int(n))


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
    """One frame carrying messages made by :func:`encode`, in order."""
    return encoded[0] if len(encoded) == 1 else b"[" + b",".join(encoded) + b"]"


def decode(data: bytes | str) -> r.PeerMessage:
    try:
        return _message(orjson.loads(data))
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"malformed peer message: {exc}") from None


def decode_frame(data: bytes | str) -> list[r.PeerMessage]:
    """The messages of one frame (one message, or a :func:`batch`); ValueError when any part is
    malformed, so a frame is taken whole or not at all."""
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"malformed peer message: {exc}") from None
    return [_message(f) for f in parsed] if isinstance(parsed, list) else [_message(parsed)]


def _message(fields: Any) -> r.PeerMessage:
    try:
        cls = _TYPES[fields.pop("t")]
        if "entries" in fields:
            fields["entries"] = [entry_from(e) for e in fields["entries"]]
        if "request" in fields:
            fields["request"] = r.Request(**fields["request"])
        if "result" in fields:
            fields["result"] = r.Result(**fields["result"])
        return cls(**fields)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"malformed peer message: {exc}") from None
