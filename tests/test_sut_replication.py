"""The CP replication state machine, driven directly: scenarios and a Hypothesis state machine.

A small simulated network carries the Replica's actions between replicas: links can be cut in one
direction, messages dropped or delivered in any order, replicas crashed (losing all but what they
saved) and restarted from their saved state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from system_under_test.records import (
    BARRIER,
    MSG,
    AppendEntries,
    AppendReply,
    Applied,
    ClientOrigin,
    Entry,
    Forward,
    FromPeer,
    LinkState,
    Note,
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
)
from system_under_test.replication import PRECANDIDATE, PRIMARY, Replica, Timing


@dataclass
class Disk:
    term: int = 0
    voted_for: str | None = None
    log: list[Entry] = field(default_factory=list)
    commit: int = 0


@dataclass
class Wire:
    src: str
    dst: str
    msg: object
    reply: bool  # a reply travels back on the connection the request came on


class Sim:
    """Replicas n1..nN on a simulated network, with a shared clock."""

    def __init__(self, n: int = 3, bugs: frozenset[str] = frozenset(), seed: int = 0) -> None:
        self.names = [f"n{i + 1}" for i in range(n)]
        self.bugs, self.seed = bugs, seed
        self.now = 0.0
        self.disk = {name: Disk() for name in self.names}
        self.nodes: dict[str, Replica] = {}
        self.net: list[Wire] = []
        self.cut: set[tuple[str, str]] = set()
        self.results: dict[int, Result] = {}
        self.next_req = 1
        for name in self.names:
            self.start(name)

    def start(self, name: str) -> None:
        d = self.disk[name]
        peers = [p for p in self.names if p != name]
        self.nodes[name] = Replica(
            name, peers, term=d.term, voted_for=d.voted_for, log=list(d.log), commit=d.commit,
            timing=Timing(), bugs=self.bugs, seed=self.seed, now=self.now,
        )  # fmt: skip

    def crash(self, name: str) -> None:
        self.nodes.pop(name, None)
        self.net = [w for w in self.net if name not in (w.src, w.dst)]

    def conn(self, src: str, dst: str) -> int:
        return self.names.index(src) * 100 + self.names.index(dst)

    def pair(self, conn: int) -> tuple[str, str]:
        return self.names[conn // 100], self.names[conn % 100]

    def run_actions(self, name: str, actions: list) -> None:
        d = self.disk[name]
        for a in actions:
            if isinstance(a, SendPeer):
                self.net.append(Wire(name, a.peer, a.msg, reply=False))
            elif isinstance(a, ReplyConn):
                requester, _ = self.pair(a.conn)
                self.net.append(Wire(name, requester, a.msg, reply=True))
            elif isinstance(a, SaveMeta):
                d.term, d.voted_for = a.term, a.voted_for
            elif isinstance(a, SaveEntries):
                d.log[a.start - 1 :] = a.entries
            elif isinstance(a, SaveCommit):
                d.commit = a.index
            elif isinstance(a, Respond):
                self.results[a.origin.req] = a.result
            elif isinstance(a, Applied):
                # what the node's message view takes in is the saved log up to the saved commit
                assert a.entries == d.log[d.commit - len(a.entries) : d.commit], (name, a)
            else:
                assert isinstance(a, Note), f"{name} asked for an action the sim ignores: {a!r}"

    def deliver(self, i: int) -> None:
        w = self.net.pop(i)
        if (w.src, w.dst) in self.cut or w.dst not in self.nodes:
            return
        conn = None if w.reply else self.conn(w.src, w.dst)
        event = FromPeer(self.now, w.src, w.msg, conn)
        self.run_actions(w.dst, self.nodes[w.dst].handle(event))

    def tick(self, dt: float) -> None:
        self.now += dt
        for name, node in list(self.nodes.items()):
            self.run_actions(name, node.handle(Tick(self.now)))

    def flush(self) -> None:
        for _ in range(1000):
            if not self.net:
                return
            self.deliver(0)

    def run(self, seconds: float, dt: float = 0.05) -> None:
        for _ in range(round(seconds / dt)):
            self.tick(dt)
            self.flush()

    def submit(self, name: str, msg_id: str, conv: str = "g1") -> int:
        req, self.next_req = self.next_req, self.next_req + 1
        request = Request(MSG, {"id": msg_id, "conv": conv, "from": "u1", "bodies": {}})
        event = Submit(self.now, ClientOrigin(0, req), request)
        self.run_actions(name, self.nodes[name].handle(event))
        self.flush()
        return req

    def barrier(self, name: str) -> int:
        """Submit a sync barrier at ``name``; its result lands in ``results`` like a send's."""
        req, self.next_req = self.next_req, self.next_req + 1
        event = Submit(self.now, ClientOrigin(0, req, (), "sync"), Request(BARRIER, {}))
        self.run_actions(name, self.nodes[name].handle(event))
        self.flush()
        return req

    def link(self, name: str, peer: str, up: bool) -> None:
        """Tell ``name`` its dialed link to ``peer`` went up or down (it parks, never drops)."""
        self.run_actions(name, self.nodes[name].handle(LinkState(self.now, peer, up)))

    def isolate(self, name: str) -> None:
        for other in self.names:
            if other != name:
                self.cut |= {(name, other), (other, name)}

    def primary(self) -> str | None:
        found = [n for n, r in self.nodes.items() if r.role == PRIMARY]
        return found[0] if len(found) == 1 else None

    def max_commit(self) -> int:
        return max(d.commit for d in self.disk.values())

    def committed_msgs(self, name: str) -> list[Entry]:
        d = self.disk[name]
        return [e for e in d.log[: d.commit] if e.kind == MSG]

    # -- properties ------------------------------------------------------------------------------

    def seq_conflicts(self) -> list[tuple[str, int]]:
        """(conv, seq) places that hold two different message ids across committed logs."""
        seen: dict[tuple[str, int], str] = {}
        bad = []
        for name in self.names:
            for e in self.committed_msgs(name):
                key = (e.data["conv"], e.data["seq"])
                if seen.setdefault(key, e.data["id"]) != e.data["id"]:
                    bad.append(key)
        return bad

    def missing_acked(self, acked: dict[str, int], name: str) -> list[str]:
        """Acked message ids (with their seq) absent from ``name``'s log."""
        have = {(e.data["id"], e.data["seq"]) for e in self.disk[name].log if e.kind == MSG}
        return [i for i, seq in acked.items() if (i, seq) not in have]


