"""Hypothesis strategies for histories: a model of a correct system, anomaly injectors, and a
brute-force reference of every definition in history-format.md.

- :func:`plans` draws a :class:`Plan` (users, conversations, steps); :func:`simulate` plays it on
  a correct system: one sequencer per conversation, delivery in sequence order, sequential
  clients, and faults that only delay (timeouts end ``info``; a message in limbo may arrive late).
- Each injector in :data:`INJECTORS` edits such a history so that exactly one anomaly appears
  (once); it returns ``None`` when the history has no place for it.
- :func:`reference_counts` judges a history straight from the definitions (quadratic and slow,
  for small histories only); the fast checkers must agree with it.

Histories are lists of operation dicts; :class:`Case` prints them one short line per operation,
so a shrunk counterexample reads like a transcript.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from itertools import combinations
from typing import Any

import networkx as nx
import orjson
from hypothesis import strategies as st

Op = dict[str, Any]
ACTIONS = ("deliver", "invoke", "ack", "sequence", "refuse", "timeout", "retry", "nemesis")
_WEIGHTED = ACTIONS[:4] * 3 + ACTIONS[4:]
NEVER = float("inf")


# --- printing -------------------------------------------------------------------------------


def describe(op: Op) -> str:
    """One short line for an operation, e.g. ``7 p1 ok send m1-2 seq=3``."""
    value = op.get("value") if isinstance(op.get("value"), dict) else {}
    head = f"{op.get('index', '?'):>3} {op.get('process')} {op.get('type')} {op.get('f')}"
    if op.get("f") == "deliver":
        extra = f" {value.get('id')} {value.get('conv')} to {value.get('user')}"
    elif op.get("f") == "send" and op.get("type") == "invoke":
        to = ",".join(value.get("to", []))
        extra = f" {value.get('id')} {value.get('conv')} {value.get('from')}->{to}"
    elif op.get("f") == "send":
        extra = f" {value.get('id')}"
    else:
        extra = ""
    if value.get("seq") is not None:
        extra += f" seq={value['seq']}"
    if op.get("f") == "deliver" and value.get("digest") != digest_of(str(value.get("id"))):
        extra += f" digest={value.get('digest')}"
    return head + extra


@dataclass
class Case:
    """A history as operation dicts; its repr is a readable transcript."""

    ops: list[Op]

    def lines(self) -> list[bytes]:
        return [orjson.dumps(op) for op in self.ops]

    def __repr__(self) -> str:
        return "Case([\n" + "\n".join(f"  {describe(op)}" for op in self.ops) + "\n])"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        """How Hypothesis prints a falsifying example: the transcript, not the dicts."""
        printer.text(repr(self))


def renumber(ops: list[Op]) -> list[Op]:
    """The same operations with ``index`` = position and ``time`` growing with it."""
    return [{**op, "index": i, "time": 1000 * (i + 1)} for i, op in enumerate(ops)]


def digest_of(message_id: str) -> str:
    return hashlib.sha256(message_id.encode()).hexdigest()[:16]


class Builder:
    """Hand-written histories, one method per kind of line, indexes and times filled in, e.g.
    ``Builder().send(1, "m1", "c", "u1", ["u2"]).ok(1, "m1", "c", seq=1).drain().case``."""

    def __init__(self) -> None:
        self.ops: list[Op] = []

    def op(self, process: int | str, type_: str, f: str, value: Any, **extra: Any) -> Builder:
        index = len(self.ops)
        line = {"index": index, "time": 1000 * (index + 1), "process": process, "type": type_}
        self.ops.append({**line, "f": f, "value": value, **extra})
        return self

    def send(self, process: int, msg: str, conv: str, sender: str, to: list[str]) -> Builder:
        value = {"id": msg, "conv": conv, "from": sender, "to": to, "digest": digest_of(msg)}
        return self.op(process, "invoke", "send", value)

    def ok(self, process: int, msg: str, conv: str, seq: int | None = None) -> Builder:
        value = {"id": msg, "conv": conv} | ({} if seq is None else {"seq": seq})
        return self.op(process, "ok", "send", value)

    def fail(self, process: int, msg: str, conv: str) -> Builder:
        return self.op(process, "fail", "send", {"id": msg, "conv": conv}, error="refused")

    def info(self, process: int, msg: str, conv: str) -> Builder:
        return self.op(process, "info", "send", {"id": msg, "conv": conv}, error="timeout")

    def deliver(
        self,
        process: int,
        msg: str,
        conv: str,
        sender: str,
        user: str,
        seq: int | None = None,
        digest: str | None = None,
    ) -> Builder:
        value = {"id": msg, "conv": conv, "from": sender, "user": user}
        value |= {} if seq is None else {"seq": seq}
        return self.op(process, "ok", "deliver", value | {"digest": digest or digest_of(msg)})

    def drain(self, complete: bool = True) -> Builder:
        self.op("harness", "invoke", "drain", None)
        return self.op("harness", "ok", "drain", None) if complete else self

    @property
    def case(self) -> Case:
        return Case(list(self.ops))


# --- the model of a correct system ------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What :func:`simulate` plays: ``steps`` are (action, a, b), where a and b pick among the
    choices the action has at that moment, so nearly every step does something."""

    users: tuple[str, ...]
    convs: tuple[tuple[str, ...], ...]
    steps: tuple[tuple[str, int, int], ...]
    drain: bool
    late: bool  # at the drain, messages in limbo finally arrive


