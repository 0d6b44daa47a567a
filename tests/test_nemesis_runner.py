"""The Nemesis runner: process faults against a fake target, network faults through a real
Toxiproxy, every fault recorded as history operations."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nemesis.interface import Target, proxy_name
from nemesis.proxies import ProxyControl
from nemesis.runner import Nemesis
from nemesis.schedule import FaultStep, Schedule
from nemesis.toxiproxy_server import ToxiproxyServer

NODES = ("n1", "n2", "n3")
CLIENTS = ("c0", "c1")
LINKS = [(a, b) for a in NODES for b in NODES if a != b] + [(c, n) for c in CLIENTS for n in NODES]


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


class History:
    """A stand-in for Recorder.record that keeps operations in memory, thread-safe."""

    def __init__(self) -> None:
        self.ops: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._start = time.monotonic()
        self.on_record: Any = None

    def record(self, process: int | str, type: str, f: str, value: Any, **extra: Any) -> dict:
        op = {"time": time.monotonic() - self._start, "process": process, "type": type, "f": f}
        op.update(value=value, **{k: v for k, v in extra.items() if v is not None})
        with self._lock:
            op["index"] = len(self.ops)
            self.ops.append(op)
        if self.on_record:
            self.on_record(op)
        return op

    def pairs(self) -> list[tuple[str, str]]:
        return [(op["type"], op["f"]) for op in self.ops]


@pytest.fixture
def control(toxiproxy: ToxiproxyServer) -> Iterator[ProxyControl]:
    """Every link of a 3-node, 2-client-group cluster, each proxying to a closed port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        upstream = f"127.0.0.1:{sock.getsockname()[1]}"
    with ProxyControl(toxiproxy.url, timeout=2.0) as pc:
        for src, dst in LINKS:
            pc.create(proxy_name(src, dst), "127.0.0.1:0", upstream)
        yield pc
        pc.delete_all()


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
    nemesis = Nemesis(target, control, history.record, partition_mode="drop")
    asyncio.run(nemesis.run(schedule(FaultStep(0.05, "partition", 0.2, params))))

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
    assert history.ops[1]["time"] >= 0.05 and history.ops[3]["time"] >= 0.25
    assert json.loads(json.dumps(history.ops)) == history.ops
    assert nemesis.in_effect.empty()


def test_refuse_mode_and_primary_alone_ask_the_cluster(control: ProxyControl):
    history, target = History(), FakeTarget(primary="n1")
    seen: list[dict] = []
    history.on_record = lambda op: op["type"] == "ok" and seen.append(toxic_state(control))
    params = {"shape": "primary-alone", "node": "n3", "clients": {"c0": 1, "c1": 1}}
    nemesis = Nemesis(target, control, history.record, partition_mode="refuse")
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
    asyncio.run(Nemesis(target, control, history.record).run(schedule(*steps)))
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
        FaultStep(0, "kill", 0.01, {"choose": "random", "node": "n2"}),
        FaultStep(0.02, "latency", 0.01, {"links": [["n1", "c0"]], "ms": 5}),
        FaultStep(0.04, "pause", 0.01, {"choose": "random", "node": "n1"}),
    )
    nemesis = Nemesis(target, control, history.record)
    asyncio.run(nemesis.run(schedule(*steps)))
    kill = history.ops[1]
    assert (kill["type"], kill["f"]) == ("info", "kill") and "no such process" in kill["error"]
    latency = history.ops[5]
    assert latency["type"] == "info" and "'n1-c0'" in latency["error"]
    assert ("resume", "n1") in target.calls and ("restart", "n2") in target.calls


def test_stop_heals_and_heal_all_is_idempotent(control: ProxyControl):
    history, target = History(), FakeTarget()
    params = {"shape": "halves", "groups": [["n1"], ["n2", "n3"]], "clients": {}}
    nemesis = Nemesis(target, control, history.record)

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
    nemesis = Nemesis(target, control, history.record)

    async def main() -> None:
        await nemesis.kill("n1")
        await nemesis.pause("n2")
        await nemesis.latency({("n3", "n1")}, 50, 5)
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
    tail = [f for t, f in history.pairs()[-8:] if t == "ok"]
    assert tail == ["heal", "clear-latency", "resume", "restart"]
    assert target.calls[-2:] == [("resume", "n2"), ("restart", "n1")]
    assert toxic_state(control) == {}
    assert nemesis.in_effect.empty()


def test_a_schedule_for_another_cluster_is_refused_before_any_fault():
    history = History()
    nemesis = Nemesis(FakeTarget(), ProxyControl("http://127.0.0.1:9"), history.record)
    other = Schedule((), ("n1", "n2"), CLIENTS, 60)
    with pytest.raises(ValueError, match=r"nodes \['n1', 'n2'\].*same node count"):
        asyncio.run(nemesis.run(other))
    assert history.ops == []


def test_a_failed_undo_stays_in_effect_for_a_retry(tmp_path: Path):
    history, target = History(), FakeTarget(fail=("restart",))
    nemesis = Nemesis(target, ProxyControl("http://127.0.0.1:9", timeout=0.5), history.record)

    async def main() -> None:
        await nemesis.kill("n1")
        assert await nemesis.heal_all() is False
        assert await nemesis.heal_all() is False

    asyncio.run(main())
    assert target.calls == [("kill", "n1"), ("restart", "n1"), ("restart", "n1")]
    assert nemesis.in_effect.killed == {"n1"}


def test_an_undo_interrupted_by_the_end_of_the_run_is_recorded_and_done_again_by_heal_all():
    release = threading.Event()

    class SlowResume(FakeTarget):
        def resume(self, node: str) -> None:  # the first call hangs, as a wedged server would
            super().resume(node)
            if len(self.calls) == 2:
                release.wait(10)

    history, target = History(), SlowResume()
    nemesis = Nemesis(target, ProxyControl("http://127.0.0.1:9", timeout=0.5), history.record)

    async def main() -> None:
        await nemesis.pause("n2")
        undo = asyncio.create_task(nemesis.resume("n2"))
        await asyncio.sleep(0.2)
        undo.cancel()
        with pytest.raises(asyncio.CancelledError):
            await undo
        assert nemesis.in_effect.paused == {"n2"}
        release.set()
        assert await nemesis.heal_all() is True

    asyncio.run(main())
    resumes = [("invoke", "resume"), ("info", "resume"), ("invoke", "resume"), ("ok", "resume")]
    assert history.pairs()[2:] == resumes
    assert "interrupted" in history.ops[3]["error"]
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
    nemesis = Nemesis(target, control, history.record)
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