def settle(sim: Sim) -> str:
    sim.run(4.0)
    primary = sim.primary()
    assert primary is not None, "no primary after 4 s of a healthy network"
    return primary


# -- scenarios --------------------------------------------------------------------------------


def test_elects_one_primary_and_commits_with_dense_seq():
    sim = Sim()
    primary = settle(sim)
    reqs = [sim.submit(primary, f"m{i}") for i in range(3)]
    sim.run(0.3)
    assert [sim.results[r].seq for r in reqs] == [1, 2, 3]
    for name in sim.names:
        assert [e.data["seq"] for e in sim.committed_msgs(name)] == [1, 2, 3]


def test_secondary_forwards_to_primary_and_retry_is_deduplicated():
    sim = Sim()
    primary = settle(sim)
    other = next(n for n in sim.names if n != primary)
    first, retry = sim.submit(other, "m1"), sim.submit(other, "m1")
    sim.run(0.3)
    assert sim.results[first] == sim.results[retry] == Result("ok", seq=1)
    assert len(sim.committed_msgs(primary)) == 1


def test_no_dedup_bug_stores_a_retry_twice():
    sim = Sim(bugs=frozenset({"no-dedup"}))
    primary = settle(sim)
    a, b = sim.submit(primary, "m1"), sim.submit(primary, "m1")
    sim.run(0.3)
    assert (sim.results[a].seq, sim.results[b].seq) == (1, 2)


def test_replica_rejects_append_from_older_epoch():
    sim = Sim()
    settle(sim)
    follower = next(n for n, r in sim.nodes.items() if r.role != PRIMARY)
    node = sim.nodes[follower]
    stale = AppendEntries(node.term - 1, "n9", 0, 0, [Entry(node.term - 1, MSG, {})], 0)
    actions = node.handle(FromPeer(sim.now, "n9", stale, 7))
    assert actions == [ReplyConn(7, AppendReply(node.term, False, 0, 0))]
    assert all(e.term == node.term for e in node.log)


