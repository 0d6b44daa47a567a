"""The nemesis's own bookkeeping under any sequence of faults, overlapping included: what it holds
matches what it did to the world, and after ``heal_all`` nothing is in effect and the world is
whole again.

The target and the network control are a fake on purpose (:mod:`tests.helpers.nemesis_fakes`):
the property is about the nemesis's bookkeeping, so the fake models only what the real ones
promise, and can be told to fail.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from nemesis.runner import Nemesis
from nemesis.schedule import FaultStep
from tests.helpers.nemesis_fakes import FakeWorld

NODES = ("n1", "n2", "n3")
CLIENTS = ("c0",)


nodes_st = st.lists(st.sampled_from(NODES), min_size=1, max_size=3, unique=True).map(sorted)
process_params = st.fixed_dictionaries(
    {"choose": st.sampled_from(["primary", "majority", "all", "random"]), "nodes": nodes_st}
)
partition_params = st.one_of(
    st.sampled_from(NODES).map(lambda n: {"shape": "primary-alone", "node": n}),
    st.permutations(NODES).map(
        lambda order: {"shape": "one-alone", "groups": [[order[0]], sorted(order[1:])]}
    ),
    st.permutations(NODES).map(lambda order: {"shape": "majorities-ring", "ring": list(order)}),
).flatmap(
    lambda p: st.fixed_dictionaries({"c0": st.integers(0, 2)}).map(lambda c: {**p, "clients": c})
)
latency_params = st.builds(
    lambda node, choose, ms: {
        "node": node,
        "choose": choose,
        "ms": ms,
        "links": [[node, n] for n in NODES if n != node] + [["c0", node]],
    },
    st.sampled_from(NODES),
    st.sampled_from(["random", "primary"]),
    st.integers(0, 500),
)
steps = st.one_of(
    process_params.flatmap(
        lambda p: st.sampled_from(["kill", "pause", "power-loss"]).map(
            lambda k: FaultStep(0, k, 1, p)
        )
    ),
    partition_params.map(lambda p: FaultStep(0, "partition", 1, p)),
    latency_params.map(lambda p: FaultStep(0, "latency", 1, p)),
)


class NemesisBookkeeping(RuleBasedStateMachine):
    """Start faults, undo them in any order, change the primary, make calls fail, heal all."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.world = FakeWorld()
        self.ops: list[dict[str, Any]] = []
        self.nemesis = Nemesis(self.world, self.world, self.record)
        self.undos: list[Callable[[], Awaitable[bool]]] = []
        self.failed_ever = False

    def record(self, process: Any, type: str, f: str, value: Any, **extra: Any) -> dict:
        op = {"process": process, "type": type, "f": f, "value": value, **extra}
        self.ops.append(op)
        return op

    def run(self, coro: Awaitable[Any]) -> Any:
        return self.loop.run_until_complete(coro)

    @rule(step=steps)
    def start_a_fault(self, step: FaultStep) -> None:
        self.undos.append(self.run(self.nemesis.start(step, NODES, CLIENTS)))

    @precondition(lambda self: self.undos)
    @rule(which=st.integers(min_value=0))
    def undo_a_fault(self, which: int) -> None:
        self.run(self.undos.pop(which % len(self.undos))())

    @rule(primary=st.sampled_from([*NODES, None]))
    def the_primary_changes(self, primary: str | None) -> None:
        self.world.current_primary = primary

    @rule(failing=st.booleans())
    def calls_fail_or_not(self, failing: bool) -> None:
        self.world.failing = failing
        self.failed_ever |= failing

    @rule()
    def heal_everything(self) -> None:
        self.world.failing = False
        assert self.run(self.nemesis.heal_all()) is True
        self.assert_whole()
        count = len(self.ops)
        assert self.run(self.nemesis.heal_all()) is True
        assert len(self.ops) == count, "a second heal_all must record nothing"

    def assert_whole(self) -> None:
        assert self.nemesis.in_effect.empty()
        w = self.world
        assert w.whole()

    @invariant()
    def the_world_holds_no_fault_the_nemesis_does_not_know(self) -> None:
        held, w = self.nemesis.in_effect, self.world
        assert w.cut_links <= held.owed("cut")
        assert set(w.latent) <= held.owed("latency")
        assert w.down <= held.owed("killed")
        assert w.paused <= held.owed("paused")
        if not self.failed_ever:
            assert w.cut_links == held.held("cut")
            assert set(w.latent) == held.held("latency")
            assert w.down == held.held("killed")

    @invariant()
    def every_undo_op_follows_its_invoke(self) -> None:
        pending: dict[str, int] = {}
        for op in self.ops:
            delta = 1 if op["type"] == "invoke" else -1
            pending[op["f"]] = pending.get(op["f"], 0) + delta
            assert 0 <= pending[op["f"]] <= 1

    def teardown(self) -> None:
        try:
            self.heal_everything()
        finally:
            self.nemesis.close()
            self.loop.close()


NemesisBookkeeping.TestCase.settings = settings(
    max_examples=150, stateful_step_count=30, deadline=None
)
test_nemesis_bookkeeping = NemesisBookkeeping.TestCase