@dataclass
class _Msg:
    id: str
    conv: str
    sender: str
    to: tuple[str, ...]
    seq: int | None = None
    dead: bool = False  # a send that failed before being sequenced never takes effect
    timed_out: bool = False


@dataclass
class _System:
    users: tuple[str, ...]
    convs: dict[str, tuple[str, ...]]
    ops: list[Op] = field(default_factory=list)
    process: dict[str, int] = field(default_factory=dict)
    busy: dict[str, _Msg] = field(default_factory=dict)
    log: dict[str, list[_Msg]] = field(default_factory=dict)
    cursor: dict[tuple[str, str], int] = field(default_factory=dict)
    limbo: list[_Msg] = field(default_factory=list)
    retryable: dict[str, list[_Msg]] = field(default_factory=dict)
    sent: dict[str, int] = field(default_factory=dict)
    faults: int = 0

    def emit(self, process: int | str, type_: str, f: str, value: Any, **extra: Any) -> None:
        op = {"index": len(self.ops), "time": 1000 * (len(self.ops) + 1), "process": process}
        self.ops.append({**op, "type": type_, "f": f, "value": value, **extra})

    def invoke(self, user: str, msg: _Msg) -> None:
        self.busy[user] = msg
        value = {"id": msg.id, "conv": msg.conv, "from": user, "to": list(msg.to)}
        self.emit(self.process[user], "invoke", "send", {**value, "digest": digest_of(msg.id)})

    def new_message(self, user: str, conv: str) -> _Msg:
        self.sent[user] = self.sent.get(user, 0) + 1
        to = tuple(u for u in self.convs[conv] if u != user)
        return _Msg(f"m{user[1:]}-{self.sent[user]}", conv, user, to)

    def sequence(self, msg: _Msg) -> None:
        if msg.seq is None and not msg.dead:
            log = self.log.setdefault(msg.conv, [])
            log.append(msg)
            msg.seq = len(log)
        if msg in self.limbo:
            self.limbo.remove(msg)

    def complete(self, user: str, outcome: str) -> None:
        msg = self.busy.pop(user)
        value: dict[str, Any] = {"id": msg.id, "conv": msg.conv}
        if outcome == "ok":
            self.emit(self.process[user], "ok", "send", {**value, "seq": msg.seq})
            if msg in self.retryable.get(user, []):
                self.retryable[user].remove(msg)
            return
        self.emit(self.process[user], outcome, "send", value, error="refused or timed out")
        if outcome == "info":
            msg.timed_out = True
            self.process[user] = max(self.process.values()) + 1
            if msg.seq is None and msg not in self.limbo:
                self.limbo.append(msg)
            if msg not in self.retryable.setdefault(user, []):
                self.retryable[user].append(msg)
        elif not msg.timed_out:
            msg.dead = True

    def pending(self) -> list[tuple[str, str]]:
        """(user, conv) pairs with a sequenced message the user has not seen yet."""
        return [
            (user, conv)
            for conv, members in self.convs.items()
            for user in members
            if self.next_for(user, conv) is not None
        ]

    def next_for(self, user: str, conv: str) -> _Msg | None:
        log = self.log.get(conv, [])
        position = self.cursor.get((user, conv), 0)
        while position < len(log) and user not in log[position].to:
            position += 1
        self.cursor[(user, conv)] = position
        return log[position] if position < len(log) else None

    def deliver(self, user: str, conv: str) -> None:
        msg = self.next_for(user, conv)
        assert msg is not None
        self.cursor[(user, conv)] += 1
        value = {"id": msg.id, "conv": conv, "from": msg.sender, "user": user, "seq": msg.seq}
        self.emit(self.process[user], "ok", "deliver", {**value, "digest": digest_of(msg.id)})

    def step(self, action: str, a: int, b: int) -> None:
        idle = [u for u in self.users if u not in self.busy]
        busy = [u for u in self.users if u in self.busy]
        if action == "invoke" and idle:
            user = idle[a % len(idle)]
            mine = [c for c, members in self.convs.items() if user in members]
            if mine:
                self.invoke(user, self.new_message(user, mine[b % len(mine)]))
        elif action == "deliver" and self.pending():
            pairs = self.pending()
            self.deliver(*pairs[(a * 3 + b) % len(pairs)])
        elif action == "sequence":
            waiting = [self.busy[u] for u in busy if self.busy[u].seq is None] + self.limbo
            if waiting:
                self.sequence(waiting[a % len(waiting)])
        elif action in ("ack", "refuse", "timeout") and busy:
            user = busy[a % len(busy)]
            if action == "ack":
                self.sequence(self.busy[user])
            if action == "timeout":
                self.complete(user, "info")
            else:
                self.complete(user, "ok" if self.busy[user].seq is not None else "fail")
        elif action == "retry":
            ready = [u for u in idle if self.retryable.get(u)]
            if ready:
                user = ready[a % len(ready)]
                self.invoke(user, self.retryable[user][b % len(self.retryable[user])])
        elif action == "nemesis":
            kind = ("partition", "heal", "kill", "restart")[self.faults % 4]
            self.faults += 1
            self.emit("nemesis", "invoke", kind, {"nodes": [f"n{a % 3 + 1}"]})
            self.emit("nemesis", "ok", kind, {"nodes": [f"n{a % 3 + 1}"]})

    def drain(self, late: bool) -> None:
        self.emit("harness", "invoke", "drain", None)
        for user in list(self.busy):
            self.sequence(self.busy[user])
            self.complete(user, "ok")
        for msg in list(self.limbo) if late else []:
            self.sequence(msg)
        while self.pending():
            self.deliver(*self.pending()[0])
        self.emit("harness", "ok", "drain", None)


