"""AP replication: every node sequences and stores alone, and nodes exchange what they miss.

``ApReplica.handle(event)`` is a pure state machine like :class:`~replication.Replica`. Each entry
is named by the node that sequenced it (``origin``) and that node's count (``n``); a node holds,
per origin, a contiguous prefix 1..have[origin], so "send me what you hold past ``have``" is the
whole anti-entropy exchange. Every tick a node pulls from each peer; a new local entry is also
pushed at once. What callers may rely on: a send is answered ``ok`` once this node stored it; every
entry reaches every node that can talk (even through third nodes) to its origin; seq numbers are
dense per node but may clash across nodes that were cut off from each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from system_under_test.records import (
    ACK,
    BARRIER,
    MSG,
    Applied,
    ClientOrigin,
    Entries,
    Entry,
    FromPeer,
    LinkState,
    Note,
    Pull,
    ReplyConn,
    Request,
    Respond,
    Result,
    SaveEntries,
    SendPeer,
    Submit,
    Tick,
    fit,
)
from system_under_test.sequencer import Sequencer

MAX_BATCH = 512


class ApReplica:
    """One node's store in AP mode. ``role`` is always primary: each node sequences for itself."""

    role = "primary"

    def __init__(
        self,
        name: str,
        peers: Sequence[str],
        *,
        log: Iterable[Entry] = (),
        pull_interval: float = 0.2,
        bugs: frozenset[str] = frozenset(),
    ) -> None:
        self.name = name
        self.peers = list(peers)
        self.pull_interval = pull_interval
        self.bugs = bugs
        self.term = 0
        self.log: list[Entry] = []
        self.by_origin: dict[str, list[Entry]] = {}
        self.sequencer = Sequencer()
        self.last_pull = -1e9
        for entry in log:
            self._store(entry)

    @property
    def leader(self) -> str:
        return self.name

    @property
    def ready(self) -> bool:
        return True

    @property
    def commit(self) -> int:
        return len(self.log)

    def committed(self) -> list[Entry]:
        return list(self.log)

    def have(self) -> dict[str, int]:
        return {origin: len(entries) for origin, entries in self.by_origin.items()}

    def handle(self, event: Tick | FromPeer | Submit | LinkState) -> list:
        """Apply one event; return the actions to carry out, in order. A link that comes up is
        pulled from at once, so a healed partition is repaired without waiting for a tick."""
        if isinstance(event, Tick):
            return self._tick(event.now)
        if isinstance(event, LinkState):
            return [SendPeer(event.peer, Pull(self.have()))] if event.up else []
        if isinstance(event, Submit):
            if not isinstance(event.origin, ClientOrigin):  # no node forwards in AP mode
                return [Note(f"{self.name}: ignored a forwarded submit in AP mode")]
            return self._submit(event.origin, event.request)
        m = event.msg
        if isinstance(m, Pull):
            reply = Entries(self._missing(m.have))
            return [ReplyConn(event.conn, reply)] if event.conn is not None else []
        if isinstance(m, Entries):
            return self._receive(m.entries)
        return [Note(f"{self.name}: ignored {type(m).__name__} from {event.peer} in AP mode")]

    def _tick(self, now: float) -> list:
        if now - self.last_pull < self.pull_interval:
            return []
        self.last_pull = now
        pull = Pull(self.have())
        return [SendPeer(peer, pull) for peer in self.peers]

    def _submit(self, origin: ClientOrigin, request: Request) -> list:
        if request.kind == BARRIER:
            return [Respond(origin, Result("ok", seq=len(self.log)))]
        if request.kind == MSG:
            placed = self.sequencer.find(request.data["from"], request.data["id"])
            if placed is not None and "no-dedup" not in self.bugs:
                return [Respond(origin, Result("ok", seq=placed.seq))]
            data = {**request.data, "seq": self.sequencer.next_seq(request.data["conv"])}
        elif request.kind == ACK:
            data = dict(request.data)
        else:
            refused = Result("rejected", message=f"unknown request {request.kind!r}")
            return [Respond(origin, refused)]
        mine = self.by_origin.get(self.name, [])
        entry = Entry(0, request.kind, data, origin=self.name, n=len(mine) + 1)
        start = self._store(entry)
        return [
            SaveEntries(start, [entry]),
            Applied([entry]),
            Respond(origin, Result("ok", seq=data.get("seq"))),
            *(SendPeer(peer, Entries([entry])) for peer in self.peers),
        ]

    def _missing(self, have: dict[str, int]) -> list[Entry]:
        out: list[Entry] = []
        for origin, entries in self.by_origin.items():
            out.extend(entries[have.get(origin, 0) : have.get(origin, 0) + MAX_BATCH - len(out)])
            if len(out) >= MAX_BATCH:
                break
        return fit(out)

    def _receive(self, entries: list[Entry]) -> list:
        fresh = []
        start = len(self.log) + 1
        for entry in entries:
            if entry.n == len(self.by_origin.get(entry.origin, ())) + 1:
                self._store(entry)
                fresh.append(entry)
        if not fresh:
            return []
        return [SaveEntries(start, fresh), Applied(fresh)]

    def _store(self, entry: Entry) -> int:
        self.log.append(entry)
        self.by_origin.setdefault(entry.origin, []).append(entry)
        self.sequencer.record(len(self.log), entry)
        return len(self.log)
