"""What ran against what was planned (nemesis.ran): read from the history's nemesis ops alone, with
every difference said with its size and its reason."""

from __future__ import annotations

import json
from typing import Any

from nemesis.ran import compare
from nemesis.schedule import FaultStep, Schedule

NODES = ("n1", "n2", "n3")
KILL = {"choose": "random", "node": "n1"}
ZERO = 0.5  # the nemesis started half a second into the history


def op(at: float, type_: str, f: str, step: int | None, planned: float | None = None, **extra: Any):
    line: dict[str, Any] = {
        "time": round((ZERO + at) * 1e9),
        "process": "nemesis",
        "type": type_,
        "f": f,
        "value": {"nodes": ["n1"]},
        "step": step,
    }
    if planned is not None:
        line["planned"] = round((ZERO + planned) * 1e9)
    return {**line, **extra}


def schedule(*steps: FaultStep) -> Schedule:
    return Schedule(tuple(steps), NODES, ("c0",), time_limit=10)


def ran_as_planned(index: int, at: float, duration: float, f: str = "kill", undo: str = "restart"):
    return [
        op(at + 0.002, "invoke", f, index, at),
        op(at + 0.004, "ok", f, index),
        op(at + duration + 0.001, "invoke", undo, index, at + duration),
        op(at + duration + 0.003, "ok", undo, index),
    ]


def test_a_run_that_kept_to_its_plan_says_so() -> None:
    plan = schedule(FaultStep(1, "kill", 1, KILL), FaultStep(3, "pause", 1, KILL))
    ops = ran_as_planned(0, 1, 1) + ran_as_planned(1, 3, 1, "pause", "resume")
    ran = compare(plan, ops)
    assert ran.as_planned and ran.differences() == []
    assert ran.latest_start_ms() == 2.0
    assert ran.words().startswith("fault schedule: all 2 planned faults ran as planned")
    data = json.loads(json.dumps(ran.to_json()))
    assert (data["planned"], data["started"], data["on_time"]) == (2, 2, 2)
    assert data["steps"][1]["start"]["late_ms"] == 2.0 and data["steps"][1]["undo"]["f"] == "resume"


def test_a_late_unconfirmed_start_and_a_step_that_never_ran_are_said_with_their_reasons() -> None:
    plan = schedule(
        FaultStep(1, "kill", 1, KILL),
        FaultStep(3, "kill", 1, KILL),
        FaultStep(9, "kill", 0.5, KILL),
    )
    why = "asking the cluster for its primary took 512 ms"
    ops = [
        *ran_as_planned(0, 1, 1),
        op(3.52, "invoke", "kill", 1, 3, why_late=why),
        op(6.52, "info", "kill", 1, error="not confirmed within 3 s: 1 of 1 still in progress: n1"),
        op(4.001, "invoke", "restart", 1, 4),
        op(4.01, "ok", "restart", 1),
        {"time": round(7e9), "process": "harness", "type": "invoke", "f": "drain", "value": None},
    ]
    ran = compare(plan, sorted(ops, key=lambda o: o["time"]))
    assert not ran.as_planned
    (late, never) = ran.differences()
    assert late.startswith("step 1 (kill at 3 s): start 520 ms late (" + why + ")")
    assert "start not confirmed: not confirmed within 3 s" in late
    assert never == (
        "step 2 (kill at 9 s): never started: the run stopped before its time; the final heal "
        "undid what was left"
    )
    assert "2 of 3 planned faults started, 1 within 100 ms" in ran.words()


def test_a_step_whose_undo_found_everything_still_held_by_an_overlapping_one() -> None:
    plan = schedule(FaultStep(1, "kill", 1, KILL), FaultStep(1.5, "kill", 1.5, KILL))
    ops = [
        *ran_as_planned(1, 1.5, 1.5)[:2],
        *ran_as_planned(0, 1, 1)[:2],
        *ran_as_planned(1, 1.5, 1.5)[2:],
    ]
    ran = compare(plan, sorted(ops, key=lambda o: o["time"]))
    assert ran.steps[0].undo is None
    assert ran.differences() == [
        "step 0 (kill at 1 s): no undo of its own: at its end step 1 still held all it held, so "
        "it was undone with that"
    ]


def test_a_history_from_before_ops_carried_their_step_is_not_matched() -> None:
    plan = schedule(FaultStep(1, "kill", 1, KILL))
    ops = [{**o, "step": None} for o in ran_as_planned(0, 1, 1)]
    ran = compare(plan, ops)
    assert not ran.recorded and not ran.as_planned
    assert "does not say which op belongs to which step" in ran.words()
    assert ran.ran_schedule(plan) == plan
    assert compare(schedule(), []).as_planned  # nothing planned, nothing to match


def test_the_schedule_that_ran_drops_what_never_started_and_keeps_late_steps_where_they_ran():
    plan = schedule(
        FaultStep(1, "kill", 1, KILL),
        FaultStep(3, "kill", 1, KILL),
        FaultStep(9, "kill", 0.5, KILL),
    )
    late = [
        op(4.5, "invoke", "kill", 1, 3),
        op(4.51, "ok", "kill", 1),
        op(5.2, "invoke", "restart", 1, 4),
        op(5.21, "ok", "restart", 1),
    ]
    ops = ran_as_planned(0, 1, 1) + late + [op(7, "ok", "drain", None)]
    ran = compare(plan, ops).ran_schedule(plan)
    assert [(s.at, s.duration) for s in ran.steps] == [(1, 1), (4.5, 0.7)]
    assert ran.with_steps(ran.steps) == ran  # a valid schedule