def simulate(plan: Plan) -> Case:
    """Play ``plan`` on the correct system and return its history."""
    convs = {f"c{i + 1}": members for i, members in enumerate(plan.convs)}
    system = _System(plan.users, convs, process={u: i for i, u in enumerate(plan.users)})
    for action, a, b in plan.steps:
        system.step(action, a, b)
    if plan.drain:
        system.drain(plan.late)
    return Case(system.ops)


@st.composite
def plans(
    draw: st.DrawFn,
    drain: bool | None = None,
    shapes: tuple[int, ...] | None = None,
    min_steps: int = 0,
    max_steps: int = 40,
) -> Plan:
    """Plans of 2 to 5 users in 1 to 3 conversations of 2 to 4 members, or, with ``shapes``,
    in conversations of exactly those sizes (then first-come users fill them)."""
    count = draw(st.integers(max(2, *(shapes or (2,))), 5))
    users = tuple(f"u{i}" for i in range(1, count + 1))
    if shapes is None:
        members = st.lists(st.sampled_from(users), min_size=2, max_size=4, unique=True)
        convs = draw(st.lists(members.map(lambda m: tuple(sorted(m))), min_size=1, max_size=3))
    else:
        convs = [tuple(sorted(draw(st.permutations(users))[:size])) for size in shapes]
    step = st.tuples(st.sampled_from(_WEIGHTED), st.integers(0, 5), st.integers(0, 3))
    steps = draw(st.lists(step, min_size=min_steps, max_size=max_steps))
    drained = draw(st.booleans()) if drain is None else drain
    return Plan(users, tuple(convs), tuple(steps), drained, draw(st.booleans()))


@st.composite
def correct_histories(
    draw: st.DrawFn,
    drain: bool | None = None,
    shapes: tuple[int, ...] | None = None,
    min_steps: int = 0,
    max_steps: int = 40,
) -> Case:
    """Histories of a correct system; with ``drain=True`` they always end with a drain.

    A composite rather than ``plans().map(simulate)`` so that a failing example prints as the
    history's transcript, not as the plan that made it.
    """
    return simulate(draw(plans(drain, shapes, min_steps, max_steps)))


# --- a plain view of a history (independent of the checkers package) ---------------------------


@dataclass
class _Sent:
    id: str
    conv: str
    sender: str
    to: frozenset[str]
    digest: str | None
    invoke: int
    ok: float = NEVER
    outcomes: list[str] = field(default_factory=list)
    seqs: list[tuple[int, int]] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        if "ok" in self.outcomes:
            return "ok"
        return "fail" if self.outcomes and set(self.outcomes) == {"fail"} else "info"


