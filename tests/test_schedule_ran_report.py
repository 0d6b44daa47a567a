"""What a run's readers show of its planned schedule against what ran: results.json's ``nemesis``
(from the history alone), the report's section, the summary line, and fault bands that stay
right when ops of one ``f`` overlap (the runner marks each op with its step)."""

from __future__ import annotations

from typing import Any

from harness.present.history_summary import summarize
from harness.present.report import render_report
from harness.present.summary import format_summary
from harness.run import schedule_ran
from nemesis.schedule import FaultStep, Schedule

NODES = ("n1", "n2", "n3")


def nemesis_op(
    index: int, at: float, type_: str, f: str, step: int, nodes: list[str], **extra: Any
):
    return {
        "index": index,
        "time": round(at * 1e9),
        "process": "nemesis",
        "type": type_,
        "f": f,
        "value": {"nodes": nodes},
        "step": step,
        **extra,
    }


def overlapping_kills() -> tuple[Schedule, list[dict[str, Any]]]:
    """Two kills of different nodes whose ops interleave: the first one's start is slow."""
    schedule = Schedule(
        (
            FaultStep(1.0, "kill", 2.0, {"choose": "random", "node": "n1"}),
            FaultStep(1.5, "kill", 2.0, {"choose": "random", "node": "n2"}),
        ),
        NODES,
        ("c0",),
        10,
    )
    slow = "not confirmed within 3 s: 1 of 1 still in progress: n1 (its call has not returned)"
    lines = [
        (1.001, "invoke", "kill", 0, ["n1"], {"planned": 10**9}),
        (1.5005, "invoke", "kill", 1, ["n2"], {"planned": 15 * 10**8}),
        (1.501, "ok", "kill", 1, ["n2"], {}),
        (3.0, "invoke", "restart", 0, ["n1"], {"planned": 3 * 10**9}),
        (3.5, "invoke", "restart", 1, ["n2"], {"planned": 35 * 10**8}),
        (3.501, "ok", "restart", 1, ["n2"], {}),
        (4.001, "info", "kill", 0, ["n1"], {"error": slow}),
        (4.002, "ok", "restart", 0, ["n1"], {}),
    ]
    ops = [nemesis_op(i, *line[:5], **line[5]) for i, line in enumerate(lines)]
    return schedule, ops


def test_each_overlapping_fault_band_ends_at_its_own_undo() -> None:
    _, ops = overlapping_kills()
    bands = sorted(summarize(ops).timeline.faults, key=lambda band: band.start_index)
    assert [(b.start_index, b.end_index) for b in bands] == [(0, 7), (1, 5)]


def test_results_report_and_summary_say_how_what_ran_differs_from_the_plan() -> None:
    schedule, ops = overlapping_kills()
    test = {"name": "chat", "schedule": schedule.to_json()}
    ran = schedule_ran(test, ops)
    assert ran is not None and ran["as_planned"] is False
    (difference,) = ran["differences"]
    assert difference.startswith("step 0 (kill at 1 s): start not confirmed: not confirmed within")
    results = {"valid": True, "anomaly_counts": {}, "nemesis": ran}
    page = render_report(test, ops, results)
    assert "Fault schedule: planned and ran" in page and "step 0 (kill at 1 s)" in page
    assert "every step (2)" in page
    summary = format_summary(results)
    assert "fault schedule: 2 of 2 planned faults started, 2 within 100 ms" in summary
    assert "  step 0 (kill at 1 s): start not confirmed" in summary


def test_a_run_that_kept_to_its_plan_says_so_in_one_line() -> None:
    schedule, ops = overlapping_kills()
    kept = [op for op in ops if op["type"] != "info"]
    kept.insert(6, nemesis_op(99, 1.002, "ok", "kill", 0, ["n1"]))
    ran = schedule_ran({"schedule": schedule.to_json()}, sorted(kept, key=lambda op: op["time"]))
    assert ran is not None and ran["as_planned"] is True and ran["differences"] == []
    page = render_report(None, kept, {"nemesis": ran})
    assert "all 2 planned faults ran as planned, each start within 100 ms" in page
    assert schedule_ran({}, kept) is None  # no schedule in test.json: nothing to compare
