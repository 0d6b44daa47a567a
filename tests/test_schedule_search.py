"""Hypothesis-drawn fault schedules (explore --schedules hypothesis): always valid for the system
they were drawn for, the same for the same seed, and reaching shapes no profile draws."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import cli
from harness.commands.explore import drawn_trials
from harness.config import RunConfig
from harness.run import fault_starts, load_schedule, make_schedule
from harness.workload import plan_workload
from nemesis import faults
from nemesis.interface import Capabilities
from nemesis.profiles import PROFILES
from nemesis.schedule import Schedule, generate_schedule
from nemesis.search import SEARCH_PROFILE, draw_schedules


def template(nodes: int, caps: Capabilities, time_limit: float = 30.0) -> Schedule:
    names = [f"n{i + 1}" for i in range(nodes)]
    return generate_schedule(1, None, names, ["c1", "c2"], time_limit, capabilities=caps)


def most_at_once(schedule: Schedule) -> int:
    starts = [s.at for s in schedule.steps]
    return max((sum(s.at <= t < s.end for s in schedule.steps) for t in starts), default=0)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.nested_given])
@given(
    nodes=st.sampled_from([3, 5]),
    caps=st.builds(
        Capabilities,
        has_primary=st.booleans(),
        can_kill=st.booleans(),
        can_pause=st.booleans(),
        can_lose_power=st.booleans(),
    ),
    time_limit=st.floats(1.0, 60.0),
    seed=st.integers(0, 1000),
)
def test_every_drawn_schedule_is_valid_for_the_system_and_round_trips(
    nodes: int, caps: Capabilities, time_limit: float, seed: int
) -> None:
    base = template(nodes, caps, time_limit)
    for schedule in draw_schedules(base, 10, seed):
        assert Schedule.from_json(json.loads(json.dumps(schedule.to_json()))) == schedule
        assert schedule.profile == SEARCH_PROFILE and schedule.capabilities == caps
        assert {s.kind for s in schedule.steps} <= set(base.kinds)
        assert all(faults.kind(s.kind).lacks(caps) is None for s in schedule.steps)
        if not caps.has_primary:
            aims = [s.params.get("choose") for s in schedule.steps]
            shapes = [s.params.get("shape") for s in schedule.steps]
            assert "primary" not in aims and "primary-alone" not in shapes


def test_the_same_seed_draws_the_same_schedules_and_another_seed_others() -> None:
    base = template(3, Capabilities(can_lose_power=True))
    first = draw_schedules(base, 20, 7)
    assert len(first) == 20 and len({json.dumps(s.to_json()) for s in first}) == 20
    assert draw_schedules(base, 20, 7) == first
    assert draw_schedules(base, 20, 8) != first


def test_drawn_schedules_stack_more_faults_at_once_than_any_profile() -> None:
    caps = Capabilities(can_lose_power=True)
    names = ["n1", "n2", "n3"]
    by_profile = max(
        most_at_once(
            generate_schedule(seed, None, names, ["c1"], 30.0, profile=p, capabilities=caps)
        )
        for p in PROFILES
        for seed in range(50)
    )
    drawn = max(most_at_once(s) for s in draw_schedules(template(3, caps), 60, 1))
    assert by_profile <= 2 < drawn


@pytest.mark.slow
def test_explore_runs_drawn_schedules_and_leaves_nothing_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "runs"
    argv = ["explore", "--schedules", "hypothesis", "--max-runs", "1", "--keep-valid",
            "--time-limit", "5", "--clients", "4", "--seed", "3", "--out", str(out)]  # fmt: skip
    code = cli.main(argv)
    table = capsys.readouterr().out
    assert "seed 3 (drawn schedule 1: " in table and "1 run(s)" in table
    (run_dir,) = (out / "chat-explore").iterdir()
    test = json.loads((run_dir / "test.json").read_text())
    valid = json.loads((run_dir / "results.json").read_text())["valid"]
    assert code == {True: 0, False: 1}.get(valid, 3)
    assert test["schedule"]["profile"] == SEARCH_PROFILE and test["schedule"]["steps"]
    assert "--schedule" in test["command"]
    starts = sorted(step["at"] for step in test["schedule"]["steps"])
    assert test["config"]["fault_times"] == starts
    assert not (tmp_path / ".hypothesis").exists()


def test_a_drawn_schedule_aims_the_workload_at_its_own_faults(tmp_path: Path) -> None:
    base = RunConfig(out=tmp_path, time_limit=20.0)
    assert fault_starts(base) == tuple(s.at for s in make_schedule(base).steps)
    for trial in drawn_trials(base, 3):
        config = base.changed(seed=trial.seed, **trial.changes)
        drawn = load_schedule(Path(trial.changes["schedule_file"]))
        assert fault_starts(config) == tuple(sorted(s.at for s in drawn.steps))
        seeded = config.changed(fault_times=None)
        assert plan_workload(config, fault_starts(config)) != plan_workload(
            seeded, fault_starts(seeded)
        ), "the workload must follow the drawn faults, not the seed's"
