"""Shrinking: ddmin's guarantees on synthetic predicates, the "still fails" judgement, loading a
stored run for ``run --replay`` and ``shrink``, the shrink command against a stand-in for
``run_test``, and one slow end-to-end shrink of a real failing run."""

from __future__ import annotations

import io
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.cli import build_parser
from harness.commands import shrink as shrink_cmd
from harness.commands.run import config_values, replay_values
from harness.config import ConfigError, RunConfig, from_mapping
from harness.run import RunOutcome, load_schedule, make_schedule, run_test
from harness.run_description import describe_run
from harness.runstore import new_run_dir, write_json
from harness.shrink import ddmin, found_words, step_words, still_fails, target_kinds
from harness.workload import plan_workload
from nemesis.schedule import FaultStep, Schedule
from systems import registry

# --- ddmin on synthetic predicates ------------------------------------------------------------


class Counted:
    """A predicate that records every sub-list it was asked about."""

    def __init__(self, fails_on: Any) -> None:
        self.fails_on = fails_on
        self.calls: list[list[int]] = []

    def __call__(self, steps: list[int]) -> bool:
        self.calls.append(list(steps))
        return bool(self.fails_on(frozenset(steps)))


def is_ordered_sublist(sub: tuple[int, ...] | list[int], items: list[int]) -> bool:
    it = iter(items)
    return all(x in it for x in sub)


@st.composite
def hidden_subset(draw: st.DrawFn) -> tuple[list[int], frozenset[int]]:
    n = draw(st.integers(0, 14))
    items = list(range(100, 100 + n))
    needed = draw(st.sets(st.sampled_from(items), max_size=n)) if items else set()
    return items, frozenset(needed)


@given(hidden_subset())
def test_ddmin_finds_exactly_the_hidden_subset_a_failure_needs(
    case: tuple[list[int], frozenset[int]],
) -> None:
    items, needed = case
    fails = Counted(lambda steps: needed <= steps)
    result = ddmin(items, fails)
    assert result.reproduced and result.one_minimal
    assert result.minimal == tuple(sorted(needed))
    assert [items[i] for i in result.indexes] == list(result.minimal)
    assert len(fails.calls) <= max(2, len(items) ** 2)
    for k in range(len(result.minimal)):
        assert not fails.fails_on(frozenset(result.minimal[:k] + result.minimal[k + 1 :]))


@st.composite
def arbitrary_failures(draw: st.DrawFn) -> tuple[list[int], frozenset[frozenset[int]]]:
    """Any family of failing sub-sets (not monotone), the whole set always among them."""
    n = draw(st.integers(0, 8))
    items = list(range(n))
    subsets = [frozenset(c) for r in range(n + 1) for c in itertools.combinations(items, r)]
    family = draw(st.sets(st.sampled_from(subsets), max_size=30))
    return items, frozenset(family | {frozenset(items)})


@given(arbitrary_failures())
def test_ddmin_result_is_a_one_minimal_failing_ordered_sublist(
    case: tuple[list[int], frozenset[frozenset[int]]],
) -> None:
    items, family = case
    fails = Counted(lambda steps: steps in family)
    result = ddmin(items, fails)
    assert result.one_minimal
    assert frozenset(result.minimal) in family
    assert is_ordered_sublist(result.minimal, items)
    for k in range(len(result.minimal)):
        assert frozenset(result.minimal[:k] + result.minimal[k + 1 :]) not in family
    assert all(is_ordered_sublist(call, items) for call in fails.calls)
    assert len({tuple(c) for c in fails.calls}) == len(fails.calls), "a sub-list asked twice"
    assert len(fails.calls) <= max(2, len(items) ** 2)
    assert [a.failed for a in result.attempts] == [frozenset(c) in family for c in fails.calls]


@given(arbitrary_failures(), st.integers(1, 12))
def test_ddmin_stays_within_max_runs_and_keeps_a_failing_list(
    case: tuple[list[int], frozenset[frozenset[int]]], max_runs: int
) -> None:
    items, family = case
    fails = Counted(lambda steps: steps in family)
    result = ddmin(items, fails, max_runs=max_runs)
    assert len(fails.calls) == len(result.attempts) <= max_runs
    assert frozenset(result.minimal) in family
    # out of budget half-way, the smallest failure seen is kept, not the original list
    assert len(result.minimal) == min(len(a.indexes) for a in result.attempts if a.failed)
    if result.one_minimal:
        assert result.minimal == ddmin(items, Counted(lambda s: s in family)).minimal


