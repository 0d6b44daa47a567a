"""The Nemesis runner: process faults against a fake target, network faults through a real
Toxiproxy, every fault recorded as history operations."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nemesis.interface import Target
from nemesis.proxies import ProxyControl, ToxiproxyNetwork
from nemesis.runner import Nemesis
from nemesis.schedule import FaultStep, Schedule
from nemesis.toxiproxy_server import ToxiproxyServer
from tests.helpers.link_proxies import cluster_links, link_proxies
from tests.helpers.nemesis_fakes import History

NODES = ("n1", "n2", "n3")
CLIENTS = ("c0", "c1")
LINKS = cluster_links(NODES, CLIENTS)


class FakeTarget:
    """Records process faults; ``fail`` names methods that raise."""

    def __init__(self, primary: str | None = "n2", fail: tuple[str, ...] = ()) -> None:
        self.nodes = NODES
        self.client_groups = CLIENTS
        self.calls: list[tuple[str, str]] = []
        self._primary = primary
        self._fail = fail

    def _call(self, what: str, node: str) -> None:
        self.calls.append((what, node))
        if what in self._fail:
            raise OSError(f"{what} {node}: no such process")

    def kill(self, node: str) -> None:
        self._call("kill", node)

    def restart(self, node: str) -> None:
        self._call("restart", node)

    def pause(self, node: str) -> None:
        self._call("pause", node)

    def resume(self, node: str) -> None:
        self._call("resume", node)

    def primary(self) -> str | None:
        return self._primary


def nemesis_for(target: Any, proxies: ProxyControl, history: History, **kwargs: Any) -> Nemesis:
    """A nemesis over ``target`` and the Toxiproxy network of ``proxies``, recording into
    ``history``."""
    return Nemesis(target, ToxiproxyNetwork(proxies), history.record, clock=history.clock, **kwargs)


def step(kind: str, at: float, duration: float, **params: Any) -> FaultStep:
    return FaultStep(at, kind, duration, params)


@pytest.fixture
def control(toxiproxy: ToxiproxyServer) -> Iterator[ProxyControl]:
    """Every link of a 3-node, 2-client-group cluster, each proxying to a closed port."""
    with link_proxies(toxiproxy.url, LINKS) as pc:
        yield pc


def schedule(*steps: FaultStep) -> Schedule:
    return Schedule(tuple(steps), NODES, CLIENTS, time_limit=60)


def toxic_state(pc: ProxyControl) -> dict[str, tuple[bool, tuple[str, ...]]]:
    return {
        name: (p.enabled, p.toxics) for name, p in pc.list().items() if p.toxics or not p.enabled
    }


def test_a_fake_target_satisfies_the_protocol():
    target: Target = FakeTarget()
    assert target.nodes == NODES


def test_a_partition_cuts_its_links_for_its_duration_and_is_recorded(control: ProxyControl):
    history, target = History(), FakeTarget()
    seen: list[dict] = []
    history.on_record = lambda op: op["type"] == "ok" and seen.append(toxic_state(control))
    params = {"shape": "one-alone", "groups": [["n3"], ["n1", "n2"]], "clients": {"c0": 0, "c1": 1}}
    nemesis = nemesis_for(target, control, history, partition_mode="drop")
    asyncio.run(nemesis.run(schedule(FaultStep(0.05, "partition", 1.0, params))))

    assert history.pairs() == [
        ("invoke", "partition"),
        ("ok", "partition"),
        ("invoke", "heal"),
        ("ok", "heal"),
    ]
    value = history.ops[1]["value"]
    assert value["groups"] == [["n3"], ["n1", "n2"]] and value["mode"] == "drop"
    assert value["clients"] == {"c0": ["n3"], "c1": ["n1", "n2"]}
    expected = {"n1-n3", "n2-n3", "n3-n1", "n3-n2", "c0-n1", "c0-n2", "c1-n3"}
    cut = (True, ("splitbrain-cut-down", "splitbrain-cut-up"))
    assert seen[0] == dict.fromkeys(expected, cut)
    assert sorted(map(tuple, value["links_cut"])) == sorted(tuple(n.split("-")) for n in expected)
    assert seen[1] == {}
    assert history.ops[2]["value"] == {"links": value["links_cut"]}
    assert history.ops[1]["time"] >= 0.05e9 and history.ops[3]["time"] >= 0.25e9
    assert json.loads(json.dumps(history.ops)) == history.ops
    assert nemesis.in_effect.empty()


def test_refuse_mode_and_primary_alone_ask_the_cluster(control: ProxyControl):
    history, target = History(), FakeTarget(primary="n1")
    seen: list[dict] = []
    history.on_record = lambda op: op["type"] == "ok" and seen.append(toxic_state(control))
    params = {"shape": "primary-alone", "node": "n3", "clients": {"c0": 1, "c1": 1}}
    nemesis = nemesis_for(target, control, history, partition_mode="refuse")
    asyncio.run(nemesis.run(schedule(FaultStep(0, "partition", 0.05, params))))
    assert history.ops[1]["value"]["groups"] == [["n1"], ["n2", "n3"]]
    assert set(seen[0]) == {"n1-n2", "n1-n3", "n2-n1", "n3-n1", "c0-n1", "c1-n1"}
    assert all(state == (False, ()) for state in seen[0].values())
    assert seen[1] == {}


def test_process_faults_and_latency_in_order(control: ProxyControl):
    history, target = History(), FakeTarget(primary=None)
    latency = {"links": [["n1", "n2"], ["c0", "n2"]], "ms": 100, "jitter": 20}
    seen: list[dict] = []
    history.on_record = lambda op: op["f"] == "latency" and seen.append(toxic_state(control))
    steps = (
        FaultStep(0, "kill", 0.05, {"choose": "primary", "node": "n3"}),
        FaultStep(0.1, "pause", 0.05, {"choose": "random", "node": "n1"}),
        FaultStep(0.2, "latency", 0.05, latency),
    )
    asyncio.run(nemesis_for(target, control, history).run(schedule(*steps)))
    assert target.calls == [("kill", "n3"), ("restart", "n3"), ("pause", "n1"), ("resume", "n1")]
    fs = [f for t, f in history.pairs() if t == "ok"]
    assert fs == ["kill", "restart", "pause", "resume", "latency", "clear-latency"]
    assert history.ops[1]["value"] == {"nodes": ["n3"]}
    assert history.ops[9]["value"] == {
        "links": [["c0", "n2"], ["n1", "n2"]],
        "ms": 100,
        "jitter": 20,
    }
    both = ("splitbrain-latency-down", "splitbrain-latency-up")
    assert seen[1] == {"n1-n2": (True, both), "c0-n2": (True, both)}
    assert toxic_state(control) == {}


def test_a_fault_that_fails_is_recorded_info_and_the_run_goes_on(control: ProxyControl):
    history, target = History(), FakeTarget(fail=("kill",))
    steps = (
        FaultStep(0, "kill", 0.05, {"choose": "random", "node": "n2"}),
        FaultStep(0.1, "latency", 0.05, {"links": [["n1", "c0"]], "ms": 5}),
        FaultStep(0.2, "pause", 0.05, {"choose": "random", "node": "n1"}),
    )
    nemesis = nemesis_for(target, control, history)
    asyncio.run(nemesis.run(schedule(*steps)))
    outcomes = {(op["f"], op["step"]): op for op in history.ops if op["type"] != "invoke"}
    kill = outcomes[("kill", 0)]
    assert kill["type"] == "info" and "n2: OSError: kill n2: no such process" in kill["error"]
    latency = outcomes[("latency", 1)]
    assert latency["type"] == "info" and "'n1-c0'" in latency["error"]
    assert ("resume", "n1") in target.calls and ("restart", "n2") in target.calls


def test_stop_heals_and_heal_all_is_idempotent(control: ProxyControl):
    history, target = History(), FakeTarget()
    params = {"shape": "halves", "groups": [["n1"], ["n2", "n3"]], "clients": {}}
    nemesis = nemesis_for(target, control, history)

    async def main() -> None:
        stop = asyncio.Event()
        run = asyncio.create_task(
            nemesis.run(schedule(FaultStep(0, "partition", 30, params)), stop=stop)
        )
        await asyncio.sleep(0.2)
        assert toxic_state(control)
        stop.set()
        await asyncio.wait_for(run, 5)

    asyncio.run(main())
    assert history.pairs()[-2:] == [("invoke", "heal"), ("ok", "heal")]
    assert toxic_state(control) == {}
    count = len(history.ops)
    assert asyncio.run(nemesis.heal_all()) is True
    assert len(history.ops) == count


def test_heal_all_after_cancellation_undoes_every_fault(control: ProxyControl):
    history, target = History(), FakeTarget()
    nemesis = nemesis_for(target, control, history)

    async def main() -> None:
        await nemesis.start(step("kill", 0, 1, choose="random", node="n1"), NODES, CLIENTS)
        await nemesis.start(step("pause", 0, 1, choose="random", node="n2"), NODES, CLIENTS)
        latency = step("latency", 0, 1, links=[["n3", "n1"]], ms=50, jitter=5)
        await nemesis.start(latency, NODES, CLIENTS)
        run = asyncio.create_task(
            nemesis.run(
                schedule(
                    FaultStep(
                        0, "partition", 30, {"shape": "bridge", "groups": [["n1"], ["n2"], ["n3"]]}
                    )
                )
            )
        )
        await asyncio.sleep(0.2)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        assert await nemesis.heal_all() is True

    asyncio.run(main())
    invoked = [f for t, f in history.pairs()[-8:] if t == "invoke"]
    assert invoked == ["heal", "clear-latency", "resume", "restart"]  # the network first
    assert sorted(f for t, f in history.pairs()[-8:] if t == "ok") == sorted(invoked)
    assert set(target.calls[-2:]) == {("resume", "n2"), ("restart", "n1")}
    assert toxic_state(control) == {}
    assert nemesis.in_effect.empty()


def test_a_schedule_for_another_cluster_is_refused_before_any_fault():
    history = History()
    nemesis = nemesis_for(FakeTarget(), ProxyControl("http://127.0.0.1:9"), history)
    other = Schedule((), ("n1", "n2"), CLIENTS, 60)
    with pytest.raises(ValueError, match=r"nodes \['n1', 'n2'\].*same node count"):
        asyncio.run(nemesis.run(other))
    assert history.ops == []


def test_a_failed_undo_stays_in_effect_for_a_retry(tmp_path: Path):
    history, target = History(), FakeTarget(fail=("restart",))
    nemesis = nemesis_for(target, ProxyControl("http://127.0.0.1:9", timeout=0.5), history)

    async def main() -> None:
        await nemesis.start(step("kill", 0, 1, choose="random", node="n1"), NODES, CLIENTS)
        assert await nemesis.heal_all() is False
        assert await nemesis.heal_all() is False

    asyncio.run(main())
    assert target.calls == [("kill", "n1"), ("restart", "n1"), ("restart", "n1")]
    assert nemesis.in_effect.owed("killed") == {"n1"}


def test_an_undo_not_confirmed_in_its_bound_is_recorded_and_done_again_by_heal_all():
    release = threading.Event()

    class SlowResume(FakeTarget):
        def resume(self, node: str) -> None:  # the first call hangs, as a wedged server would
            super().resume(node)
            if len(self.calls) == 2:
                release.wait(10)

    history, target = History(), SlowResume()
    proxies = ProxyControl("http://127.0.0.1:9", timeout=0.5)
    nemesis = nemesis_for(target, proxies, history, bound=0.2)

    async def main() -> None:
        undo = await nemesis.start(step("pause", 0, 1, choose="random", node="n2"), NODES, CLIENTS)
        assert await asyncio.wait_for(undo(), 2) is False  # recorded once its bound passed
        assert nemesis.in_effect.owed("paused") == {"n2"}
        release.set()
        assert await nemesis.heal_all() is True

    asyncio.run(main())
    resumes = [("invoke", "resume"), ("info", "resume"), ("invoke", "resume"), ("ok", "resume")]
    assert history.pairs()[2:] == resumes
    assert "not confirmed within 0.2 s: 1 of 1 still in progress: n2" in history.ops[3]["error"]
    assert target.calls == [("pause", "n2"), ("resume", "n2"), ("resume", "n2")]


def test_overlapping_faults_run_together_and_an_undo_keeps_what_another_fault_holds(
    control: ProxyControl,
):
    history, target = History(), FakeTarget(primary="n2")
    seen: list[dict] = []
    history.on_record = lambda op: op["type"] == "ok" and seen.append(toxic_state(control))
    alone = {"shape": "one-alone", "groups": [["n3"], ["n1", "n2"]], "clients": {"c0": 1, "c1": 1}}
    latency = {"choose": "primary", "node": "n1", "links": [["n1", "n3"]], "ms": 40, "jitter": 0}
    steps = (
        FaultStep(0.0, "partition", 0.6, alone),
        FaultStep(0.1, "kill", 0.3, {"choose": "majority", "nodes": ["n1", "n3"]}),
        FaultStep(0.15, "latency", 0.1, latency),
        FaultStep(0.2, "kill", 0.3, {"choose": "primary", "node": "n3"}),
    )
    nemesis = nemesis_for(target, control, history)
    asyncio.run(nemesis.run(schedule(*steps)))
    oks = [(op["f"], op["value"].get("nodes")) for op in history.ops if op["type"] == "ok"]
    assert oks == [
        ("partition", None),
        ("kill", ["n1", "n2"]),  # the majority with the primary swapped in
        ("latency", None),
        ("kill", ["n2"]),
        ("clear-latency", None),
        ("restart", ["n1"]),  # n2 is still held by the second kill
        ("restart", ["n2"]),
        ("heal", None),
    ]
    up = "splitbrain-latency-up"
    latency_on = {name for name, (_, toxics) in seen[2].items() if up in toxics}
    assert latency_on == {"n2-n1", "n2-n3", "n1-n2", "n3-n2", "c0-n2", "c1-n2"}
    assert toxic_state(control) == {} and nemesis.in_effect.empty()