@dataclass
class View:
    """Sends by id, sightings, and the drain, read naively from operation dicts."""

    sends: dict[str, _Sent]
    deliveries: list[Op]
    first: dict[tuple[str, str], int]
    drain_ok: int | None

    @classmethod
    def of(cls, ops: list[Op]) -> View:
        sends: dict[str, _Sent] = {}
        in_flight: dict[int, tuple[_Sent, int]] = {}
        deliveries: list[Op] = []
        drain_invoked = False
        drain_ok = None
        for op in ops:
            value, index = op["value"], op["index"]
            if op["process"] == "harness" and op["f"] == "drain":
                drain_ok = index if op["type"] == "ok" and drain_invoked else drain_ok
                drain_invoked = True
            elif op["f"] == "deliver":
                deliveries.append(op)
            elif op["f"] == "send" and op["type"] == "invoke":
                sent = sends.setdefault(
                    value["id"],
                    _Sent(
                        value["id"],
                        value["conv"],
                        value["from"],
                        frozenset(value["to"]),
                        value.get("digest"),
                        index,
                    ),
                )
                in_flight[op["process"]] = (sent, len(sent.outcomes))
                sent.outcomes.append("info")
            elif op["f"] == "send":
                sent, attempt = in_flight.pop(op["process"])
                sent.outcomes[attempt] = op["type"]
                if op["type"] == "ok":
                    sent.ok = min(sent.ok, index)
                    if isinstance(value, dict) and value.get("seq") is not None:
                        sent.seqs.append((value["seq"], index))
        first: dict[tuple[str, str], int] = {}
        for op in deliveries:
            first.setdefault((op["value"]["id"], op["value"]["user"]), op["index"])
        return cls(sends, deliveries, first, drain_ok)

    def seen(self, message_id: str, user: str) -> float:
        return self.first.get((message_id, user), NEVER)

    def conv_of(self, delivery: Op) -> str:
        sent = self.sends.get(delivery["value"]["id"])
        return delivery["value"]["conv"] if sent is None else sent.conv

    def live(self) -> list[_Sent]:
        return [s for s in self.sends.values() if s.outcome != "fail"]

    @cached_property
    def happens_before(self) -> nx.DiGraph:
        """The happens-before graph of history-format.md, edges from every direct rule."""
        graph = nx.DiGraph()
        live = self.live()
        graph.add_nodes_from(s.id for s in live)
        for a in live:
            for b in live:
                if a is b or a.conv != b.conv:
                    continue
                same_sender = a.sender == b.sender and a.ok < b.invoke
                if same_sender or self.seen(a.id, b.sender) < b.invoke:
                    graph.add_edge(a.id, b.id)
        return graph


# --- the reference: every definition, naively --------------------------------------------------


def reference_counts(ops: list[Op]) -> dict[str, int]:
    """Counts of every anomaly (and ``unseen``) by brute force from history-format.md."""
    view = View.of(ops)
    counts = {"lost": 0, "unseen": 0}
    for sent in view.sends.values():
        if sent.outcome != "ok":
            continue
        proven = view.drain_ok is not None and sent.ok < view.drain_ok
        missing = sum(1 for user in sent.to if (sent.id, user) not in view.first)
        counts["lost" if proven else "unseen"] += missing
    arrivals: dict[tuple[str, str], int] = {}
    for op in view.deliveries:
        key = (op["value"]["id"], op["value"]["user"])
        arrivals[key] = arrivals.get(key, 0) + 1
    counts["duplicated"] = sum(
        1 for (m, u), n in arrivals.items() if n > 1 and m in view.sends and u in view.sends[m].to
    )
    counts["unexpected"] = sum(
        1 for (m, u) in view.first if m not in view.sends or u not in view.sends[m].to
    )
    failed = {m for (m, _) in view.first if m in view.sends and view.sends[m].outcome == "fail"}
    counts["failed-delivered"] = len(failed)
    fifo, causal = _order_violations(view)
    counts["fifo-violation"] = len(fifo)
    counts["causal-violation"] = len(causal - fifo)
    counts["order-divergence"] = _divergent_pairs(view)
    counts["seq-order"] = len(_seq_order_pairs(view) - fifo - causal)
    counts["seq-conflict"] = _seq_conflicts(view)
    counts["corrupt"] = len(
        {
            op["value"]["id"]
            for op in view.deliveries
            if op["value"]["id"] in view.sends
            and op["value"].get("digest") is not None
            and view.sends[op["value"]["id"]].digest is not None
            and op["value"]["digest"] != view.sends[op["value"]["id"]].digest
        }
    )
    return counts