def test_ddmin_tries_nothing_more_when_the_whole_list_no_longer_fails() -> None:
    fails = Counted(lambda steps: False)
    result = ddmin([1, 2, 3], fails)
    assert fails.calls == [[1, 2, 3]]
    assert not result.reproduced and not result.one_minimal
    assert result.minimal == (1, 2, 3)


def test_ddmin_says_when_a_failure_needs_no_step_at_all() -> None:
    result = ddmin(["a", "b", "c"], lambda steps: True)
    assert result.minimal == () and result.one_minimal


def test_ddmin_rejects_a_budget_below_one() -> None:
    with pytest.raises(ValueError, match="max_runs"):
        ddmin([1], lambda steps: True, max_runs=0)


# --- "still fails" ------------------------------------------------------------------------------


def counts(**found: int) -> dict[str, Any]:
    base = {"lost": 0, "duplicated": 0, "seq-conflict": 0, "order-divergence": 0}
    return {"anomaly_counts": base | {k.replace("_", "-"): v for k, v in found.items()}}


def test_target_kinds_are_the_original_anomalies_or_those_asked_for() -> None:
    original = counts(lost=2, seq_conflict=1)["anomaly_counts"]
    assert target_kinds(original) == ("lost", "seq-conflict")
    assert target_kinds(original, ["duplicated", "duplicated"]) == ("duplicated",)
    assert target_kinds(counts()["anomaly_counts"]) == ()


def test_still_fails_when_any_target_kind_has_a_count() -> None:
    kinds = ("lost", "seq-conflict")
    assert still_fails(counts(seq_conflict=1), kinds)
    assert not still_fails(counts(duplicated=4), kinds)
    assert not still_fails(counts(), kinds)
    assert not still_fails({"valid": "unknown"}, kinds)
    assert found_words(counts(lost=2, duplicated=1), kinds) == "lost 2"
    assert found_words(counts(), kinds) == "none of lost, seq-conflict"


def test_step_words_name_the_fault_and_its_targets() -> None:
    step = FaultStep(1.5, "partition", 2.0, {"shape": "halves", "groups": [["n1"], ["n2", "n3"]]})
    assert step_words(step) == "at 1.5 s for 2 s: partition halves n1 | n2,n3"
    kill = FaultStep(4.0, "kill", 1.0, {"choose": "primary", "node": "n2"})
    assert step_words(kill) == "at 4 s for 1 s: kill the primary (n2 if none is known)"


# --- loading a stored run ------------------------------------------------------------------------


def system_for(config: RunConfig) -> Any:
    return registry.create(config.system, dict(config.system_options))


def stored_run(tmp_path: Path, **values: Any) -> tuple[RunConfig, Schedule, Path]:
    """A run directory as run_test leaves it before the cluster starts: test.json only."""
    settings: dict[str, Any] = {
        "out": tmp_path / "histories",
        "seed": 7,
        "nemesis": ("partition", "kill"),
        "nemesis_interval": 2.0,
        "time_limit": 20.0,
        "bug": "no-fencing",
        "clients": 6,
    }
    config = from_mapping(settings | values)
    schedule = make_schedule(config)
    run_dir = new_run_dir(config.out, config.name)
    write_json(
        run_dir / "test.json",
        describe_run(config, system_for(config), plan_workload(config), schedule, run_dir),
    )
    return config, schedule, run_dir


def test_replay_takes_the_whole_config_and_the_schedule_of_test_json(tmp_path: Path) -> None:
    config, schedule, run_dir = stored_run(tmp_path)
    replayed = from_mapping(replay_values(run_dir))
    assert replayed == config.changed(schedule_file=run_dir / "test.json")
    assert make_schedule(replayed) == schedule
    assert len(schedule.steps) >= 2


