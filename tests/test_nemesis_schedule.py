"""Seeded fault schedules: deterministic, JSON round-trip, non-overlapping, shrinkable (pure)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nemesis.catalogue import KINDS
from nemesis.schedule import FaultStep, Schedule, generate_schedule

NODES = ("n1", "n2", "n3", "n4", "n5")


@st.composite
def arguments(draw):
    n = draw(st.integers(min_value=2, max_value=6))
    return {
        "seed": draw(st.integers(min_value=0, max_value=2**63)),
        "kinds": draw(st.lists(st.sampled_from(list(KINDS)), min_size=1, unique=True)),
        "nodes": tuple(f"n{i}" for i in range(1, n + 1)),
        "client_groups": tuple(f"c{i}" for i in range(draw(st.integers(0, 3)))),
        "time_limit": draw(st.floats(min_value=0, max_value=300)),
        "interval": draw(st.floats(min_value=0.5, max_value=15)),
        "partition_mode": draw(st.sampled_from(["drop", "refuse"])),
    }


@given(arguments())
def test_a_schedule_is_a_pure_function_of_its_arguments(args):
    assert generate_schedule(**args) == generate_schedule(**args)


@given(arguments())
def test_a_schedule_survives_a_json_round_trip(args):
    schedule = generate_schedule(**args)
    text = json.dumps(schedule.to_json())
    assert Schedule.from_json(json.loads(text)) == schedule
    assert Schedule.from_json(text).to_json() == schedule.to_json()


@given(arguments())
def test_faults_are_healed_before_the_next_and_leave_a_quiet_end(args):
    schedule = generate_schedule(**args)
    interval = args["interval"]
    previous_end = 0.0
    for step in schedule.steps:
        assert step.kind in args["kinds"]
        assert step.at >= previous_end + interval * 0.5 - 1e-3
        assert interval * 0.5 - 1e-3 <= step.duration <= interval + 1e-3
        previous_end = step.end
    assert previous_end <= args["time_limit"] - interval + 1e-9 or not schedule.steps


@given(arguments())
def test_kinds_take_turns(args):
    steps = generate_schedule(**args).steps
    k = len(args["kinds"])
    if len(steps) >= k:
        assert sorted(s.kind for s in steps[:k]) == sorted(args["kinds"])


@given(arguments(), st.data())
def test_any_sub_list_of_a_schedule_is_a_valid_schedule(args, data):
    schedule = generate_schedule(**args)
    keep = data.draw(st.lists(st.booleans(), min_size=len(schedule.steps)))
    sub = schedule.with_steps(s for s, k in zip(schedule.steps, keep, strict=False) if k)
    assert Schedule.from_json(json.loads(json.dumps(sub.to_json()))) == sub


def test_seeds_give_different_schedules():
    schedules = {
        json.dumps(generate_schedule(seed, list(KINDS), NODES, ("c0",), 120, 8).to_json()["steps"])
        for seed in range(5)
    }
    assert len(schedules) == 5


def test_steps_name_concrete_targets():
    schedule = generate_schedule(7, list(KINDS), NODES, ("c0", "c1"), 600, 5, "refuse")
    by_kind = {s.kind: s.params for s in schedule.steps}
    assert set(by_kind) == set(KINDS)
    assert by_kind["partition"]["mode"] == "refuse"
    assert set(by_kind["partition"]["clients"]) == {"c0", "c1"}
    assert by_kind["kill"]["node"] in NODES and by_kind["kill"]["choose"] in ("primary", "random")
    latency = by_kind["latency"]
    assert latency["ms"] > 0 and [latency["node"], "n1"] in latency["links"] + [["n1", "n1"]]
    assert ["c1", latency["node"]] in latency["links"]


def _schedule(*steps: FaultStep, time_limit: float = 30) -> Schedule:
    return Schedule(tuple(steps), NODES, ("c0",), time_limit)


KILL = {"choose": "random", "node": "n1"}


@pytest.mark.parametrize(
    ("steps", "message"),
    [
        ((FaultStep(1, "kill", 5, KILL), FaultStep(4, "kill", 1, KILL)), "step 1.*previous"),
        ((FaultStep(28, "kill", 5, KILL),), "time limit"),
        ((FaultStep(1, "explode", 1, {}),), "partition, kill, pause, latency"),
        ((FaultStep(1, "kill", 1, {"choose": "random", "node": "n9"}),), "bad params"),
        ((FaultStep(1, "partition", 1, {"shape": "halves", "groups": [["n1"]]}),), "bad params"),
        ((FaultStep(1, "latency", 1, {"links": [["n1", "x"]], "ms": 5}),), "bad params"),
    ],
)
def test_invalid_schedules_are_refused_naming_the_step(steps, message):
    with pytest.raises(ValueError, match=message):
        _schedule(*steps)


def test_generation_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match="valid nemesis kinds"):
        generate_schedule(1, "partition,flood", NODES, (), 60)
    with pytest.raises(ValueError, match="at least 2 nodes"):
        generate_schedule(1, "partition", ("n1",), (), 60)
    with pytest.raises(ValueError, match="version"):
        Schedule.from_json({"version": 99, "steps": []})
    assert generate_schedule(1, "kill", ("n1",), (), 60, 5).steps
    assert not generate_schedule(1, "", NODES, (), 60).steps


@given(
    st.integers(0, 2**32),
    st.lists(st.sampled_from(["one-alone", "primary-alone", "halves", "bridge"]), min_size=1),
)
def test_partitions_are_drawn_only_from_the_shapes_asked_for(seed, shapes):
    nodes = ("n1", "n2", "n3", "n4", "n5")
    schedule = generate_schedule(
        seed, ("partition",), nodes, ("c0", "c1"), 60.0, interval=2.0, shapes=shapes
    )
    assert schedule.steps
    assert {step.params["shape"] for step in schedule.steps} <= set(shapes)
    assert Schedule.from_json(schedule.to_json()) == schedule


def test_every_shape_by_default_and_the_same_steps_as_before_shapes_existed():
    nodes = ("n1", "n2", "n3")
    default = generate_schedule(4, ("partition",), nodes, ("c0",), 200.0, interval=2.0)
    assert len({step.params["shape"] for step in default.steps}) >= 3
    explicit = generate_schedule(4, ("partition",), nodes, ("c0",), 200.0, interval=2.0, shapes=())
    assert explicit == default


def test_an_unknown_or_unusable_shape_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="majorities-ring"):
        generate_schedule(1, ("partition",), ("n1", "n2", "n3"), (), 60.0, shapes=("square",))
    with pytest.raises(ValueError, match="more nodes or other shapes"):
        generate_schedule(1, ("partition",), ("n1", "n2"), (), 60.0, shapes=("bridge",))