def test_minority_refuses_and_majority_elects_a_new_primary_that_keeps_committed_entries():
    sim = Sim()
    old = settle(sim)
    done = sim.submit(old, "m1")
    sim.run(0.3)
    old_epoch = sim.nodes[old].term
    sim.isolate(old)
    sim.run(4.0)
    assert sim.nodes[old].role != PRIMARY, "an isolated primary must step down"
    assert sim.results[sim.submit(old, "m2")].status == "rejected"
    new = sim.primary()
    assert new is not None and new != old
    assert sim.missing_acked({"m1": sim.results[done].seq}, new) == []
    assert sim.nodes[new].term > old_epoch


def test_in_flight_request_ends_indeterminate_when_the_primary_loses_office():
    sim = Sim()
    old = settle(sim)
    sim.isolate(old)
    req = sim.submit(old, "m1")
    sim.run(4.0)
    assert sim.results[req].status == "indeterminate"


def test_restarted_replica_catches_up():
    sim = Sim()
    primary = settle(sim)
    victim = next(n for n in sim.names if n != primary)
    sim.crash(victim)
    for i in range(5):
        sim.submit(primary, f"m{i}")
    sim.run(0.5)
    sim.start(victim)
    sim.run(1.0)
    assert [e.data["id"] for e in sim.committed_msgs(victim)] == [f"m{i}" for i in range(5)]


def test_ack_before_replicate_bug_loses_an_acked_send_on_primary_crash():
    sim = Sim(bugs=frozenset({"ack-before-replicate"}))
    primary = settle(sim)
    req = sim.submit(primary, "m1")
    assert sim.results[req].status == "ok"
    sim.crash(primary)
    sim.run(4.0)
    assert sim.missing_acked({"m1": sim.results[req].seq}, sim.primary()) == ["m1"]


def test_no_fencing_bug_lets_an_isolated_primary_ack_conflicting_seqs():
    sim = Sim(bugs=frozenset({"no-fencing"}))
    old = settle(sim)
    sim.isolate(old)
    lone = sim.submit(old, "a")
    sim.run(4.0)
    assert sim.results[lone].status == "ok", "the old primary acks alone after the fallback"
    new = sim.primary() or next(n for n, r in sim.nodes.items() if r.role == PRIMARY and n != old)
    sim.submit(new, "b")
    sim.run(0.5)
    assert sim.seq_conflicts() == [("g1", 1)]
    sim.cut.clear()
    sim.run(3.0)
    assert "a" in sim.missing_acked({"a": 1}, new)


# -- partitions heal without deposing a primary that kept its majority ------------------------


def test_isolated_node_keeps_its_epoch_and_rejoins_without_deposing_the_primary():
    sim = Sim()
    primary = settle(sim)
    epoch = sim.nodes[primary].term
    lone = next(n for n in sim.names if n != primary)
    sim.isolate(lone)
    for i in range(10):
        sim.submit(primary, f"m{i}")
        sim.run(0.5)
    assert sim.nodes[lone].term == epoch, "pre-votes that fail must not raise the epoch"
    assert sim.nodes[lone].role == PRECANDIDATE and sim.nodes[lone].leader is None
    sim.cut.clear()
    sim.run(0.3)
    assert sim.primary() == primary and sim.nodes[primary].term == epoch
    assert sim.nodes[lone].leader == primary
    assert [e.data["id"] for e in sim.committed_msgs(lone)] == [f"m{i}" for i in range(10)]


def test_old_primary_alone_rejoins_under_the_new_primary():
    sim = Sim()
    old = settle(sim)
    sim.isolate(old)
    sim.run(5.0)
    new = next(n for n, r in sim.nodes.items() if r.role == PRIMARY and n != old)
    epoch = sim.nodes[new].term
    assert sim.nodes[old].term < epoch
    sim.cut.clear()
    sim.run(0.3)
    assert sim.primary() == new and sim.nodes[new].term == epoch
    assert sim.nodes[old].leader == new