def test_replay_flags_override_single_settings_and_out_stays_as_stored(tmp_path: Path) -> None:
    config, schedule, run_dir = stored_run(tmp_path)
    args = build_parser().parse_args(["run", "--replay", str(run_dir), "--time-limit", "25"])
    replayed = from_mapping(config_values(args))
    assert replayed.time_limit == 25.0
    bug = replayed.system_settings()["bug"]
    assert (replayed.seed, bug, replayed.out) == (7, "no-fencing", config.out)
    assert make_schedule(replayed) == schedule
    args = build_parser().parse_args(["run", "--replay", str(run_dir), "--out", "elsewhere"])
    assert from_mapping(config_values(args)).out == Path("elsewhere")


def test_replay_without_a_readable_test_json_says_which_file_and_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = build_parser().parse_args(["run", "--replay", str(tmp_path)])
    assert args.func(args) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "test.json") in err and "give the directory of a run" in err
    (tmp_path / "test.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        replay_values(tmp_path)
    (tmp_path / "test.json").write_text(json.dumps({"schedule": {}}))
    with pytest.raises(ConfigError, match='no "config"'):
        replay_values(tmp_path)


def test_shrink_needs_a_failure_or_an_anomaly_to_aim_at(tmp_path: Path) -> None:
    _, _, run_dir = stored_run(tmp_path)
    write_json(run_dir / "results.json", counts())
    with pytest.raises(ConfigError, match="--anomaly NAME"):
        shrink_cmd.load_original(run_dir)
    assert shrink_cmd.load_original(run_dir, ("lost",)).kinds == ("lost",)
    with pytest.raises(ConfigError, match="unknown anomaly losst"):
        shrink_cmd.parse_anomalies("lost,losst")
    write_json(run_dir / "results.json", counts(seq_conflict=3))
    assert shrink_cmd.load_original(run_dir).kinds == ("seq-conflict",)


def history_of(schedule: Schedule, started: int, zero: float = 1.0) -> list[dict[str, Any]]:
    """Nemesis ops as the runner records them for the first ``started`` steps of ``schedule``,
    each on time, and a history that ends before the next step was due."""
    from nemesis.faults import FAULT_KINDS

    ops: list[dict[str, Any]] = []
    for index, step in enumerate(schedule.steps[:started]):
        kind = FAULT_KINDS[step.kind]
        for f, at in ((kind.start_f, step.at), (kind.undo_f, step.end)):
            planned = round((zero + at) * 1e9)
            base = {"process": "nemesis", "f": f, "value": {}, "step": index}
            ops.append({**base, "time": planned + 1000, "type": "invoke", "planned": planned})
            ops.append({**base, "time": planned + 2000, "type": "ok"})
    ops.sort(key=lambda op: op["time"])
    return [{"index": i, **op} for i, op in enumerate(ops)]


def test_shrink_works_on_the_faults_that_ran_not_on_those_only_planned(tmp_path: Path) -> None:
    _, schedule, run_dir = stored_run(tmp_path)
    write_json(run_dir / "results.json", counts(lost=1))
    lines = history_of(schedule, started=len(schedule.steps) - 1)
    (run_dir / "history.jsonl").write_text("".join(json.dumps(op) + "\n" for op in lines))
    original = shrink_cmd.load_original(run_dir)
    assert original.schedule.steps == schedule.steps[:-1]
    assert original.planned == schedule
    (run_dir / "history.jsonl").write_text(
        "".join(json.dumps(op) + "\n" for op in history_of(schedule, len(schedule.steps)))
    )
    assert shrink_cmd.load_original(run_dir).planned is None  # all ran: the plan is what ran


# --- the shrink command against a stand-in for run_test ------------------------------------------


class FakeRunTest:
    """Stands in for run_test: a run shows ``lost`` when its steps satisfy ``fails_on``; the
    first ``flaky`` runs pass whatever they hold."""

    def __init__(self, fails_on: Any, flaky: int = 0) -> None:
        self.fails_on, self.flaky = fails_on, flaky
        self.runs: list[Path] = []

    def __call__(self, config: RunConfig, out: Any = None) -> RunOutcome:
        assert config.schedule_file is not None
        steps = load_schedule(config.schedule_file).steps
        run_dir = new_run_dir(config.out, config.name)
        self.runs.append(run_dir)
        broken = self.fails_on(steps) and len(self.runs) > self.flaky
        return RunOutcome(run_dir, counts(lost=2 if broken else 0))


def shrink_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fails_on: Any, *argv: str, flaky: int = 0
) -> tuple[int, str, Schedule, Path, FakeRunTest]:
    """Shrink a stored run whose re-runs fail when ``fails_on(schedule)(steps)`` is True."""
    _, schedule, run_dir = stored_run(tmp_path)
    write_json(run_dir / "results.json", counts(lost=5))
    fake = FakeRunTest(fails_on(schedule), flaky)
    monkeypatch.setattr("harness.run.run_test", fake)
    stdout = io.StringIO()
    monkeypatch.setattr("sys.stdout", stdout)
    args = build_parser().parse_args(["shrink", str(run_dir), *argv])
    return args.func(args), stdout.getvalue(), schedule, run_dir, fake


