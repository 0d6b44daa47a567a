"""splitbrain explore: seeds one after another within a budget, failing runs kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness import cli
from harness.explore import Budget, Trial, finding_of, format_table, parse_duration, trials


def test_durations_read_as_a_person_writes_them() -> None:
    assert [parse_duration(t) for t in ("90", "90s", "10m", "1.5h")] == [90, 90, 600, 5400]
    for bad in ("", "ten", "0", "-5m", "5d"):
        with pytest.raises(ValueError, match="write it as"):
            parse_duration(bad)


@given(st.floats(1, 600), st.lists(st.floats(0.1, 120), max_size=30))
def test_a_time_budget_never_starts_a_run_it_expects_to_overrun(
    seconds: float, durations: list[float]
) -> None:
    budget = Budget(seconds=seconds)
    for took in durations:
        if not budget.allows(expected=took):
            break
        budget.charge(took)
    assert budget.spent <= seconds


def test_a_run_budget_stops_after_that_many_runs() -> None:
    budget = Budget(runs=2)
    for _ in range(2):
        assert budget.allows(expected=1.0)
        budget.charge(1.0)
    assert not budget.allows(expected=1.0)


def test_trials_walk_seeds_and_variants() -> None:
    made = trials(5, ({"profile": "default"}, {"profile": "harsh"}))
    assert [(t.seed, t.changes["profile"]) for t in (next(made) for _ in range(4))] == [
        (5, "default"), (5, "harsh"), (6, "default"), (6, "harsh"),
    ]  # fmt: skip


def test_the_table_names_each_failing_run_and_its_anomalies() -> None:
    failing = {"valid": False, "anomaly_counts": {"lost": 2, "duplicated": 0}, "stats": {}}
    valid = {"valid": True, "anomaly_counts": {"lost": 0}, "stats": {"availability": 0.95}}
    table = format_table(
        [finding_of(Trial(1), valid, 30.0, "/r/1"), finding_of(Trial(2), failing, 31.0, "/r/2")]
    )
    assert "seed 1  valid" in table and "95.0%" in table and "/r/1" not in table
    assert "seed 2  INVALID" in table and "lost 2" in table and "/r/2" in table
    assert "2 run(s), 1 failing" in table


@pytest.mark.slow
def test_explore_runs_seeds_until_the_run_budget_and_keeps_only_failures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["explore", "--budget", "5m", "--max-runs", "2", "--time-limit", "4", "--nemesis",
            "none", "--clients", "4", "--out", str(tmp_path)]  # fmt: skip
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "seed 1  valid" in out and "seed 2  valid" in out and "2 run(s), 0 failing" in out
    assert not list((tmp_path / "chat-explore").iterdir())  # valid runs are not kept

    buggy = ["explore", "--budget", "5m", "--max-runs", "3", "--time-limit", "8", "--nemesis",
             "none", "--bug", "unordered-backlog", "--offline-fraction", "1",
             "--out", str(tmp_path / "bad")]  # fmt: skip
    assert cli.main(buggy) == 1
    out = capsys.readouterr().out
    assert "INVALID" in out and "1 failing" in out
    kept = list((tmp_path / "bad" / "chat-explore").iterdir())
    assert len(kept) == 1 and (kept[0] / "history.jsonl").exists()
