"""Seeded fault schedules: deterministic, JSON round-trip, shrinkable; the gentle profile never
overlaps faults (pure)."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nemesis.catalogue import KINDS
from nemesis.interface import Capabilities
from nemesis.schedule import FaultStep, Schedule, generate_schedule

ALL = Capabilities(can_lose_power=True)

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
        "profile": "gentle",
        "capabilities": ALL,
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
def test_gentle_faults_are_healed_before_the_next_and_leave_a_quiet_end(args):
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
        json.dumps(generate_schedule(seed, None, NODES, ("c0",), 120).to_json()["steps"])
        for seed in range(5)
    }
    assert len(schedules) == 5


def test_steps_name_concrete_targets():
    schedule = generate_schedule(
        7, list(KINDS), NODES, ("c0", "c1"), 600, 5, "refuse", profile="gentle", capabilities=ALL
    )
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
        ((FaultStep(4, "kill", 5, KILL), FaultStep(1, "kill", 1, KILL)), "step 1.*ordered"),
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


# --- profiles and capabilities -------------------------------------------------------------------

THREE = ("n1", "n2", "n3")
VERSION_1 = {
    "version": 1,
    "seed": 1,
    "nodes": ["n1", "n2", "n3"],
    "client_groups": ["c0", "c1"],
    "time_limit": 30.0,
    "interval": 5.0,
    "kinds": ["partition", "kill", "pause"],
    "partition_mode": "drop",
    "shapes": [],
    "steps": [
        {
            "at": 2.836,
            "kind": "partition",
            "duration": 4.619,
            "params": {
                "shape": "one-alone",
                "groups": [["n1"], ["n2", "n3"]],
                "clients": {"c0": 1, "c1": 0},
                "mode": "drop",
            },
        },
        {
            "at": 11.584,
            "kind": "kill",
            "duration": 4.472,
            "params": {"choose": "primary", "node": "n2"},
        },
    ],
}


def test_a_schedule_saved_before_profiles_still_loads_and_saves_as_the_new_version():
    old = Schedule.from_json(VERSION_1)
    assert old.profile is None and old.capabilities == Capabilities()
    assert [s.kind for s in old.steps] == ["partition", "kill"]
    assert old.steps[1].words() == "at 11.584 s for 4.472 s: kill the primary (n2 if none is known)"
    again = Schedule.from_json(json.loads(json.dumps(old.to_json())))
    assert again == old and again.to_json()["version"] == 2


def _aims(schedule: Schedule) -> list[str]:
    aims = []
    for step in schedule.steps:
        if step.kind == "partition":
            aims.append("primary" if step.params["shape"] == "primary-alone" else "other")
        else:
            aims.append(step.params["choose"])
    return aims


def test_the_default_profile_aims_at_the_primary_overlaps_and_hits_majorities():
    schedules = [generate_schedule(seed, None, THREE, ("c0", "c1"), 35) for seed in range(20)]
    aims = [aim for s in schedules for aim in _aims(s)]
    assert all(s.profile == "default" and s.to_json()["profile"] == "default" for s in schedules)
    assert aims.count("primary") / len(aims) > 0.4
    assert {"majority", "all"} <= set(aims)
    overlapping = [
        s for s in schedules if any(b.at < a.end for a, b in itertools.pairwise(s.steps))
    ]
    assert len(overlapping) >= 10
    assert all(len(s.steps) >= 4 for s in schedules)
    assert all(s.steps[-1].end <= 35 - s.interval for s in schedules)


def test_a_schedule_with_overlaps_round_trips_and_its_sub_lists_stay_valid():
    schedule = generate_schedule(3, None, THREE, ("c0",), 60, profile="harsh", capabilities=ALL)
    assert {"power-loss", "latency", "kill"} <= {s.kind for s in schedule.steps}
    assert Schedule.from_json(json.dumps(schedule.to_json())) == schedule
    assert schedule.with_steps(schedule.steps[1::2]).to_json()["profile"] == "harsh"


def test_the_primary_killer_kills_the_primary_every_two_seconds_or_so():
    schedule = generate_schedule(5, None, THREE, ("c0",), 40, profile="primary-killer")
    kills = [s for s in schedule.steps if s.kind == "kill"]
    assert len(kills) >= 12
    assert all(s.params["choose"] == "primary" for s in kills)
    assert max(b.at - a.at for a, b in itertools.pairwise(kills)) <= 2 * 2.5
    assert {s.kind for s in schedule.steps} <= {"kill", "latency"}


def test_cluster_crash_kills_every_node_or_a_majority_with_quiet_between():
    for seed in range(10):
        schedule = generate_schedule(seed, None, THREE, ("c0",), 50, profile="cluster-crash")
        steps = schedule.steps
        assert len(steps) >= 5 and {s.kind for s in steps} == {"kill"}
        assert all(len(s.params["nodes"]) >= 2 for s in steps)
        assert all(0.3 <= s.duration <= 0.9 for s in steps)
        assert min(b.at - a.end for a, b in itertools.pairwise(steps)) >= 4.8
        assert any(s.params["choose"] == "all" for s in steps)


def test_an_unknown_profile_is_refused_with_the_profiles_described():
    with pytest.raises(ValueError, match=r"gentle: one fault at a time.*harsh:"):
        generate_schedule(1, None, THREE, (), 30, profile="brutal")


NATS = Capabilities(system="nats", has_primary=False, can_kill=False, can_pause=False)


def test_only_what_a_system_supports_is_drawn_from_a_profile():
    schedules = [
        generate_schedule(seed, None, THREE, ("c0",), 60, profile="harsh", capabilities=NATS)
        for seed in range(10)
    ]
    steps = [step for s in schedules for step in s.steps]
    assert {step.kind for step in steps} == {"partition", "latency"}
    assert all(step.params.get("shape") != "primary-alone" for step in steps)
    assert all(step.params.get("choose") != "primary" for step in steps)
    assert schedules[0].capabilities == NATS
    assert Schedule.from_json(schedules[0].to_json()).capabilities == NATS


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"kinds": "kill"},
            "nemesis kind kill needs a system whose nodes the backend can kill; nats",
        ),
        ({"kinds": "pause,latency"}, r"kind pause needs .* nats cannot"),
        (
            {"kinds": "partition", "shapes": "primary-alone"},
            "partition shape primary-alone needs a system that names its primary; nats does not",
        ),
    ],
)
def test_a_fault_the_system_cannot_take_is_refused_saying_why(kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate_schedule(
            1, nodes=THREE, client_groups=(), time_limit=60, capabilities=NATS, **kwargs
        )


def test_power_loss_is_offered_only_where_nodes_can_lose_power():
    assert "power-loss" not in generate_schedule(1, None, THREE, (), 60).kinds
    assert "power-loss" in generate_schedule(1, None, THREE, (), 60, capabilities=ALL).kinds
    with pytest.raises(ValueError, match="power-loss needs a system whose nodes can lose power"):
        generate_schedule(1, "power-loss", THREE, (), 60)