def test_shrink_finds_the_one_fault_that_matters_and_writes_shrink_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, schedule, run_dir, fake = shrink_stored(
        tmp_path, monkeypatch, lambda schedule: lambda steps: schedule.steps[-1] in steps
    )
    assert code == 0
    total = len(schedule.steps)
    assert f"attempt 1/20: {total} of {total} faults -> still fails: lost 2" in out
    assert f"1 of {total} faults still break the system" in out
    data = json.loads((run_dir / "shrink.json").read_text())
    minimal = Schedule.from_json(data["minimal_schedule"])
    assert minimal.steps == (schedule.steps[-1],)
    assert data["one_minimal"] and len(data["attempts"]) == len(fake.runs)
    assert all(run.parent == tmp_path / "histories" / "chat-shrink" for run in fake.runs)
    assert f"replay: splitbrain run --replay {data['minimal_run_dir']}" in out
    assert data["minimal_run_dir"] in {str(r) for r in fake.runs}


def test_shrink_exits_1_when_the_original_does_not_fail_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _, run_dir, fake = shrink_stored(
        tmp_path, monkeypatch, lambda _: lambda steps: False
    )
    assert code == 1 and len(fake.runs) == 1
    assert "depends on timing" in out and "--tries" in out
    assert json.loads((run_dir / "shrink.json").read_text())["reproduced"] is False


def test_shrink_retries_each_attempt_and_stops_at_max_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, schedule, run_dir, fake = shrink_stored(
        tmp_path,
        monkeypatch,
        lambda _: lambda steps: len(steps) >= 2,
        *("--tries", "2", "--max-runs", "2"),
        flaky=1,
    )
    assert code == 0
    assert "attempt 1/2: " in out and "still fails: lost 2 (try 2 of 2)" in out
    assert "attempt 3/" not in out and "raise --max-runs" in out
    data = json.loads((run_dir / "shrink.json").read_text())
    assert len(data["attempts"]) == 2 and not data["one_minimal"]
    assert len(data["attempts"][0]["runs"]) == 2
    assert len(fake.runs) == 3 and len(schedule.steps) >= 3


# --- end to end ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_real_no_fencing_failure_shrinks_and_still_fails(tmp_path: Path) -> None:
    config = from_mapping(
        {
            "out": tmp_path,
            "seed": 1,
            "bug": "no-fencing",
            "nemesis": ("partition",),
            "partition_shapes": ("primary-alone",),
            "time_limit": 14.0,
            "nemesis_interval": 2.5,
            "clients": 8,
            "rate": 20.0,
            "drain_timeout": 40.0,
        }
    )

    original = run_test(config, out=io.StringIO())
    assert original.results["valid"] is False, original.results["anomaly_counts"]
    loaded = shrink_cmd.load_original(original.run_dir)
    total = len(loaded.schedule.steps)
    stream = io.StringIO()
    code = shrink_cmd.shrink(loaded, tmp_path, max_runs=4, tries=1, stream=stream)
    data = json.loads((original.run_dir / "shrink.json").read_text())
    assert code == 0, stream.getvalue()
    steps = len(data["minimal_schedule"]["steps"])
    assert steps < total or steps == total == 1, stream.getvalue()
    minimal_run = Path(data["minimal_run_dir"])
    results = json.loads((minimal_run / "results.json").read_text())
    assert still_fails(results, loaded.kinds)
    assert (
        make_schedule(from_mapping(replay_values(minimal_run))).to_json()
        == (data["minimal_schedule"])
    )
