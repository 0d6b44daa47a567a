"""Properties of the report's fold over any history, and the checkers fallback of write_report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.present.history_summary import FAULT_UNDO, summarize
from harness.present.report import ReportError, render_report, write_report
from tests.helpers.report_pages import parse, scenario, write_run

NODES = ("n1", "n2", "n3")

step = st.one_of(
    st.tuples(st.just("invoke"), st.integers(0, 3), st.sampled_from(NODES)),
    st.tuples(st.sampled_from(["ok", "fail", "info"]), st.integers(0, 3), st.sampled_from(NODES)),
    st.tuples(st.just("deliver"), st.integers(0, 3), st.sampled_from(NODES)),
    st.tuples(
        st.sampled_from(["fault", "undo"]),
        st.sampled_from(sorted(FAULT_UNDO)),
        st.sampled_from(NODES),
    ),
    st.tuples(st.just("drain"), st.sampled_from(["invoke", "ok"]), st.just("")),
)


def build(steps: list[tuple[str, Any, str]], gaps: list[int]) -> tuple[list[dict[str, Any]], int]:
    """Operations for the steps (nemesis ops as invoke + ok pairs); also the number of sends."""
    ops: list[dict[str, Any]] = []
    t = 0
    sends = 0

    def add(**fields: Any) -> None:
        ops.append({"index": len(ops), "time": t, **fields})

    for n, (kind, arg, node) in enumerate(steps):
        t += gaps[n % len(gaps)]
        if kind == "invoke":
            sends += 1
            value = {"id": f"m{n}", "conv": "c", "from": f"u{arg}", "to": ["u9"]}
            add(process=arg, type="invoke", f="send", value=value, node=node)
        elif kind in ("ok", "fail", "info"):
            add(process=arg, type=kind, f="send", value={"id": "?"}, node=node)
        elif kind == "deliver":
            value = {"id": f"m{n}", "user": f"u{arg}"}
            add(process=arg, type="ok", f="deliver", value=value, node=node)
        elif kind in ("fault", "undo"):
            f = arg if kind == "fault" else FAULT_UNDO[arg]
            for type_ in ("invoke", "ok"):
                add(process="nemesis", type=type_, f=f, value={"nodes": [node]})
        else:
            add(process="harness", type=arg, f="drain", value=None)
    return ops, sends


@given(
    st.lists(step, max_size=60),
    st.lists(st.integers(0, 3_000_000_000), min_size=1, max_size=5),
)
def test_every_send_is_counted_once_in_totals_splits_and_buckets(
    steps: list[tuple[str, Any, str]], gaps: list[int]
) -> None:
    ops, sends = build(steps, gaps)
    summary = summarize(ops, max_buckets=8)
    stats = summary.availability
    assert sum(stats["sends"].values()) == sends
    for outcome in ("ok", "fail", "info"):
        split = stats["sends_during_faults"][outcome] + stats["sends_outside_faults"][outcome]
        assert split == stats["sends"][outcome]
        assert sum(getattr(b, outcome) for b in summary.timeline.buckets) == stats["sends"][outcome]
    assert len(summary.timeline.buckets) <= 8
    opened = sum(1 for kind, _, _ in steps if kind == "fault")
    assert summary.timeline.faults_total == opened
    for fault in summary.timeline.faults:
        assert fault.start_s <= fault.end_s
        assert fault.end_index is None or fault.start_index < fault.end_index
    latency = stats["latency_ms"]
    assert (latency["p50"] is None) == (stats["sends"]["ok"] == 0)
    if latency["p50"] is not None:
        assert 0 <= latency["p50"] <= latency["p99"]


@given(st.lists(step, max_size=40), st.sets(st.integers(0, 120), max_size=10))
def test_any_history_renders_well_formed_with_cited_anchors(
    steps: list[tuple[str, Any, str]], cited: set[int]
) -> None:
    ops, _ = build(steps, [250_000_000])
    results = {"anomalies": {"lost": [{"indexes": sorted(cited)}]}}
    parsed = parse(render_report(None, ops, results))
    for index in cited:
        assert (f"op-{index}" in parsed.ids) == (index < len(ops))


def fake_checkers(monkeypatch: pytest.MonkeyPatch, result: dict[str, Any]) -> list[Any]:
    """Stands in for the checkers the report calls (``check_history`` of ``parse_history``'s
    lines); returns what ``parse_history`` was given: (source, number of lines)."""
    from harness.present import report

    loaded: list[Any] = []

    def parse_history(lines: Any, source: str) -> list[Any]:
        raw = list(lines)
        loaded.append((source, len(raw)))
        return raw

    monkeypatch.setattr(report, "parse_history", parse_history)
    monkeypatch.setattr(report, "check_history", lambda history: result)
    return loaded


def test_without_results_json_the_checkers_judge_the_history(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops, _ = build([("invoke", 0, "n1"), ("ok", 0, "n1")], [1_000_000])
    history = tmp_path / "run.jsonl"
    history.write_bytes(b"".join(orjson.dumps(op) + b"\n" for op in ops))
    result = {"valid": False, "anomaly_counts": {"lost": 1}, "anomalies": {"lost": [{"index": 0}]}}
    loaded = fake_checkers(monkeypatch, result)
    written = write_report(history)
    assert loaded == [(str(history), 2)]
    assert written == tmp_path / "run.html"
    parsed = parse(written.read_text(encoding="utf-8"))
    assert "op-0" in parsed.ids
    assert not (tmp_path / "results.json").exists()


def test_a_checker_that_cannot_read_the_history_is_a_report_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history = tmp_path / "history.jsonl"
    history.write_bytes(b"{broken\n{}\n")
    with pytest.raises(ReportError, match=r"history\.jsonl"):
        write_report(history)


def test_the_checkers_are_not_shown_a_cut_off_last_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ops, _ = build([("invoke", 0, "n1"), ("ok", 0, "n1")], [1_000_000])
    history = tmp_path / "history.jsonl"
    history.write_bytes(b"".join(orjson.dumps(op) + b"\n" for op in ops) + b'{"index": 2, "ti')
    given = fake_checkers(monkeypatch, {"valid": True})
    parse(write_report(history).read_text(encoding="utf-8"))
    assert given == [(str(history), 2)]


def test_with_the_real_checkers_a_run_without_results_is_judged(tmp_path: Path) -> None:
    h, _ = scenario()
    run = write_run(tmp_path / "run", h.ops, results=None)
    parsed = parse(write_report(run).read_text(encoding="utf-8"))
    assert "not checked" not in " ".join(parsed.text)