def test_prevote_changes_nothing_at_the_voter_and_is_refused_to_a_stale_log():
    sim = Sim()
    primary = settle(sim)
    sim.submit(primary, "m1")
    sim.run(0.3)
    voter = sim.nodes[next(n for n in sim.names if n != primary)]
    sim.run(2.0 * Timing().election)  # long after the lease: only the log decides
    voter.leader, term, last = None, voter.term, voter.last_index
    stale = RequestVote(term + 5, "n9", last - 1, voter.term_at(last - 1), pre=True)
    assert voter.handle(FromPeer(sim.now, "n9", stale, 4)) == [
        ReplyConn(4, VoteReply(term, False, pre=True))
    ]
    fresh = RequestVote(term + 5, "n9", last, voter.term_at(last), pre=True)
    assert voter.handle(FromPeer(sim.now, "n9", fresh, 4)) == [
        ReplyConn(4, VoteReply(term + 5, True, pre=True))
    ]
    assert (voter.term, voter.voted_for) == (term, sim.disk[voter.name].voted_for)


def test_primary_and_followers_refuse_prevotes_while_the_primary_is_heard():
    sim = Sim()
    primary = settle(sim)
    for name, node in sim.nodes.items():
        ask = RequestVote(node.term + 1, "n9", node.last_index, node.term_at(node.last_index), True)
        (reply,) = node.handle(FromPeer(sim.now, "n9", ask, 4))
        assert reply.msg.granted is False, f"{name} (primary {primary}) granted a pre-vote"


def test_a_newer_epoch_alone_does_not_restart_the_election_timer():
    sim = Sim()
    settle(sim)
    sim.isolate("n1")
    sim.run(2.0 * Timing().election)
    node = sim.nodes["n1"]
    deadline, term = node.deadline, node.term
    ask = RequestVote(term + 3, "n9", 0, 0)  # a stale log: refused, its epoch taken
    (*_, reply) = node.handle(FromPeer(sim.now, "n9", ask, 4))
    assert reply == ReplyConn(4, VoteReply(term + 3, False))
    assert node.deadline == deadline


# -- the barrier re-confirms office (ReadIndex) ------------------------------------------------


def test_barrier_is_answered_after_a_majority_confirmed_office():
    sim = Sim()
    primary = settle(sim)
    sim.submit(primary, "m1")
    sim.run(0.3)
    req = sim.barrier(primary)
    assert sim.results[req] == Result("ok", seq=sim.disk[primary].commit)
    follower = next(n for n in sim.names if n != primary)
    assert sim.results[sim.barrier(follower)] == Result("ok", seq=sim.disk[primary].commit)


def test_deposed_primary_never_confirms_a_barrier_with_its_stale_commit():
    sim = Sim()
    old = settle(sim)
    sim.isolate(old)
    req = sim.barrier(old)
    assert req not in sim.results, "answered without hearing from a majority"
    sim.run(0.05)
    new, third = (n for n in sim.names if n != old)
    for n in (new, third):  # the majority elects before the old primary steps down
        sim.nodes[n].heard_leader_at = -1e9
    sim.nodes[new].deadline = sim.now
    sim.run(0.3)
    assert sim.nodes[old].role == PRIMARY and sim.nodes[new].role == PRIMARY
    for i in range(3):
        sim.submit(new, f"m{i}")
    sim.run(0.2)
    assert sim.nodes[old].role == PRIMARY and sim.max_commit() > sim.nodes[old].commit
    assert sim.results.get(req) is None or sim.results[req].status != "ok"
    sim.run(2.0)
    assert sim.results[req].status == "rejected"


def test_parked_request_goes_out_when_the_link_to_the_primary_comes_up():
    sim = Sim()
    primary = settle(sim)
    other = next(n for n in sim.names if n != primary)
    sim.link(other, primary, up=False)
    req = sim.submit(other, "m1")
    assert req not in sim.results and not any(isinstance(w.msg, Forward) for w in sim.net)
    sim.run(0.3)
    sim.link(other, primary, up=True)
    sim.flush()
    sim.run(0.2)
    assert sim.results[req] == Result("ok", seq=1)
    sim.link(other, primary, up=False)
    late = sim.submit(other, "m2")
    sim.run(Timing().park + 0.1)
    assert sim.results[late].status == "rejected" and len(sim.committed_msgs(primary)) == 1


