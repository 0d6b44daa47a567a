"""Peer messages to bytes and back (orjson). Decoding raises ValueError on anything malformed."""

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


def decode(data: bytes | str) -> r.PeerMessage:
    try:
        fields = orjson.loads(data)
        cls = _TYPES[fields.pop("t")]
        if "entries" in fields:
            fields["entries"] = [entry_from(e) for e in fields["entries"]]
        if "request" in fields:
            fields["request"] = r.Request(**fields["request"])
        if "result" in fields:
            fields["result"] = r.Result(**fields["result"])
        return cls(**fields)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"malformed peer message: {exc}") from None
