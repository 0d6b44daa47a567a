"""Records shared by the node's state machines: log entries, peer messages, requests, results.

Everything here is plain data; :mod:`system_under_test.wire` turns peer messages into bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

MSG = "msg"  # data: id, conv, from, seq, bodies {recipient: base64 ciphertext}; never a digest
ACK = "ack"  # data: user, ids (the [sender, id] keys of the messages acknowledged)
NOOP = "noop"  # a new primary's first entry, which commits what earlier epochs left
BARRIER = "barrier"  # not stored: answered once this node applied all the primary had committed


@dataclass(frozen=True, slots=True)
class Entry:
    """One replicated log entry. In AP mode ``origin``/``n`` name the node that sequenced it."""

    term: int
    kind: str
    data: dict[str, Any]
    origin: str = ""
    n: int = 0


MAX_BATCH_BYTES = 8 * 1024 * 1024  # entries per peer message, well under the peer frame limit


def entry_size(entry: Entry) -> int:
    """About how many bytes ``entry`` takes on the wire (its bodies dominate)."""
    bodies = entry.data.get("bodies")
    return 200 + (sum(len(b) + len(u) for u, b in bodies.items()) if bodies else 0)


def fit(entries: list[Entry], limit: int = MAX_BATCH_BYTES) -> list[Entry]:
    """The longest prefix of ``entries`` within ``limit`` bytes, and never empty when
    ``entries`` is not (one entry is at most a client frame, far below the peer limit)."""
    total = 0
    for i, entry in enumerate(entries):
        total += entry_size(entry)
        if total > limit and i > 0:
            return entries[:i]
    return entries


@dataclass(frozen=True, slots=True)
class Request:
    """What a client asks the cluster to store: a message (no seq yet) or acks."""

    kind: str  # MSG or ACK
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Result:
    """The answer to a request. ``rejected`` is definite (not stored); ``indeterminate`` is not."""

    status: Literal["ok", "rejected", "indeterminate"]
    seq: int | None = None
    message: str = ""


@dataclass(frozen=True, slots=True)
class ClientOrigin:
    """A request that came from a client session of this node."""

    sid: int
    req: int | None
    ids: tuple[tuple[str, str], ...] = ()  # an ack's [sender, id] keys
    kind: str = "send"  # "send" | "ack" | "sync"


@dataclass(frozen=True, slots=True)
class PeerOrigin:
    """A request forwarded by a peer on connection ``conn`` under its forward id ``fid``."""

    conn: int
    fid: int


Origin = ClientOrigin | PeerOrigin


# Peer messages. Requests travel on the sender's own dialed link; replies come back on it.
@dataclass(frozen=True, slots=True)
class AppendEntries:
    term: int
    leader: str
    prev_index: int
    prev_term: int
    entries: list[Entry]
    commit: int
    round: int = 0  # the primary's count of appends sent; the reply echoes it


@dataclass(frozen=True, slots=True)
class AppendReply:
    term: int
    ok: bool
    match: int  # on ok: the follower's log matches the leader's up to here
    hint: int  # on refusal: the index the leader should send from next
    round: int = 0  # the round of the AppendEntries this answers


@dataclass(frozen=True, slots=True)
class RequestVote:
    """A vote request; ``pre``: only asks whether a vote would be granted for ``term``
    (Raft's PreVote), which changes nothing at the receiver."""

    term: int
    candidate: str
    last_index: int
    last_term: int
    pre: bool = False


@dataclass(frozen=True, slots=True)
class VoteReply:
    """``term`` is the voter's epoch, or on a granted pre-vote the epoch it was asked about."""

    term: int
    granted: bool
    pre: bool = False


@dataclass(frozen=True, slots=True)
class Forward:
    fid: int
    request: Request


@dataclass(frozen=True, slots=True)
class ForwardReply:
    fid: int
    result: Result


@dataclass(frozen=True, slots=True)
class Pull:
    """AP anti-entropy: "send me what you hold past these per-origin counts"."""

    have: dict[str, int]


@dataclass(frozen=True, slots=True)
class Entries:
    """AP anti-entropy: entries in per-origin order (a reply to Pull, or pushed eagerly)."""

    entries: list[Entry] = field(default_factory=list)


PeerMessage = (
    AppendEntries | AppendReply | RequestVote | VoteReply | Forward | ForwardReply | Pull | Entries
)


# Events and actions of the replication state machines (CP and AP share them).
@dataclass(frozen=True, slots=True)
class Tick:
    now: float


@dataclass(frozen=True, slots=True)
class FromPeer:
    now: float
    peer: str
    msg: PeerMessage
    conn: int | None  # inbound connection to reply on; None when it came on our dialed link


@dataclass(frozen=True, slots=True)
class LinkState:
    """This node's dialed link to ``peer`` came up or went down: while down, requests to ``peer``
    (:class:`SendPeer`) are dropped."""

    now: float
    peer: str
    up: bool


@dataclass(frozen=True, slots=True)
class Submit:
    now: float
    origin: Origin
    request: Request


@dataclass(frozen=True, slots=True)
class SendPeer:
    """Send a request to ``peer`` on this node's own dialed link (dropped if the link is down)."""

    peer: str
    msg: PeerMessage


@dataclass(frozen=True, slots=True)
class ReplyConn:
    """Answer on the inbound connection a peer's request came on."""

    conn: int
    msg: PeerMessage


@dataclass(frozen=True, slots=True)
class SaveMeta:
    term: int
    voted_for: str | None


@dataclass(frozen=True, slots=True)
class SaveEntries:
    """Drop every stored entry from ``start`` on, then store ``entries`` at start, start+1, ..."""

    start: int
    entries: list[Entry]


@dataclass(frozen=True, slots=True)
class SaveCommit:
    index: int


@dataclass(frozen=True, slots=True)
class Applied:
    """Entries newly committed, in log order: the node's message view takes them in."""

    entries: list[Entry]


@dataclass(frozen=True, slots=True)
class Respond:
    origin: ClientOrigin
    result: Result


@dataclass(frozen=True, slots=True)
class Note:
    """Something worth a log line (elections, step-downs, truncations)."""

    text: str
