"""One node's whole behaviour as a pure state machine: the gateway wired to the replica.

``NodeCore.handle(event)`` routes an event to the gateway or the replica, feeds what one produces
for the other back in (requests to replicate, applied entries, answers) and returns only the
actions that need I/O: :class:`ToClient`, :class:`CloseClient`, :class:`Log`, :class:`SendPeer`,
:class:`ReplyConn`, :class:`SaveMeta`, :class:`SaveEntries`, :class:`SaveCommit`, in the order they
must happen.
"""

from __future__ import annotations

from collections import deque

from system_under_test.antientropy import ApReplica
from system_under_test.gateway import (
    Ask,
    ClientFrame,
    Closed,
    Drained,
    Gateway,
    Log,
    Opened,
    refuse_request,
)
from system_under_test.records import (
    Applied,
    Forward,
    ForwardReply,
    FromPeer,
    LinkState,
    Note,
    ReplyConn,
    Respond,
    Result,
    Submit,
    Tick,
)
from system_under_test.replication import Replica

BUGS = {
    "ack-before-replicate": "CP primary acks a send once it stored it alone and replicates lazily: "
    "acked sends vanish when the primary is killed (lost)",
    "no-dedup": "a retried send (same sender and client id) is stored again under a new seq: "
    "duplicated and seq-conflict when a client retries after a lost ack",
    "no-fencing": "a CP primary cut from its majority keeps acking alone and replicas take appends "
    "from older epochs: seq-conflict, lost and order-divergence when the primary is isolated",
    "ack-before-fsync": "every node's store commits without fsync (SQLite synchronous=OFF): "
    "acked sends vanish when a power loss hits a majority (lost)",
    "unordered-backlog": "the offline backlog is pushed newest first: fifo-violation and "
    "order-divergence for recipients that were offline",
}


class NodeCore:
    """Gateway + replica of one node. Not thread-safe; holds no I/O."""

    def __init__(self, gateway: Gateway, replica: Replica | ApReplica) -> None:
        self.gateway = gateway
        self.replica = replica
        self.now = 0.0
        self.gateway.handle(Applied(replica.committed()))

    def handle(
        self,
        event: Tick | FromPeer | LinkState | Opened | ClientFrame | Closed | Drained,
        now: float,
    ) -> list:
        """Apply one event that happened at ``now``; return the I/O actions, in order."""
        self.now = now
        if isinstance(event, FromPeer) and isinstance(event.msg, Forward):
            refused = refuse_request(self.gateway.directory, event.msg.request)
            if refused is not None:
                answer = ForwardReply(event.msg.fid, Result("rejected", message=refused))
                text = f"forward {event.msg.fid} from {event.peer} refused: {refused}"
                out: list = [Log("error", text)]
                if event.conn is not None:
                    out.append(ReplyConn(event.conn, answer))
                return out
        target = "r" if isinstance(event, Tick | FromPeer | LinkState) else "g"
        pending: deque = deque([(target, event)])
        if isinstance(event, Tick):
            pending.append(("g", event))  # the gateway retries its sessions' failed barriers
        out = []
        while pending:
            target, ev = pending.popleft()
            actions = self.replica.handle(ev) if target == "r" else self.gateway.handle(ev)
            for action in actions:
                if isinstance(action, Ask):
                    pending.append(("r", Submit(self.now, action.origin, action.request)))
                elif isinstance(action, Applied | Respond):
                    pending.append(("g", action))
                elif isinstance(action, Note):
                    out.append(Log("info", action.text))
                else:
                    out.append(action)
        return out

    def status(self) -> dict:
        """The JSON of ``GET /status``."""
        r = self.replica
        return {
            "node": self.gateway.node,
            "mode": self.gateway.mode,
            "role": r.role,
            "epoch": r.term,
            "primary": r.leader,
            "ready": r.ready,
            "commit": r.commit,
            "last_index": len(r.log),
            "clients": len(self.gateway.sessions),
        }
