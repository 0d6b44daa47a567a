"""Every registered fault kind is one unit: drawn, checked, said, started and undone through the
same calls, against a fake cluster (:mod:`tests.helpers.nemesis_fakes`), with no kind named in
the schedule or the runner. A kind registered tomorrow is tested here the day it is."""

from __future__ import annotations

import ast
import asyncio
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.config import RunConfig
from harness.run import nemesis_capabilities
from nemesis import faults
from nemesis.faults import EFFECTS, FAULT_KINDS
from nemesis.interface import Capabilities
from nemesis.kind import Cluster, DrawContext
from nemesis.profiles import PROFILES
from nemesis.runner import Nemesis
from nemesis.schedule import FaultStep
from systems import registry
from tests.helpers.nemesis_fakes import FakeWorld, History

ROOT = Path(__file__).resolve().parents[1]
NODES = ("n1", "n2", "n3", "n4", "n5")
GROUPS = ("c0", "c1")
EVERYTHING = Capabilities(can_lose_power=True)

# How the fake world shows each effect a kind can leave; a new effect needs a line here.
SHOWN: dict[str, Callable[[FakeWorld], set[Any]]] = {
    "cut": lambda w: set(w.cut_links),
    "latency": lambda w: set(w.latent),
    "killed": lambda w: set(w.down),
    "paused": lambda w: set(w.paused),
}


def context(profile: str = "harsh", caps: Capabilities = EVERYTHING) -> DrawContext:
    return DrawContext(Cluster(NODES, GROUPS), PROFILES[profile], caps, seed=7)


def test_every_effect_a_kind_leaves_is_one_the_fake_world_shows() -> None:
    assert {effect.name for effect in EFFECTS} == set(SHOWN)
    assert [e.heal_rank for e in EFFECTS] == sorted(e.heal_rank for e in EFFECTS)


@pytest.mark.parametrize("name", list(FAULT_KINDS))
def test_every_kind_is_drawn_checked_started_and_undone_against_a_fake_cluster(name: str) -> None:
    kind = FAULT_KINDS[name]
    assert kind.name == name and kind.description and kind.colour and kind.label
    assert kind.lacks(EVERYTHING) is None
    kind.can_draw(context())

    async def main() -> None:
        for seed in range(25):
            world = FakeWorld(NODES, GROUPS, primary=NODES[seed % len(NODES)])
            history = History()
            nemesis = Nemesis(world, world, history.record, clock=history.clock)
            params = kind.draw(context(), random.Random(seed))
            kind.check(params, Cluster(NODES, GROUPS))
            step = FaultStep(0, name, 1, params)
            assert kind.words(params) in step.words()
            undo = await nemesis.start(step, NODES, GROUPS)
            held = nemesis.in_effect.held(kind.effect.name)
            assert held and SHOWN[kind.effect.name](world) == held
            (invoke, done) = history.ops
            assert (invoke["f"], done["f"], done["type"]) == (kind.start_f, kind.start_f, "ok")
            assert await undo() is True
            assert world.whole() and nemesis.in_effect.empty()
            assert [op["f"] for op in history.ops[2:]] == [kind.undo_f, kind.undo_f]
            nemesis.close()

    asyncio.run(main())


@pytest.mark.parametrize("name", list(FAULT_KINDS))
def test_a_kind_refuses_params_that_do_not_fit_the_cluster(name: str) -> None:
    kind = FAULT_KINDS[name]
    params = kind.draw(context(), random.Random(1))
    with pytest.raises((KeyError, TypeError, ValueError)):
        kind.check(params, Cluster(("x1", "x2", "x3"), ("g0",)))


def test_a_kind_the_system_cannot_take_says_why_naming_the_system() -> None:
    nothing = Capabilities(
        system="sys", has_primary=False, can_kill=False, can_pause=False, can_lose_power=False
    )
    reasons = {name: kind.lacks(nothing) for name, kind in FAULT_KINDS.items()}
    assert {name for name, why in reasons.items() if why} == {"kill", "pause", "power-loss"}
    assert all("sys cannot" in why for why in reasons.values() if why)


def _string_constants(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }


def test_the_schedule_the_runner_and_the_comparison_only_look_kinds_up() -> None:
    spelled = set(FAULT_KINDS) | {k.start_f for k in FAULT_KINDS.values()} | faults.UNDO_FS
    spelled |= {effect.name for effect in EFFECTS}
    for module in ("runner.py", "schedule.py", "ran.py", "search.py"):
        named = _string_constants(ROOT / "nemesis" / module) & spelled
        assert not named, f"nemesis/{module} names fault kinds {sorted(named)}"


def test_the_check_above_fires_on_a_planted_kind(tmp_path: Path) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text('if step.kind == "kill":\n    pass\n')
    assert "kill" in _string_constants(planted)


def run_one(step: FaultStep, caps: Capabilities) -> tuple[FakeWorld, list[dict[str, Any]]]:
    world, history = FakeWorld(("n1", "n2", "n3"), ("c0",)), History()

    async def main() -> None:
        nemesis = Nemesis(world, world, history.record, clock=history.clock, capabilities=caps)
        await nemesis.start(step, world.nodes, world.client_groups)
        nemesis.close()

    asyncio.run(main())
    return world, history.ops


ONE_WAY = FaultStep(0, "latency", 1, {"links": [["n1", "n2"], ["c0", "n2"]], "ms": 50})


def test_with_pair_links_a_one_way_change_is_made_to_both_directions_of_a_node_pair() -> None:
    world, ops = run_one(ONE_WAY, Capabilities(pair_links=True))
    assert set(world.latent) == {("n1", "n2"), ("n2", "n1"), ("c0", "n2")}
    assert ops[0]["value"]["links"] == [["c0", "n2"], ["n1", "n2"], ["n2", "n1"]]
    world, ops = run_one(ONE_WAY, Capabilities())
    assert set(world.latent) == {("n1", "n2"), ("c0", "n2")}


def test_nats_declares_pair_links_and_the_harness_hands_it_to_the_nemesis() -> None:
    system = registry.create("nats", {})
    caps = nemesis_capabilities(RunConfig(system="nats"), system.capabilities)
    assert caps.pair_links is True
    reference = registry.create("reference", {})
    assert nemesis_capabilities(RunConfig(), reference.capabilities).pair_links is False


def test_power_loss_on_a_target_without_power_loss_is_recorded_info_saying_what_to_do() -> None:
    class NoPower(FakeWorld):
        power_loss = None  # type: ignore[assignment]

    world, history = NoPower(("n1", "n2", "n3"), ("c0",)), History()
    step = FaultStep(0, "power-loss", 1, {"choose": "random", "node": "n2"})

    async def main() -> None:
        nemesis = Nemesis(world, world, history.record, clock=history.clock)
        await nemesis.start(step, world.nodes, world.client_groups)
        nemesis.close()

    asyncio.run(main())
    done = history.ops[1]
    assert done["type"] == "info" and "cannot lose power" in done["error"]
    assert "drop the power-loss kind" in done["error"]


def test_run_wide_draws_are_the_same_for_every_step_of_a_run_and_leave_the_step_rng_alone() -> None:
    ctx = context()
    first = ctx.run_rng("disk").sample(NODES, 2)
    assert ctx.run_rng("disk").sample(NODES, 2) == first
    rng = random.Random(3)
    before = rng.getstate()
    ctx.run_rng("disk").random()
    assert rng.getstate() == before