# -- Hypothesis -------------------------------------------------------------------------------


class ReplicationMachine(RuleBasedStateMachine):
    """Random faults and requests; CP safety must hold after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.sim = Sim(seed=7)
        self.req_ids: dict[int, str] = {}
        self.barriers: dict[int, int] = {}  # req -> the highest commit anywhere when it was asked

    names = st.sampled_from(["n1", "n2", "n3"])

    @rule(dt=st.sampled_from([0.02, 0.1, 0.4, 1.0]))
    def tick(self, dt):
        self.sim.tick(dt)

    @precondition(lambda self: self.sim.net)
    @rule(data=st.data())
    def deliver_one(self, data):
        self.sim.deliver(data.draw(st.integers(0, len(self.sim.net) - 1)))

    @rule()
    def deliver_all(self):
        self.sim.flush()

    @precondition(lambda self: self.sim.net)
    @rule(data=st.data())
    def drop_one(self, data):
        self.sim.net.pop(data.draw(st.integers(0, len(self.sim.net) - 1)))

    @rule(name=names, msg=st.sampled_from(["m1", "m2", "m3", "m4"]), conv=st.sampled_from("ab"))
    def submit(self, name, msg, conv):
        if name in self.sim.nodes:
            self.req_ids[self.sim.submit(name, msg, conv)] = msg

    @rule(name=names)
    def barrier(self, name):
        if name in self.sim.nodes:
            floor = self.sim.max_commit()
            self.barriers[self.sim.barrier(name)] = floor

    @rule(name=names, peer=names, up=st.booleans())
    def link_state(self, name, peer, up):
        if name in self.sim.nodes and name != peer:
            self.sim.link(name, peer, up)

    @rule(name=names)
    def crash(self, name):
        self.sim.crash(name)

    @rule(name=names)
    def restart(self, name):
        if name not in self.sim.nodes:
            self.sim.start(name)

    @rule(name=names)
    def isolate(self, name):
        self.sim.isolate(name)

    @rule(a=names, b=names)
    def cut_one_way(self, a, b):
        if a != b:
            self.sim.cut.add((a, b))

    @rule()
    def heal(self):
        self.sim.cut.clear()

    def acked(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for req, result in self.sim.results.items():
            if result.status == "ok" and req in self.req_ids:
                msg = self.req_ids[req]
                assert out.setdefault(msg, result.seq) == result.seq, f"{msg} acked with two seqs"
        return out

    @invariant()
    def no_two_messages_at_one_conv_seq(self):
        assert self.sim.seq_conflicts() == []

    @invariant()
    def committed_prefixes_agree(self):
        logs = [self.sim.disk[n].log[: self.sim.disk[n].commit] for n in self.sim.names]
        for a in logs:
            for b in logs:
                shorter = min(len(a), len(b))
                assert a[:shorter] == b[:shorter]

    @invariant()
    def a_retried_id_is_committed_once(self):
        for name in self.sim.names:
            ids = [e.data["id"] for e in self.sim.committed_msgs(name)]
            assert len(ids) == len(set(ids))

    @invariant()
    def every_primary_holds_every_acked_send(self):
        acked = self.acked()
        for name, node in self.sim.nodes.items():
            if node.role == PRIMARY:
                assert self.sim.missing_acked(acked, name) == []

    @invariant()
    def a_confirmed_barrier_covers_all_committed_before_it(self):
        for req, floor in self.barriers.items():
            result = self.sim.results.get(req)
            if result is not None and result.status == "ok":
                assert (result.seq or 0) >= floor

    @invariant()
    def one_primary_per_epoch(self):
        terms = [r.term for r in self.sim.nodes.values() if r.role == PRIMARY]
        assert len(terms) == len(set(terms))


TestReplicationMachine = ReplicationMachine.TestCase
TestReplicationMachine.settings = settings(stateful_step_count=60, deadline=None)