def _order_violations(view: View) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    graph = view.happens_before
    fifo: set[tuple[str, str]] = set()
    causal: set[tuple[str, str]] = set()
    live = view.live()
    for b in live:
        causes = nx.ancestors(graph, b.id)
        for user in b.to:
            seen_b = view.seen(b.id, user)
            if seen_b == NEVER:
                continue
            for a in live:
                if a is b or a.conv != b.conv or user not in a.to:
                    continue
                late = view.seen(a.id, user) > seen_b
                if late and a.sender == b.sender and a.ok < b.invoke:
                    fifo.add((b.id, user))
                if late and a.id in causes:
                    causal.add((b.id, user))
    return fifo, causal


def _single_seqs(view: View) -> dict[str, int]:
    """Id -> its seq, for sent messages that carry exactly one seq (ok sends and deliveries)."""
    seqs: dict[str, set[int]] = {s.id: {seq for seq, _ in s.seqs} for s in view.sends.values()}
    for op in view.deliveries:
        if op["value"].get("seq") is not None and op["value"]["id"] in seqs:
            seqs[op["value"]["id"]].add(op["value"]["seq"])
    return {m: next(iter(values)) for m, values in seqs.items() if len(values) == 1}


def _seq_order_pairs(view: View) -> set[tuple[str, str]]:
    """(B, user): A and B not failed, one seq each, seq(A) < seq(B), the user a recipient of
    both who saw B before A, or saw B and never A."""
    seq = _single_seqs(view)
    live = [s for s in view.live() if s.id in seq]
    pairs: set[tuple[str, str]] = set()
    for b in live:
        for user in b.to:
            seen_b = view.seen(b.id, user)
            if seen_b == NEVER:
                continue
            for a in live:
                earlier = a.conv == b.conv and user in a.to and seq[a.id] < seq[b.id]
                if earlier and view.seen(a.id, user) > seen_b:
                    pairs.add((b.id, user))
    return pairs


def _divergent_pairs(view: View) -> int:
    by_conv: dict[str, set[str]] = {}
    for op in view.deliveries:
        by_conv.setdefault(view.conv_of(op), set()).add(op["value"]["id"])
    count = 0
    for ids in by_conv.values():
        for x, y in combinations(sorted(ids & view.sends.keys()), 2):
            orders = {
                view.first[(x, u)] < view.first[(y, u)]
                for u in view.sends[x].to & view.sends[y].to
                if (x, u) in view.first and (y, u) in view.first
            }
            count += len(orders) == 2
    return count


def _seq_conflicts(view: View) -> int:
    carriers: dict[tuple[str, int], set[str]] = {}
    seqs: dict[str, set[int]] = {}
    reported = [(s.id, s.conv, seq) for s in view.sends.values() for seq, _ in s.seqs]
    for op in view.deliveries:
        if op["value"].get("seq") is not None:
            reported.append((op["value"]["id"], view.conv_of(op), op["value"]["seq"]))
    for message_id, conv, seq in reported:
        carriers.setdefault((conv, seq), set()).add(message_id)
        seqs.setdefault(message_id, set()).add(seq)
    shared = sum(1 for ids in carriers.values() if len(ids) > 1)
    return shared + sum(1 for values in seqs.values() if len(values) > 1)


# --- random edits, for comparing the checkers with the reference -------------------------------

EDITS = ("swap", "drop", "copy", "move", "seq", "unseq", "digest", "user", "outcome", "undrain")


def edit(ops: list[Op], kind: str, a: int, b: int) -> list[Op]:
    """One arbitrary edit that keeps the history readable (deliveries moved, dropped, copied or
    altered; a send's outcome changed; the drain's end removed); the same history if ``kind``
    finds nothing to edit."""
    deliveries = _delivery_positions(ops)
    edited = list(ops)
    if kind == "undrain":
        return renumber([op for op in ops if not (op["f"] == "drain" and op["type"] == "ok")])
    if kind == "unseq":
        return without_seqs(ops) if a % 4 == 0 else _edit_delivery(ops, deliveries, a, "seq", None)
    if kind == "outcome":
        ends = [i for i, op in enumerate(ops) if op["f"] == "send" and op["type"] != "invoke"]
        if ends:
            i = ends[a % len(ends)]
            value = {"id": ops[i]["value"]["id"], "conv": ops[i]["value"]["conv"]}
            outcome = ("ok", "fail", "info")[b % 3]
            seq = {"seq": b % 4 + 1} if outcome == "ok" else {}
            edited[i] = {**ops[i], "type": outcome, "value": {**value, **seq}}
        return renumber(edited)
    if not deliveries:
        return ops
    i = deliveries[a % len(deliveries)]
    op = ops[i]
    if kind == "swap":
        j = deliveries[b % len(deliveries)]
        edited[i], edited[j] = ops[j], ops[i]
    elif kind == "drop":
        del edited[i]
    elif kind in ("copy", "move"):
        if kind == "move":
            del edited[i]
        edited.insert(b % (len(edited) + 1), op)
    else:
        change = {"seq": b % 4 + 1, "digest": "x", "user": f"u{b % 6 + 1}"}[kind]
        return _edit_delivery(ops, deliveries, a, kind, change)
    return renumber(edited)


