"""The CAP figures split: refused (fail), indeterminate (info) and ok, during and outside faults
and by partition side; and the one availability figure the checkers and the report share."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given

from checkers import check_history, parse_history
from harness.present.comparison import (
    RunRecord,
    comparison_json,
    format_comparison,
    tradeoff_reading,
)
from harness.present.history_summary import availability_stats, side_of
from tests.helpers.history_strategies import Builder, Case, correct_histories, edited_histories

N1, N23 = frozenset({"n1"}), frozenset({"n2", "n3"})


@pytest.mark.parametrize(
    ("node", "groups", "side"),
    [
        ("n1", (N1, N23), "minority"),
        ("n3", (N1, N23), "majority"),
        ("n1", (frozenset({"n1", "n2"}), frozenset({"n3", "n4"})), "even"),
        ("n2", (N1, frozenset({"n2"}), frozenset({"n3"})), "no-majority"),
        ("n9", (N1, N23), "unknown"),
        (None, (N1, N23), "unknown"),
        ("n1", (), "unknown"),
    ],
)
def test_side_of(node: Any, groups: tuple[frozenset[str], ...], side: str) -> None:
    assert side_of(node, groups) == side


def partitioned() -> Builder:
    """n1 cut from n2 n3: u1 on n1 is refused once and cut off once, u2 on n2 gets through;
    after the heal one more send from u1 is ok."""
    b = Builder()
    b.op("nemesis", "invoke", "partition", {"groups": [["n1"], ["n2", "n3"]]})
    b.op("nemesis", "ok", "partition", {"groups": [["n1"], ["n2", "n3"]]})
    b.send(0, "m1", "c", "u1", ["u2"]).ops[-1]["node"] = "n1"
    b.fail(0, "m1", "c")
    b.send(0, "m2", "c", "u1", ["u2"]).ops[-1]["node"] = "n1"
    b.info(0, "m2", "c")
    b.send(1, "m3", "c", "u2", ["u1"]).ops[-1]["node"] = "n2"
    b.ok(1, "m3", "c", seq=1)
    b.op("nemesis", "invoke", "heal", {})
    b.op("nemesis", "ok", "heal", {})
    b.send(2, "m4", "c", "u1", ["u2"]).ops[-1]["node"] = "n1"
    b.ok(2, "m4", "c", seq=2)
    b.deliver(3, "m3", "c", "u2", "u1", seq=1).deliver(4, "m4", "c", "u1", "u2", seq=2)
    return b.drain()


def test_refused_and_indeterminate_split_by_faults_and_sides() -> None:
    stats = availability_stats(partitioned().ops)
    assert stats["sends"] == {"ok": 2, "fail": 1, "info": 1}
    assert stats["sends_during_faults"] == {"ok": 1, "fail": 1, "info": 1}
    assert stats["sends_outside_faults"] == {"ok": 1, "fail": 0, "info": 0}
    assert stats["sends_during_partitions_by_side"] == {
        "minority": {"ok": 0, "fail": 1, "info": 1},
        "majority": {"ok": 1, "fail": 0, "info": 0},
    }
    assert stats["sends_during_partitions_by_node"] == {
        "n1": {"ok": 0, "fail": 1, "info": 1},
        "n2": {"ok": 1, "fail": 0, "info": 0},
    }


def record(mode: str, ops: list[dict[str, Any]]) -> RunRecord:
    results = check_history(parse_history(Case(ops).lines()))
    return RunRecord(mode, {"mode": mode}, results, availability_stats(ops))


def test_compare_shows_the_split_and_reads_the_trade_off() -> None:
    cp = record("cp", partitioned().ops)
    ap_ops = [
        {**op, "type": "ok", "value": {**op["value"], "seq": 9}}
        if op["f"] == "send" and op["type"] in ("fail", "info")
        else op
        for op in partitioned().ops
    ]
    ap = record("ap", ap_ops)
    table = format_comparison([cp, ap])
    rows = {line[:28].strip(): line[28:].split() for line in table.splitlines()}
    assert rows["sends ok/refused/indet."] == ["2/1/1", "4/0/0"]
    assert rows["minority side (partitions)"] == ["0/1/1", "2/0/0"]
    assert rows["on n2 (partitions)"] == ["1/0/0", "1/0/0"]
    reading = tradeoff_reading([cp, ap])
    assert reading.startswith("cp refused 1 sends (1 on the minority side); ap refused no sends")
    assert "indeterminate): cp 1, ap 0" in reading
    assert "anomalies: cp none; ap" in reading and "seq-conflict" in reading
    assert table.rstrip().endswith(reading)
    data = comparison_json([cp, ap])
    assert [(d["refused"], d["indeterminate"]) for d in data] == [(1, 1), (0, 0)]


@given(correct_histories() | edited_histories())
def test_one_availability_figure_the_checkers_and_the_report_share(case: Case) -> None:
    stats = check_history(parse_history(case.lines()))["stats"]
    figures = availability_stats(case.ops)
    assert figures["availability"] == stats["availability"]
    assert figures["sends"] == stats["sends"]
