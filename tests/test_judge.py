"""The end of a run: one check, one fold, results.json and the report from those objects, and the
confidentiality scan over the run's files."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

from harness.run import judge

EXAMPLES = Path(__file__).resolve().parents[1] / "histories" / "examples"
BODY = b"m1-1 the body nobody but u2 may read"


def run_dir(tmp_path: Path) -> Path:
    shutil.copy(EXAMPLES / "valid-basic.jsonl", tmp_path / "history.jsonl")
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "n1.log").write_text("INFO stored ciphertext only\n")
    return tmp_path


def test_a_plaintext_in_a_node_log_is_a_leak_that_makes_the_run_invalid(tmp_path: Path) -> None:
    folder = run_dir(tmp_path)
    (folder / "logs" / "n1.log").write_bytes(b"DEBUG got " + BODY + b"\n")
    results = judge(folder, {"name": "t"}, io.StringIO(), {"m1-1": BODY})
    assert results["anomaly_counts"]["leaked"] == 1 and results["valid"] is False
    assert results["anomalies"]["leaked"][0]["file"].endswith("logs/n1.log")
    stored = json.loads((folder / "results.json").read_text())
    assert stored["anomaly_counts"]["leaked"] == 1
    assert (folder / "report.html").read_text().count("leaked") >= 1


def test_a_clean_run_is_judged_once_with_one_availability_figure(tmp_path: Path) -> None:
    folder = run_dir(tmp_path)
    results = judge(folder, {"name": "t"}, io.StringIO(), {"m1-1": BODY})
    assert results["valid"] is True and results["anomaly_counts"]["leaked"] == 0
    assert "availability" in results["stats"] and "availability" not in results["run"]
    without_scan = judge(folder, {"name": "t"}, io.StringIO())
    assert "leaked" not in without_scan["anomaly_counts"]


def test_the_progress_line_names_every_fault_in_effect() -> None:
    from harness.counts import FaultsInEffect

    counts = FaultsInEffect()

    def nemesis(f: str) -> None:
        counts.observe({"process": "nemesis", "type": "invoke", "f": f, "value": None})

    nemesis("partition")
    nemesis("latency")
    assert counts.words == "latency+partition"
    nemesis("kill")
    nemesis("heal")
    assert counts.words == "kill+latency"
    nemesis("restart")
    nemesis("clear-latency")
    assert counts.words == "none"