def _edit_delivery(ops: list[Op], deliveries: list[int], a: int, key: str, change: Any) -> list[Op]:
    if not deliveries:
        return ops
    i = deliveries[a % len(deliveries)]
    edited = list(ops)
    edited[i] = {**ops[i], "value": {**ops[i]["value"], key: change}}
    return renumber(edited)


def without_seqs(ops: list[Op], ids: set[str] | None = None) -> list[Op]:
    """The history of a system that gives no seqs: every ``seq`` removed (only those of the
    messages ``ids``, when given)."""
    return [
        {**op, "value": {k: v for k, v in op["value"].items() if k != "seq"}}
        if isinstance(op["value"], dict) and (ids is None or op["value"].get("id") in ids)
        else op
        for op in ops
    ]


@st.composite
def edited_histories(draw: st.DrawFn, max_edits: int = 6) -> Case:
    """Correct histories with a few arbitrary edits: anything may be wrong with them."""
    shapes = draw(st.sampled_from([None, (2, 3, 4), (3,), (4,)]))
    ops = draw(correct_histories(shapes=shapes, min_steps=20, max_steps=50)).ops
    edits = st.tuples(
        st.sampled_from(EDITS[:4] * 2 + EDITS[4:]), st.integers(0, 99), st.integers(0, 99)
    )
    for kind, a, b in draw(st.lists(edits, max_size=max_edits)):
        ops = edit(ops, kind, a, b)
    return Case(ops)


# --- injectors: each adds exactly one anomaly, once --------------------------------------------

Injector = Callable[[list[Op], int], list[Op] | None]


def _pick(candidates: list[Any], choice: int) -> Any:
    return candidates[choice % len(candidates)] if candidates else None


def _delivery_positions(ops: list[Op]) -> list[int]:
    return [i for i, op in enumerate(ops) if op["f"] == "deliver"]


def drop_last_delivery(ops: list[Op], choice: int) -> list[Op] | None:
    """Drop a recipient's only sighting of the last message sent in a conversation, when it
    also has the conversation's highest seq (so nothing sent later depends on it, and nothing
    seen comes after it in seq order): ``lost`` with a completed drain, ``unseen`` without."""
    view = View.of(ops)
    last: dict[str, _Sent] = {}
    for sent in view.sends.values():
        if sent.conv not in last or sent.invoke > last[sent.conv].invoke:
            last[sent.conv] = sent
    seqs = _single_seqs(view)
    top: dict[str, int] = {}
    for sent in view.sends.values():
        if sent.id in seqs:
            top[sent.conv] = max(top.get(sent.conv, seqs[sent.id]), seqs[sent.id])
    ok_last = {
        s.id
        for s in last.values()
        if s.outcome == "ok" and seqs.get(s.id, NEVER) >= top.get(s.conv, -1)
    }
    positions = [i for i in _delivery_positions(ops) if ops[i]["value"]["id"] in ok_last]
    position = _pick(positions, choice)
    if position is None:
        return None
    return renumber(ops[:position] + ops[position + 1 :])


def duplicate_delivery(ops: list[Op], choice: int) -> list[Op] | None:
    """Append a copy of one delivery at the end: ``duplicated``."""
    position = _pick(_delivery_positions(ops), choice)
    return None if position is None else renumber([*ops, dict(ops[position])])


