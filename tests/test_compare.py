"""`splitbrain compare`: runs side by side, every figure in its own row, one column per run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from checkers import ANOMALIES
from harness.cli import main
from harness.present.comparison import RunRecord, comparison_rows, format_comparison

EXAMPLES = Path(__file__).resolve().parents[1] / "histories" / "examples"


def record(label: str, mode: str, valid: object, lost: int, availability: float) -> RunRecord:
    counts = {name: 0 for name in ANOMALIES} | {"lost": lost}
    return RunRecord(
        label=label,
        test={"mode": mode, "seed": 7, "bug": None},
        results={"valid": valid, "anomaly_counts": counts, "unseen": 0},
        figures={
            "sends": {"ok": 9, "fail": 1, "info": 0},
            "availability": availability,
            "availability_during_faults": availability / 2,
            "availability_outside_faults": 1.0,
            "latency_ms": {"p50": 2.25, "p99": 31.0},
        },
    )


def test_every_anomaly_has_a_row_and_each_run_a_column() -> None:
    rows = dict(
        comparison_rows([record("cp", "cp", True, 0, 0.9), record("ap", "ap", False, 3, 1.0)])
    )
    for name in (*ANOMALIES, "availability", "  during faults", "latency p99 ms", "verdict"):
        assert len(rows[name]) == 2, name
    assert rows["lost"] == ["0", "3"]
    assert rows["verdict"] == ["valid", "INVALID"]
    assert rows["availability"] == ["90.0%", "100.0%"]
    assert rows["  during faults"] == ["45.0%", "50.0%"]
    assert rows["sends ok/refused/indet."] == ["9/1/0", "9/1/0"]


def test_the_table_lines_up_under_the_labels() -> None:
    text = format_comparison(
        [record("a-long-label", "cp", True, 0, 0.5), record("b", "ap", True, 0, 1)]
    )
    table, reading = text.split("\n\n")
    lines = table.splitlines()
    assert lines[0].rstrip().endswith("b") and "a-long-label" in lines[0]
    assert reading.startswith("reading: a-long-label refused 1 sends")
    assert len({len(line) for line in lines}) == 1


def run_dir(tmp_path: Path, name: str, example: str, mode: str) -> Path:
    path = tmp_path / name
    path.mkdir()
    shutil.copy(EXAMPLES / example, path / "history.jsonl")
    (path / "test.json").write_text(json.dumps({"mode": mode, "seed": 1, "bug": None}))
    return path


def test_compare_command_checks_runs_without_results(tmp_path: Path, capsys) -> None:
    cp = run_dir(tmp_path, "one", "valid-basic.jsonl", "cp")
    ap = run_dir(tmp_path, "two", "lost.jsonl", "ap")
    assert main(["compare", str(cp), str(ap), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["options"] for d in data] == [{}, {"mode": "ap"}]
    assert [(d["label"], d["system"]) for d in data] == [("cp", "reference"), ("ap", "reference")]
    assert [d["valid"] for d in data] == [True, False]
    assert data[1]["anomaly_counts"]["lost"] == 1


def test_bare_history_files_compare_too(capsys) -> None:
    files = [str(EXAMPLES / "valid-basic.jsonl"), str(EXAMPLES / "duplicated.jsonl")]
    assert main(["compare", *files]) == 0
    table = capsys.readouterr().out
    assert "valid-basic" in table and "duplicated" in table.splitlines()[0]
    assert [line.split()[1:] for line in table.splitlines() if line.startswith("duplicated")] == [
        ["0", "1"]
    ]


def test_a_directory_without_history_is_refused_with_what_to_do(tmp_path: Path, capsys) -> None:
    assert main(["compare", str(tmp_path)]) == 2
    assert "no history.jsonl" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["{not json", "[1, 2]"])
def test_a_broken_results_file_is_named(tmp_path: Path, capsys, bad: str) -> None:
    path = run_dir(tmp_path, "r", "valid-basic.jsonl", "cp")
    (path / "results.json").write_text(bad)
    code = main(["compare", str(path)])
    if bad.startswith("{"):
        assert code == 2 and "results.json" in capsys.readouterr().err
    else:
        assert code == 0
