"""The HTML report: hand-built histories rendered and checked for what a reader relies on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from checkers import ANOMALIES as ANOMALY_NAMES
from harness.present.history_summary import (
    MAX_BUCKETS,
    availability_stats,
    cited_indexes,
    summarize,
    timeline_data,
)
from harness.present.report import ReportError, render_report, write_report
from tests.helpers.report_pages import TEST_JSON, History, parse, scenario, write_run

EVIL = "<script>alert(1)</script>"


def results_for(at: dict[str, int], evil: str = "") -> dict[str, Any]:
    counts = dict.fromkeys(ANOMALY_NAMES, 0)
    counts.update({"lost": 1, "failed-delivered": 1})
    return {
        "valid": False,
        "anomaly_counts": counts,
        "anomalies": {
            "lost": [
                {
                    "id": "m6",
                    "user": "u1",
                    "send_index": at["m6"],
                    "ok_index": at["m6-ok"],
                    "explanation": f"u1 never saw m6 {evil}",
                }
            ],
            "failed-delivered": [
                {"id": "m2", "indexes": [at["m2"], at["m2-fail"]], "why": "m2 failed, yet seen"}
            ],
        },
        "unseen": 0,
    }


def test_availability_during_and_outside_faults_hand_computed() -> None:
    h, _ = scenario()
    assert availability_stats(h.ops) == {
        "sends": {"ok": 4, "fail": 1, "info": 2},
        "availability": pytest.approx(4 / 7),
        "sends_during_faults": {"ok": 2, "fail": 1, "info": 1},
        "availability_during_faults": 0.5,
        "sends_outside_faults": {"ok": 2, "fail": 0, "info": 1},
        "availability_outside_faults": pytest.approx(2 / 3),
        "sends_during_partitions_by_side": {
            "minority": {"ok": 0, "fail": 1, "info": 0},
            "majority": {"ok": 2, "fail": 0, "info": 1},
        },
        "sends_during_partitions_by_node": {
            "n1": {"ok": 0, "fail": 1, "info": 0},
            "n2": {"ok": 1, "fail": 0, "info": 1},
            "n3": {"ok": 1, "fail": 0, "info": 0},
        },
        "latency_ms": {"p50": pytest.approx(150.0), "p99": pytest.approx(300.0)},
    }


def test_availability_of_a_history_without_sends() -> None:
    stats = availability_stats([])
    assert stats["availability"] == 1.0  # as the checkers' stats.availability: nothing refused
    assert stats["availability_during_faults"] is None
    assert stats["latency_ms"] == {"p50": None, "p99": None}


def test_timeline_has_fault_bands_drain_failover_and_buckets() -> None:
    h, _ = scenario()
    timeline = timeline_data(h.ops)
    bands = [(f.kind, f.start_s, f.end_s, f.healed) for f in timeline.faults]
    assert bands == [
        ("partition", pytest.approx(1.0), pytest.approx(3.6), True),
        ("kill", pytest.approx(4.0), pytest.approx(5.0), True),
    ]
    assert timeline.faults[0].label == "n1 | n2 n3"
    assert timeline.drain is not None
    assert (timeline.drain.start_s, timeline.drain.end_s) == (
        pytest.approx(6.5),
        pytest.approx(7.5),
    )
    moves = [(m.user, m.from_node, m.to_node) for m in timeline.failovers]
    assert moves == [("u1", "n1", "n2"), ("u1", "n2", "n1")]
    assert sum(b.ok for b in timeline.buckets) == 4
    assert sum(b.fail + b.info for b in timeline.buckets) == 3
    assert 1 < len(timeline.buckets) <= MAX_BUCKETS
    assert timeline.nemesis_kinds == ("partition", "kill")


def test_an_undo_ends_only_the_faults_on_its_nodes() -> None:
    h = History()
    h.add(1.0, "nemesis", "invoke", "kill", {"nodes": ["n1"]})
    h.add(1.0, "nemesis", "ok", "kill", {"nodes": ["n1"]})
    h.add(2.0, "nemesis", "invoke", "kill", {"nodes": ["n2"]})
    h.add(2.0, "nemesis", "ok", "kill", {"nodes": ["n2"]})
    h.add(3.0, "nemesis", "invoke", "restart", {"nodes": ["n1"]})
    h.add(3.5, "nemesis", "ok", "restart", {"nodes": ["n1"]})
    h.add(9.0, "harness", "invoke", "drain", None)
    faults = {f.label: f for f in timeline_data(h.ops).faults}
    assert faults["n1"].end_s == pytest.approx(3.5)
    assert faults["n1"].healed
    assert not faults["n2"].healed
    assert faults["n2"].end_s == pytest.approx(9.0)


def test_report_parses_lists_every_anomaly_and_links_cited_lines() -> None:
    h, at = scenario()
    results = results_for(at)
    document = render_report(TEST_JSON, h.ops, results)
    parsed = parse(document)
    text = " ".join(parsed.text)
    for name in ANOMALY_NAMES:
        assert name in text
    cited = cited_indexes(results)
    assert set(cited) == {at["m6"], at["m6-ok"], at["m2"], at["m2-fail"]}
    for index in cited:
        assert f"op-{index}" in parsed.ids
        assert f"#op-{index}" in parsed.hrefs
    assert "u1 never saw m6" in text
    assert "m2 failed, yet seen" in text
    assert "INVALID" in text
    assert "splitbrain run --seed 7 --mode cp" in text


def test_report_is_self_contained() -> None:
    h, at = scenario()
    parsed = parse(render_report(TEST_JSON, h.ops, results_for(at)))
    assert "script" not in parsed.tags
    assert parsed.srcs == []
    assert all(href.startswith("#") for href in parsed.hrefs)
    assert "svg" in parsed.tags


def test_fault_bands_one_per_fault() -> None:
    h, at = scenario()
    parsed = parse(render_report(TEST_JSON, h.ops, results_for(at)))
    assert parsed.classes.count("fault-band") == 2
    assert parsed.classes.count("drain-band") == 1
    assert parsed.classes.count("anomaly-marker") == 4


def test_history_and_results_text_is_escaped() -> None:
    h, at = scenario(evil_user=EVIL)
    h.ops[at["m2-fail"]]["error"] = EVIL
    document = render_report({"name": EVIL}, h.ops, results_for(at, evil=EVIL))
    parsed = parse(document)
    assert "<script" not in document
    assert "script" not in parsed.tags
    assert any(EVIL in chunk for chunk in parsed.text)


def test_without_test_json_or_results_the_report_still_renders() -> None:
    h, _ = scenario()
    parsed = parse(render_report(None, h.ops, None, title="bare"))
    text = " ".join(parsed.text)
    assert "not checked" in text
    for name in ANOMALY_NAMES:
        assert name in text


def test_odd_lines_do_not_crash_the_summary() -> None:
    ops: list[Any] = [
        {"index": 0, "process": {"x": 1}, "type": "invoke", "f": "send", "value": 3},
        {"index": "zero", "time": "soon", "type": "ok", "f": "send", "extra": [1]},
        [1, 2, 3],
        {"process": "nemesis", "type": "invoke", "f": "clock-skew", "value": {"ms": 5}},
        {"process": "nemesis", "type": "ok", "f": "heal"},
    ]
    summary = summarize(ops)
    assert summary.ops_total == 5
    assert [f.kind for f in summary.timeline.faults] == ["clock-skew"]
    parse(render_report(None, summary, {"anomalies": {"lost": [{"index": "x"}, 5]}}))


def test_write_report_tolerates_a_truncated_last_line(tmp_path: Path) -> None:
    h, at = scenario()
    run = write_run(tmp_path / "chat" / "20260101T000000Z", h.ops, results_for(at))
    with (run / "history.jsonl").open("ab") as history:
        history.write(b'{"index": 25, "time": 80000')
    written = write_report(run)
    assert written == run / "report.html"
    parsed = parse(written.read_text(encoding="utf-8"))
    assert "cut off" in " ".join(parsed.text)
    assert f"op-{at['m6']}" in parsed.ids


def test_write_report_rejects_a_bad_middle_line(tmp_path: Path) -> None:
    h, at = scenario()
    run = write_run(tmp_path / "run", h.ops, results_for(at))
    lines = (run / "history.jsonl").read_bytes().split(b"\n")
    lines[3] = b"{not json"
    (run / "history.jsonl").write_bytes(b"\n".join(lines))
    with pytest.raises(ReportError, match=r"history\.jsonl: line 4"):
        write_report(run)


def test_report_command_writes_to_out_and_exits_2_on_missing_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from harness.cli import main

    h, at = scenario()
    run = write_run(tmp_path / "run", h.ops, results_for(at))
    out = tmp_path / "elsewhere.html"
    assert main(["report", str(run / "history.jsonl"), "--out", str(out)]) == 0
    parse(out.read_text(encoding="utf-8"))
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "missing" in capsys.readouterr().err


def generated_history(sends: int) -> Iterator[dict[str, Any]]:
    """About 2.75 lines per send, 100 sends a second, a partition every other 20 seconds."""
    index = 0

    def line(t_ns: int, **fields: Any) -> dict[str, Any]:
        nonlocal index
        index += 1
        return {"index": index - 1, "time": t_ns, **fields}

    for n in range(sends):
        t = n * 10_000_000
        if n % 2000 == 0:
            nemesis_f = "partition" if (n // 2000) % 2 == 0 else "heal"
            value = {"groups": [["n1"], ["n2", "n3"]]} if nemesis_f == "partition" else None
            yield line(t, process="nemesis", type="invoke", f=nemesis_f, value=value)
            yield line(t, process="nemesis", type="ok", f=nemesis_f, value=value)
        p, mid = n % 50, f"m{n}"
        value = {"id": mid, "conv": "c1", "from": f"u{p}", "to": ["u0"]}
        yield line(t, process=p, type="invoke", f="send", value=value, node="n1")
        outcome = ("ok", "ok", "ok", "fail")[n % 4]
        yield line(t + 5_000_000, process=p, type=outcome, f="send", value={"id": mid})
        if outcome == "ok":
            deliver = {"id": mid, "conv": "c1", "user": "u0"}
            yield line(t + 6_000_000, process=99, type="ok", f="deliver", value=deliver)


def test_a_large_history_renders_in_bounded_size() -> None:
    cited = {i: ("duplicated",) for i in range(0, 100_000, 7)}
    summary = summarize(generated_history(40_000), cited)
    assert summary.ops_total > 100_000
    assert len(summary.timeline.buckets) <= MAX_BUCKETS
    assert summary.cited_listed < summary.cited_total
    anomalies = {"duplicated": [{"id": "m1", "indexes": list(range(0, 100_000, 7))}]}
    results = {"valid": False, "anomaly_counts": {"duplicated": len(cited)}, "anomalies": anomalies}
    document = render_report(None, summary, results)
    assert len(document.encode()) < 2_000_000
    parsed = parse(document)
    assert parsed.classes.count("fault-band") == 10
    assert "not listed" in " ".join(parsed.text)


def test_indexes_nested_under_an_index_key_are_cited_and_linked() -> None:
    h, at = scenario()
    example = {"id": "m2", "indexes": {"send": at["m2"], "seen": [at["deliver-m3"]]}, "seq": 99}
    results = {"valid": False, "anomalies": {"corrupt": [example]}}
    assert set(cited_indexes(results)) == {at["m2"], at["deliver-m3"]}
    parsed = parse(render_report(None, h.ops, results))
    assert {f"#op-{at['m2']}", f"#op-{at['deliver-m3']}"} <= set(parsed.hrefs)
    assert "op-99" not in parsed.ids