def deliver_to_stranger(ops: list[Op], choice: int) -> list[Op] | None:
    """Append a delivery of a sent message to a user outside its conversation, or (odd choices)
    of an id nobody sent: ``unexpected``."""
    view = View.of(ops)
    if choice % 2:
        value = {"id": "m-ghost", "conv": "c-ghost", "from": "u-ghost", "user": "u1", "seq": 1}
        return renumber([*ops, _delivery(value, 999)])
    members: dict[str, set[str]] = {}
    for sent in view.sends.values():
        members.setdefault(sent.conv, set()).update(sent.to | {sent.sender})
    sent = _pick([s for s in view.sends.values() if s.outcome != "fail"], choice // 2)
    if sent is None:
        return None
    strangers = sorted({f"u{i}" for i in range(1, 7)} - members[sent.conv])
    value = {"id": sent.id, "conv": sent.conv, "from": sent.sender, "user": strangers[0]}
    return renumber([*ops, _delivery({**value, "digest": sent.digest}, 998)])


def _delivery(value: dict[str, Any], process: int) -> Op:
    return {
        "index": -1,
        "time": 0,
        "process": process,
        "type": "ok",
        "f": "deliver",
        "value": value,
    }


def fail_delivered_send(ops: list[Op], choice: int) -> list[Op] | None:
    """Turn every completion of a delivered message into ``fail``: ``failed-delivered``."""
    view = View.of(ops)
    seen = {op["value"]["id"] for op in view.deliveries}
    completions: dict[str, list[int]] = {}
    for i, op in enumerate(ops):
        if op["f"] == "send" and op["type"] != "invoke":
            completions.setdefault(op["value"]["id"], []).append(i)
    candidates = [
        s.id
        for s in view.sends.values()
        if s.id in seen and len(completions.get(s.id, [])) == len(s.outcomes)
    ]
    target = _pick(sorted(candidates), choice)
    if target is None:
        return None
    edited = list(ops)
    for i in completions[target]:
        value = {"id": target, "conv": ops[i]["value"]["conv"]}
        edited[i] = {**ops[i], "type": "fail", "value": value, "error": "refused"}
    return renumber(edited)


def _adjacent_swaps(ops: list[Op]) -> list[tuple[int, int]]:
    """Positions (i, j) of two deliveries to one user, consecutive in what that user saw of the
    conversation, with no send of that user in that conversation invoked between them: swapping
    them changes no happens-before relation, only that user's order of the two messages."""
    view = View.of(ops)
    last: dict[tuple[str, str], int] = {}
    swaps: list[tuple[int, int]] = []
    invokes: dict[tuple[str, str], list[int]] = {}
    for i, op in enumerate(ops):
        if op["f"] == "send" and op["type"] == "invoke":
            invokes.setdefault((op["value"]["from"], op["value"]["conv"]), []).append(i)
    for i, op in enumerate(ops):
        if op["f"] != "deliver" or view.first.get((op["value"]["id"], op["value"]["user"])) != i:
            continue
        key = (op["value"]["user"], view.conv_of(op))
        if key in last and not any(last[key] < k < i for k in invokes.get(key, [])):
            swaps.append((last[key], i))
        last[key] = i
    return swaps


def _swap(ops: list[Op], i: int, j: int) -> list[Op]:
    edited = list(ops)
    edited[i], edited[j] = ops[j], ops[i]
    return renumber(edited)


def _swap_where(
    ops: list[Op], choice: int, wanted: Callable[[View, _Sent, _Sent, str], bool]
) -> list[Op] | None:
    view = View.of(ops)
    candidates = []
    for i, j in _adjacent_swaps(ops):
        a, b = view.sends.get(ops[i]["value"]["id"]), view.sends.get(ops[j]["value"]["id"])
        if a is not None and b is not None and wanted(view, a, b, ops[i]["value"]["user"]):
            candidates.append((i, j))
    pair = _pick(candidates, choice)
    return None if pair is None else _swap(ops, *pair)


def fifo_swap(ops: list[Op], choice: int) -> list[Op] | None:
    """In a one-to-one conversation, swap a recipient's sightings of two sends of one sender
    where the first was acknowledged before the second was invoked: ``fifo-violation``."""

    def wanted(view: View, a: _Sent, b: _Sent, user: str) -> bool:
        return len(a.to | {a.sender}) == 2 and a.sender == b.sender and a.ok < b.invoke

    return _swap_where(ops, choice, wanted)


def causal_swap(ops: list[Op], choice: int) -> list[Op] | None:
    """Swap a user's sightings of A and B from different senders where A happens before B and
    that user is their only common recipient: ``causal-violation``."""

    def wanted(view: View, a: _Sent, b: _Sent, user: str) -> bool:
        if a.sender == b.sender or a.to & b.to != {user}:
            return False
        return nx.has_path(view.happens_before, a.id, b.id)

    return _swap_where(ops, choice, wanted)


def divergence_swap(ops: list[Op], choice: int) -> list[Op] | None:
    """Swap a user's sightings of two unrelated messages that another user also saw, and take
    the seqs off both (as from a system that gives none; with them the swap would also be a
    ``seq-order``): ``order-divergence``."""

    def wanted(view: View, a: _Sent, b: _Sent, user: str) -> bool:
        graph = view.happens_before
        if a.id not in graph or b.id not in graph:
            return False
        if nx.has_path(graph, a.id, b.id) or nx.has_path(graph, b.id, a.id):
            return False
        others = (a.to & b.to) - {user}
        return any(view.seen(a.id, u) < NEVER and view.seen(b.id, u) < NEVER for u in others)

    swapped = _swap_where(ops, choice, wanted)
    if swapped is None:
        return None
    before = [op["value"]["id"] for op in ops if op["f"] == "deliver"]
    after = [op["value"]["id"] for op in swapped if op["f"] == "deliver"]
    moved = {x for x, y in zip(before, after, strict=True) if x != y}
    return without_seqs(swapped, moved)


def seq_order_swap(ops: list[Op], choice: int) -> list[Op] | None:
    """Swap a user's sightings of two messages of different senders with no happens-before
    between them, that user their only common recipient: ``seq-order`` (the correct system
    delivered them in seq order; nobody else saw both, so no ``order-divergence``)."""

    def wanted(view: View, a: _Sent, b: _Sent, user: str) -> bool:
        graph = view.happens_before
        if a.sender == b.sender or a.to & b.to != {user}:
            return False
        if a.id not in graph or b.id not in graph:
            return False
        return not (nx.has_path(graph, a.id, b.id) or nx.has_path(graph, b.id, a.id))

    return _swap_where(ops, choice, wanted)


def conflicting_seq(ops: list[Op], choice: int) -> list[Op] | None:
    """Give one of several seq reports of a message a seq nobody uses (even choices), or give
    every report of one message the seq of another message of its conversation, next to it in
    seq order (odd choices, so that no seq order changes): ``seq-conflict``."""
    reports: dict[str, int] = {}
    for op in ops:
        value = op["value"]
        if op["type"] == "ok" and isinstance(value, dict) and value.get("seq") is not None:
            reports[value["id"]] = reports.get(value["id"], 0) + 1
    positions = [
        i
        for i in _delivery_positions(ops)
        if ops[i]["value"].get("seq") is not None and reports[ops[i]["value"]["id"]] > 1
    ]
    if choice % 2 == 0:
        position = _pick(positions, choice // 2)
        if position is None:
            return None
        edited = list(ops)
        edited[position] = {**ops[position], "value": {**ops[position]["value"], "seq": 10_000}}
        return renumber(edited)
    view = View.of(ops)
    seqs = _single_seqs(view)
    taken: dict[str, list[int]] = {}
    for sent in view.sends.values():
        if sent.id in seqs:
            taken.setdefault(sent.conv, []).append(seqs[sent.id])

    def adjacent(a: _Sent, b: _Sent) -> bool:
        # no seq in between: taking the other's seq then changes no seq order
        low, high = sorted((seqs[a.id], seqs[b.id]))
        return not any(low < seq < high for seq in taken[a.conv])

    pairs = [
        (a, b)
        for a in view.sends.values()
        for b in view.sends.values()
        if a.conv == b.conv and a.id < b.id and a.id in seqs and b.id in seqs and adjacent(a, b)
    ]
    pair = _pick(pairs, choice // 2)
    if pair is None:
        return None
    keep, change = pair
    seq = seqs[keep.id]
    edited = []
    for op in ops:
        value = op["value"]
        if isinstance(value, dict) and value.get("id") == change.id and "seq" in value:
            op = {**op, "value": {**value, "seq": seq}}
        edited.append(op)
    return renumber(edited)


def corrupt_digest(ops: list[Op], choice: int) -> list[Op] | None:
    """Change the digest one recipient saw: ``corrupt``."""
    position = _pick(_delivery_positions(ops), choice)
    if position is None:
        return None
    edited = list(ops)
    edited[position] = {**ops[position], "value": {**ops[position]["value"], "digest": "bad"}}
    return renumber(edited)


INJECTORS: dict[str, Injector] = {
    "lost": drop_last_delivery,
    "duplicated": duplicate_delivery,
    "unexpected": deliver_to_stranger,
    "failed-delivered": fail_delivered_send,
    "fifo-violation": fifo_swap,
    "causal-violation": causal_swap,
    "order-divergence": divergence_swap,
    "seq-order": seq_order_swap,
    "seq-conflict": conflicting_seq,
    "corrupt": corrupt_digest,
}
"""Anomaly name -> injector adding exactly one of it to a drained correct history."""
