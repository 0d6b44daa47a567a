"""CP replication: a compact Raft (epoch = term) as a pure state machine.

``Replica.handle(event)`` takes a :class:`Tick`, :class:`FromPeer` or :class:`Submit` and returns
the actions to carry out, in order: persistence actions come before the messages and answers that
depend on them, so executing them in order keeps "acked means stored by a majority".

What callers may rely on (without bugs):
- one primary per epoch; a replica refuses appends from an older epoch and says its own epoch;
- the primary gives each message the next dense ``seq`` of its conversation when it appends it and
  answers ``ok`` only once a majority (itself included) stored the entry;
- a committed entry is in the log of every later primary (up-to-date vote rule), so it survives
  failover and is never truncated;
- a primary that has not heard from a majority for one election timeout steps down, and a node
  with no primary refuses sends (``rejected``); requests in flight when leadership is lost, or
  forwarded and never answered, end ``indeterminate``;
- a node raises its epoch only after a majority said it would vote for it (PreVote, Raft §9.6):
  a node that cannot reach a majority, or whose log is behind, never raises the epoch of the
  others, so a primary that keeps its majority keeps its office when a partition heals;
- a barrier (``sync``) is answered ``ok`` with an index only once the primary confirmed, by a
  majority answering an append sent after the barrier arrived, that it still held office and had
  committed everything up to that index (Raft's ReadIndex); a node that forwarded it answers once
  it applied that far itself.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from system_under_test.records import (
    ACK,
    BARRIER,
    MSG,
    NOOP,
    AppendEntries,
    AppendReply,
    Applied,
    ClientOrigin,
    Entry,
    Forward,
    ForwardReply,
    FromPeer,
    LinkState,
    Note,
    Origin,
    PeerOrigin,
    ReplyConn,
    Request,
    RequestVote,
    Respond,
    Result,
    SaveCommit,
    SaveEntries,
    SaveMeta,
    SendPeer,
    Submit,
    Tick,
    VoteReply,
    fit,
)
from system_under_test.sequencer import Sequencer

PRIMARY, SECONDARY, CANDIDATE = "primary", "secondary", "candidate"
PRECANDIDATE = "pre-candidate"  # asking for pre-votes; its epoch is not raised yet
MAX_BATCH = 256

NO_PRIMARY = "no primary with a majority is reachable from this node; retry later or elsewhere"
LOST_OFFICE = "the primary lost office before it confirmed the barrier; sync again"
NO_LINK = "this node's link to the primary is down; retry later or elsewhere"


@dataclass(frozen=True)
class Timing:
    """Seconds. Elections fire after a random timeout in [election, 2 * election]."""

    heartbeat: float = 0.1
    election: float = 0.8
    forward: float = 2.5  # a forwarded request nobody answered ends indeterminate after this
    fallback: float = 0.4  # bug no-fencing: ack without a majority after this
    park: float = 1.0  # a request waits this long for the link to the primary to come up


@dataclass
class Read:
    """A barrier waiting at the primary: answered with ``index`` once ``index`` is committed and
    a majority acknowledged an append of a round later than ``round``."""

    index: int
    origin: Origin
    round: int


@dataclass(frozen=True)
class Parked:
    """A request held (never sent) while the link to the primary is down, until ``until``."""

    origin: Origin
    request: Request
    until: float


class Replica:
    """One node's replica of the log. Not thread-safe; holds no I/O."""

    def __init__(
        self,
        name: str,
        peers: Sequence[str],
        *,
        term: int = 0,
        voted_for: str | None = None,
        log: Iterable[Entry] = (),
        commit: int = 0,
        timing: Timing = Timing(),
        bugs: frozenset[str] = frozenset(),
        seed: int = 0,
        now: float = 0.0,
    ) -> None:
        self.name = name
        self.peers = list(peers)
        self.term = term
        self.voted_for = voted_for
        self.log: list[Entry] = list(log)
        self.commit = min(commit, len(self.log))
        self.timing = timing
        self.bugs = bugs
        self.rng = random.Random(f"{seed}:{name}")
        self.role = SECONDARY
        self.leader: str | None = None
        self.heard_leader_at = -1e9
        self.deadline = now + self._election_timeout()
        self.votes: set[str] = set()
        # primary only
        self.noop_index = 0
        self.next_index: dict[str, int] = {}
        self.match: dict[str, int] = {}
        self.last_sent: dict[str, float] = {}
        self.inflight: dict[str, bool] = {}
        self.acked_at: dict[str, float] = {}
        self.round = 0
        self.acked_round: dict[str, int] = {}
        self.reads: list[Read] = []
        self.sequencer = Sequencer()
        self.waiters: dict[int, list[Origin]] = {}
        self.waiting_since: dict[int, float] = {}
        # secondary only: requests forwarded to the primary
        self.forwards: dict[int, tuple[Origin, float, str]] = {}
        self.barriers: list[tuple[int, Origin, float]] = []
        self.unlinked: set[str] = set()
        self.parked: list[Parked] = []
        self.next_fid = 1
        self._out: list = []

    # -- queries -------------------------------------------------------------------------------

    @property
    def last_index(self) -> int:
        return len(self.log)

    def term_at(self, index: int) -> int:
        return self.log[index - 1].term if 0 < index <= len(self.log) else 0

    @property
    def quorum(self) -> int:
        return (len(self.peers) + 1) // 2 + 1

    def committed(self) -> list[Entry]:
        return self.log[: self.commit]

    @property
    def ready(self) -> bool:
        """True when this node knows a primary (itself or a peer) of the current epoch."""
        return self.leader is not None

    # -- entry point -----------------------------------------------------------------------------

    def handle(self, event: Tick | FromPeer | Submit | LinkState) -> list:
        """Apply one event; return the actions to carry out, in order."""
        self._out = []
        if isinstance(event, Tick):
            self._tick(event.now)
        elif isinstance(event, LinkState):
            if event.up:
                self.unlinked.discard(event.peer)
            else:
                self.unlinked.add(event.peer)
            self._retry_parked(event.now)
        elif isinstance(event, Submit):
            self._submit(event.now, event.origin, event.request)
        else:
            self._from_peer(event)
        out, self._out = self._out, []
        return out

    # -- time ------------------------------------------------------------------------------------

    def _election_timeout(self) -> float:
        return self.timing.election * (1 + self.rng.random())

    def _tick(self, now: float) -> None:
        silent = Result("indeterminate", message="the primary did not answer")
        for fid, (origin, deadline, _) in list(self.forwards.items()):
            if now >= deadline:
                del self.forwards[fid]
                self._respond(origin, silent)
        for barrier in [b for b in self.barriers if now >= b[2]]:
            self.barriers.remove(barrier)
            self._respond(barrier[1], silent)
        self._retry_parked(now)
        if self.role == PRIMARY:
            if "no-fencing" in self.bugs:
                self._fallback_commit(now)
            elif now - self._majority_contact() > self.timing.election:
                self._note(f"primary lost its majority in epoch {self.term}; stepping down")
                self._become_secondary(now, leader=None)
                return
            for peer in self.peers:
                self._replicate(peer, now)
        elif now >= self.deadline:
            self._start_prevote(now)

    def _majority_contact(self) -> float:
        """The latest time by which a majority (this node included) had answered."""
        need = self.quorum - 1
        if need <= 0:
            return float("inf")
        times = sorted((self.acked_at.get(p, -1e9) for p in self.peers), reverse=True)
        return times[need - 1]

    # -- elections -------------------------------------------------------------------------------

    def _set_term(self, term: int, voted_for: str | None) -> None:
        self.term, self.voted_for = term, voted_for
        self._out.append(SaveMeta(term, voted_for))

    def _start_prevote(self, now: float) -> None:
        """Ask the peers whether they would vote for this node in the next epoch; the epoch
        rises (:meth:`_start_election`) only once a majority said yes."""
        self.role, self.leader, self.votes = PRECANDIDATE, None, {self.name}
        self.deadline = now + self._election_timeout()
        if len(self.votes) >= self.quorum:
            self._start_election(now)
            return
        last = (self.last_index, self.term_at(self.last_index))
        ask = RequestVote(self.term + 1, self.name, *last, pre=True)
        for peer in self.peers:
            self._out.append(SendPeer(peer, ask))

    def _start_election(self, now: float) -> None:
        self._fail_waiters()
        self._set_term(self.term + 1, self.name)
        self.role, self.leader, self.votes = CANDIDATE, None, {self.name}
        self.deadline = now + self._election_timeout()
        self._note(f"election for epoch {self.term}")
        if len(self.votes) >= self.quorum:
            self._become_primary(now)
            return
        vote = RequestVote(self.term, self.name, self.last_index, self.term_at(self.last_index))
        for peer in self.peers:
            self._out.append(SendPeer(peer, vote))

    def _become_primary(self, now: float) -> None:
        self.role, self.leader = PRIMARY, self.name
        self._note(f"primary of epoch {self.term}")
        self.next_index = {p: self.last_index + 1 for p in self.peers}
        self.match = {p: 0 for p in self.peers}
        self.last_sent = {p: -1e9 for p in self.peers}
        self.inflight = {p: False for p in self.peers}
        self.acked_at = {p: now for p in self.peers}
        self.acked_round = {p: 0 for p in self.peers}
        self.sequencer = Sequencer.from_log(enumerate(self.log, start=1))
        self.noop_index = self._append(now, Entry(self.term, NOOP, {}))
        for peer in self.peers:
            self._replicate(peer, now, force=True)
        self._advance_commit()

    def _become_secondary(self, now: float, leader: str | None) -> None:
        """Follow ``leader`` (None: not known yet). The election timer restarts only when a primary
        is heard from or this node leaves office, so a newer epoch alone does not hold it back."""
        was_primary = self.role == PRIMARY
        if was_primary:
            self._fail_waiters()
        self.role, self.leader = SECONDARY, leader
        if leader is not None or was_primary:
            self.deadline = now + self._election_timeout()
        if leader is not None:
            self.heard_leader_at = now

    def _adopt_term(self, now: float, term: int) -> None:
        self._set_term(term, None)
        self._become_secondary(now, leader=None)

    def _fail_waiters(self) -> None:
        lost = Result("indeterminate", message="primary lost office before a majority stored it")
        for origins in self.waiters.values():
            for origin in origins:
                self._respond(origin, lost)
        self.waiters.clear()
        self.waiting_since.clear()
        for read in self.reads:
            self._respond(read.origin, Result("rejected", message=LOST_OFFICE))
        self.reads.clear()

    def _in_lease(self, now: float, candidate: str) -> bool:
        """True while this node is primary, or heard its primary (not ``candidate``) within one
        election timeout: it then refuses votes and pre-votes, so a node that rejoins cannot
        depose a primary that still has its majority."""
        if self.role == PRIMARY:
            return True
        heard = self.leader is not None and now - self.heard_leader_at < self.timing.election
        return heard and self.leader != candidate

    def _log_is_behind(self, m: RequestVote) -> bool:
        """True when the candidate's log is less up to date than this node's (Raft §5.4.1)."""
        mine = (self.term_at(self.last_index), self.last_index)
        return (m.last_term, m.last_index) < mine

    def _on_vote_request(self, now: float, m: RequestVote, conn: int | None) -> None:
        if m.pre:
            granted = m.term > self.term and not (
                self._in_lease(now, m.candidate) or self._log_is_behind(m)
            )
            self._reply(conn, VoteReply(m.term if granted else self.term, granted, pre=True))
            return
        if self._in_lease(now, m.candidate):
            self._reply(conn, VoteReply(self.term, False))
            return
        if m.term > self.term:
            self._adopt_term(now, m.term)
        granted = (
            m.term == self.term
            and self.voted_for in (None, m.candidate)
            and not self._log_is_behind(m)
        )
        if granted:
            if self.voted_for is None:
                self._set_term(self.term, m.candidate)
            self.deadline = now + self._election_timeout()
        self._reply(conn, VoteReply(self.term, granted))

    def _on_vote_reply(self, now: float, peer: str, m: VoteReply) -> None:
        if m.pre:
            self._on_prevote_reply(now, peer, m)
            return
        if m.term > self.term:
            self._adopt_term(now, m.term)
            return
        if self.role == CANDIDATE and m.term == self.term and m.granted:
            self.votes.add(peer)
            if len(self.votes) >= self.quorum:
                self._become_primary(now)

    def _on_prevote_reply(self, now: float, peer: str, m: VoteReply) -> None:
        if m.granted:
            if self.role == PRECANDIDATE and m.term == self.term + 1:
                self.votes.add(peer)
                if len(self.votes) >= self.quorum:
                    self._start_election(now)
        elif m.term > self.term:
            self._adopt_term(now, m.term)

    # -- replication -----------------------------------------------------------------------------

    def _replicate(self, peer: str, now: float, force: bool = False) -> None:
        """Send ``peer`` what it lacks, or a heartbeat; one batch in flight per heartbeat."""
        nxt = self.next_index[peer]
        lazy = "ack-before-replicate" in self.bugs
        has_work = nxt <= self.last_index or self.match[peer] < self.commit
        due = now - self.last_sent[peer] >= self.timing.heartbeat
        if not (force or due or (has_work and not self.inflight[peer] and not lazy)):
            return
        entries = fit(self.log[nxt - 1 : nxt - 1 + MAX_BATCH])
        prev = nxt - 1
        self.round += 1
        msg = AppendEntries(
            self.term, self.name, prev, self.term_at(prev), entries, self.commit, self.round
        )
        self.last_sent[peer], self.inflight[peer] = now, True
        self._out.append(SendPeer(peer, msg))

    def _on_append(self, now: float, m: AppendEntries, conn: int | None) -> None:
        stale = m.term < self.term
        if stale and ("no-fencing" not in self.bugs or self.role == PRIMARY):
            self._reply(conn, AppendReply(self.term, False, 0, 0, m.round))
            return
        if m.term > self.term:
            self._set_term(m.term, None)
        if m.term >= self.term:
            self._become_secondary(now, leader=m.leader)
        if m.prev_index > self.last_index:
            self._reply(conn, AppendReply(self.term, False, 0, self.last_index + 1, m.round))
            return
        if m.prev_index > 0 and self.term_at(m.prev_index) != m.prev_term:
            hint = self._first_of_term(m.prev_index)
            self._reply(conn, AppendReply(self.term, False, 0, hint, m.round))
            return
        start = None
        for offset, entry in enumerate(m.entries):
            index = m.prev_index + 1 + offset
            if index <= self.last_index and self.term_at(index) == entry.term:
                continue
            start = index
            break
        if start is not None:
            if start <= self.last_index:
                self._truncate(start)
            fresh = m.entries[start - m.prev_index - 1 :]
            self.log.extend(fresh)
            self._out.append(SaveEntries(start, list(fresh)))
        last_new = m.prev_index + len(m.entries)
        if m.commit > self.commit:
            self._commit_to(min(m.commit, last_new))
        self._reply(conn, AppendReply(self.term, True, last_new, 0, m.round))

    def _first_of_term(self, index: int) -> int:
        term = self.term_at(index)
        while index > 1 and self.term_at(index - 1) == term and index - 1 > self.commit:
            index -= 1
        return index

    def _truncate(self, start: int) -> None:
        if start <= self.commit:
            # Only reachable with a bug (a stale primary committed on its own): the view keeps what
            # it delivered, the log follows the current primary.
            self._note(f"truncating committed entries from {start} (commit was {self.commit})")
            self.commit = start - 1
            self._out.append(SaveCommit(self.commit))
        else:
            self._note(f"dropping uncommitted entries from index {start}")
        del self.log[start - 1 :]

    def _on_append_reply(self, now: float, peer: str, m: AppendReply) -> None:
        if m.term > self.term:
            self._adopt_term(now, m.term)
            return
        if self.role != PRIMARY or m.term != self.term:
            return
        self.acked_at[peer], self.inflight[peer] = now, False
        self.acked_round[peer] = max(self.acked_round[peer], m.round)
        self._answer_reads()
        if m.ok:
            self.match[peer] = max(self.match[peer], m.match)
            self.next_index[peer] = max(self.next_index[peer], m.match + 1)
            self._advance_commit()
        else:
            self.next_index[peer] = max(self.match[peer] + 1, min(m.hint, self.last_index + 1))
        if "ack-before-replicate" not in self.bugs:
            self._replicate(peer, now)

    def _advance_commit(self) -> None:
        """Commit up to the highest index a majority stored, if it is of this epoch (Raft §5.4.2).
        Terms never decrease along the log, so no lower index of this epoch is missed; the cost
        is one sort of the peers, not a scan of every uncommitted entry."""
        index = self.last_index
        if self.quorum > 1:
            stored = sorted((self.match[p] for p in self.peers), reverse=True)
            index = min(index, stored[self.quorum - 2])
        if index > self.commit and self.term_at(index) == self.term:
            self._commit_to(index)

    def _commit_to(self, index: int) -> None:
        if index <= self.commit:
            return
        first = self.commit
        self.commit = index
        self._out.append(SaveCommit(index))
        self._out.append(Applied(self.log[first:index]))
        for i in range(first + 1, index + 1):
            for origin in self.waiters.pop(i, ()):
                self._respond(origin, Result("ok", seq=self.log[i - 1].data.get("seq")))
            self.waiting_since.pop(i, None)
        for barrier in [b for b in self.barriers if b[0] <= index]:
            self.barriers.remove(barrier)
            self._respond(barrier[1], Result("ok", seq=barrier[0]))
        self._answer_reads()

    def _confirmed_round(self) -> int:
        """The latest round of appends that a majority (this node included) acknowledged."""
        need = self.quorum - 1
        if need <= 0:
            return self.round + 1
        return sorted((self.acked_round.get(p, 0) for p in self.peers), reverse=True)[need - 1]

    def _answer_reads(self) -> None:
        if self.role != PRIMARY or not self.reads:
            return
        confirmed = self._confirmed_round()
        done = [r for r in self.reads if r.round < confirmed and r.index <= self.commit]
        for read in done:
            self.reads.remove(read)
            self._respond(read.origin, Result("ok", seq=read.index))

    def _fallback_commit(self, now: float) -> None:
        """Bug no-fencing: like semi-sync replication falling back to async, commit alone."""
        late = [i for i, since in self.waiting_since.items() if now - since >= self.timing.fallback]
        if late:
            self._commit_to(max(late))

    # -- client requests -------------------------------------------------------------------------

    def _submit(self, now: float, origin: Origin, request: Request) -> None:
        if self.role == PRIMARY:
            self._accept(now, origin, request)
        elif self._primary_unlinked():
            self.parked.append(Parked(origin, request, now + self.timing.park))
        elif self.leader is not None:
            fid, self.next_fid = self.next_fid, self.next_fid + 1
            self.forwards[fid] = (origin, now + self.timing.forward, request.kind)
            self._out.append(SendPeer(self.leader, Forward(fid, request)))
        else:
            self._respond(origin, Result("rejected", message=NO_PRIMARY))

    def _primary_unlinked(self) -> bool:
        return self.role != PRIMARY and self.leader is not None and self.leader in self.unlinked

    def _retry_parked(self, now: float) -> None:
        """Send parked requests once the primary is reachable (or known to be gone); refuse
        those whose time ran out: they were never sent, so they certainly did not happen."""
        parked, self.parked = self.parked, []
        for p in parked:
            if not self._primary_unlinked():
                self._submit(now, p.origin, p.request)
            elif now >= p.until:
                self._respond(p.origin, Result("rejected", message=NO_LINK))
            else:
                self.parked.append(p)

    def _accept(self, now: float, origin: Origin, request: Request) -> None:
        if request.kind == BARRIER:
            self._read_barrier(now, origin)
            return
        if request.kind == MSG:
            placed = self.sequencer.find(request.data["from"], request.data["id"])
            if placed is not None and "no-dedup" not in self.bugs:
                if placed.index <= self.commit:
                    self._respond(origin, Result("ok", seq=placed.seq))
                else:
                    self.waiters.setdefault(placed.index, []).append(origin)
                return
            data = {**request.data, "seq": self.sequencer.next_seq(request.data["conv"])}
        elif request.kind == ACK:
            data = dict(request.data)
        else:
            self._respond(origin, Result("rejected", message=f"unknown request {request.kind!r}"))
            return
        index = self._append(now, Entry(self.term, request.kind, data))
        if "ack-before-replicate" in self.bugs:
            self._respond(origin, Result("ok", seq=data.get("seq")))
        else:
            self.waiters.setdefault(index, []).append(origin)
            self.waiting_since[index] = now
        for peer in self.peers:
            self._replicate(peer, now)
        if self.quorum == 1:  # otherwise no peer holds the new entry yet: replies commit it
            self._advance_commit()

    def _read_barrier(self, now: float, origin: Origin) -> None:
        """Answer once office is confirmed after now and everything committed before is
        committed here too (the epoch's first entry, which follows all earlier ones)."""
        if "no-fencing" in self.bugs:
            self._respond(origin, Result("ok", seq=self.commit))
            return
        self.reads.append(Read(max(self.commit, self.noop_index), origin, self.round))
        for peer in self.peers:
            self._replicate(peer, now, force=True)
        self._answer_reads()

    def _append(self, now: float, entry: Entry) -> int:
        self.log.append(entry)
        index = self.last_index
        self.sequencer.record(index, entry)
        self._out.append(SaveEntries(index, [entry]))
        return index

    def _on_forward(self, now: float, m: Forward, conn: int | None) -> None:
        if self.role != PRIMARY or conn is None:
            self._reply(conn, ForwardReply(m.fid, Result("rejected", message=NO_PRIMARY)))
            return
        self._accept(now, PeerOrigin(conn, m.fid), m.request)

    def _on_forward_reply(self, m: ForwardReply) -> None:
        pending = self.forwards.pop(m.fid, None)
        if pending is None:
            return
        origin, deadline, kind = pending
        if kind == BARRIER and m.result.status == "ok" and (m.result.seq or 0) > self.commit:
            self.barriers.append((m.result.seq or 0, origin, deadline))
        else:
            self._respond(origin, m.result)

    # -- plumbing --------------------------------------------------------------------------------

    def _from_peer(self, ev: FromPeer) -> None:
        m = ev.msg
        if isinstance(m, AppendEntries):
            self._on_append(ev.now, m, ev.conn)
        elif isinstance(m, AppendReply):
            self._on_append_reply(ev.now, ev.peer, m)
        elif isinstance(m, RequestVote):
            self._on_vote_request(ev.now, m, ev.conn)
        elif isinstance(m, VoteReply):
            self._on_vote_reply(ev.now, ev.peer, m)
        elif isinstance(m, Forward):
            self._on_forward(ev.now, m, ev.conn)
        elif isinstance(m, ForwardReply):
            self._on_forward_reply(m)
        else:
            self._note(f"ignored {type(m).__name__} from {ev.peer}: not a CP message")

    def _reply(self, conn: int | None, msg) -> None:
        if conn is not None:
            self._out.append(ReplyConn(conn, msg))

    def _respond(self, origin: Origin, result: Result) -> None:
        if isinstance(origin, PeerOrigin):
            self._out.append(ReplyConn(origin.conn, ForwardReply(origin.fid, result)))
        elif isinstance(origin, ClientOrigin):
            self._out.append(Respond(origin, result))

    def _note(self, text: str) -> None:
        self._out.append(Note(f"{self.name}: {text}"))
