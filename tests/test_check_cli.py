"""``splitbrain check`` end to end: every committed example, run directories, output and exits."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from checkers import ANOMALIES, HistoryError
from checkers.source import MAX_LINE_BYTES, chunks
from harness.cli import main
from harness.present.summary import format_summary
from tests.helpers.history_strategies import Builder

EXAMPLES = Path(__file__).resolve().parent.parent / "histories" / "examples"
EXPECTED: dict[str, dict[str, Any]] = json.loads((EXAMPLES / "EXPECTED.json").read_text())


def run_check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["check", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_every_example_file_is_in_the_manifest() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.jsonl")) == sorted(EXPECTED)
    kinds = {name.split("-")[0] for name in EXPECTED}
    assert {"valid", "unknown", "bad"} <= kinds
    shown = {a for e in EXPECTED.values() for a, n in e.get("counts", {}).items() if n}
    assert shown == set(ANOMALIES)  # every anomaly has an example of its own


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_example_gives_its_expected_verdict(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = EXPECTED[name]
    code, out, err = run_check(capsys, str(EXAMPLES / name), "--json")
    assert code == expected["exit"], err
    if expected["exit"] == 2:
        assert out == ""
        assert f"{EXAMPLES / name}{expected['error']}" in err
        return
    results = json.loads(out)
    assert results["valid"] == expected["valid"]
    assert results["anomaly_counts"] == dict.fromkeys(ANOMALIES, 0) | expected["counts"]
    assert results["unseen"] == expected["unseen"]
    for anomaly, count in expected["counts"].items():
        assert len(results["anomalies"][anomaly]) == count


def run_dir(tmp_path: Path, builder: Builder) -> Path:
    folder = tmp_path / "histories" / "t" / "20261128T101500Z"
    folder.mkdir(parents=True)
    (folder / "history.jsonl").write_bytes(b"".join(line + b"\n" for line in builder.case.lines()))
    return folder


def lost_one() -> Builder:
    h = Builder().send(1, "m1", "g", "u1", ["u2", "u3"]).ok(1, "m1", "g", 1)
    return h.deliver(2, "m1", "g", "u1", "u2", 1).drain()


def test_a_run_directory_gets_results_json_equal_to_the_printed_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = run_dir(tmp_path, lost_one())
    code, out, _ = run_check(capsys, str(folder), "--json")
    assert code == 1
    written = json.loads((folder / "results.json").read_text())
    assert written == json.loads(out)
    assert written["anomaly_counts"]["lost"] == 1
    assert sorted(p.name for p in folder.iterdir()) == ["history.jsonl", "results.json"]


def test_a_later_check_rewrites_results_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = run_dir(tmp_path, lost_one())
    (folder / "results.json").write_text('{"stale": true}')
    code, out, _ = run_check(capsys, str(folder))
    assert code == 1 and "verdict: INVALID" in out
    assert "stale" not in (folder / "results.json").read_text()


def test_a_bare_file_is_checked_but_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = run_dir(tmp_path, lost_one())
    code, out, _ = run_check(capsys, str(folder / "history.jsonl"))
    assert code == 1 and "lost" in out
    assert not (folder / "results.json").exists()


def test_an_unreadable_history_writes_nothing_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = run_dir(tmp_path, lost_one())
    with (folder / "history.jsonl").open("ab") as history:
        history.write(b'{"index": 9, "time": 1}\n')
    (folder / "results.json").write_text("previous")
    code, out, err = run_check(capsys, str(folder), "--json")
    assert (code, out) == (2, "")
    assert f"{folder / 'history.jsonl'}:6: line 6 has index 9" in err
    assert "Nothing was written" in err
    assert (folder / "results.json").read_text() == "previous"


@pytest.mark.parametrize("where", ["missing.jsonl", "empty-dir"])
def test_a_missing_history_exits_2(
    where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty-dir").mkdir()
    code, _, err = run_check(capsys, str(tmp_path / where))
    assert code == 2 and str(tmp_path / where) in err


def test_unknown_and_valid_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    unknown = Builder().send(1, "m1", "g", "u1", ["u2"]).ok(1, "m1", "g", 1)
    code, out, _ = run_check(capsys, str(run_dir(tmp_path / "a", unknown)))
    assert code == 3 and "verdict: UNKNOWN" in out
    valid = Builder().send(1, "m1", "g", "u1", ["u2"]).ok(1, "m1", "g", 1)
    valid.deliver(2, "m1", "g", "u1", "u2", 1).drain()
    code, out, _ = run_check(capsys, str(run_dir(tmp_path / "b", valid)))
    assert code == 0 and "verdict: VALID" in out


def test_max_examples_caps_the_examples(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    h = Builder().send(1, "m1", "g", "u1", ["u2", "u3", "u4"]).ok(1, "m1", "g", 1).drain()
    folder = run_dir(tmp_path, h)
    _, out, _ = run_check(capsys, str(folder), "--json", "--max-examples", "2")
    results = json.loads(out)
    assert results["anomaly_counts"]["lost"] == 3 and len(results["anomalies"]["lost"]) == 2
    with pytest.raises(SystemExit):
        main(["check", str(folder), "--max-examples", "-1"])


def test_the_table_names_every_anomaly_and_cites_examples(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, out, _ = run_check(capsys, str(EXAMPLES / "causal-violation.jsonl"))
    lines = out.splitlines()
    assert lines[0] == "verdict: INVALID (1 anomaly of 1 kind)"
    for name in ANOMALIES:
        assert any(line.split() and line.split()[0] == name for line in lines)
    row = next(line for line in lines if line.startswith("causal-violation "))
    assert row.split()[1] == "1"
    assert "  causal-violation: u3 saw m2-1 (index 6) before m1-1 (index 7)" in out
    assert "sends: 2 ok, 0 fail, 0 info; availability 100.0%" in out


def test_the_table_accepts_unknown_keys_and_missing_ones() -> None:
    text = format_summary(
        {
            "valid": False,
            "anomaly_counts": {"lost": 2, "split-brain": 1},
            "anomalies": {"split-brain": [{"why": "two primaries at once."}], "lost": "odd"},
            "run": {"anything": [1, 2]},
            "stats": {"sends": {"ok": 3}, "availability": 0.75, "faults": {"kill": 2}},
        }
    )
    assert text.startswith("verdict: INVALID (3 anomalies of 2 kinds)")
    assert "split-brain  " in text and "two primaries at once." in text
    assert "sends: 3 ok, 0 fail, 0 info; availability 75.0%" in text
    assert "faults: kill 2" in text
    assert format_summary({}).startswith("verdict: None")


# --- hostile input: what a history cannot do to the terminal or the reader ----------------------


def test_ids_cannot_drive_the_terminal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = "m1\x1b[2J\x1b[32mverdict: VALID\x1b[0m\u202e\x9b"
    h = Builder().send(1, fake, "g", "u1", ["u2"]).ok(1, fake, "g", 1).drain()
    folder = run_dir(tmp_path, h)
    code, out, err = run_check(capsys, str(folder))
    assert code == 1 and "lost" in out
    for raw in ("\x1b", "\u202e", "\x9b"):
        assert raw not in out and raw not in err
    assert "m1\\x1b[2J\\x1b[32mverdict: VALID\\x1b[0m\\u202e\\x9b" in out
    code, out, _ = run_check(capsys, str(folder), "--json")
    assert all(raw not in out for raw in ("\x1b", "\u202e", "\x9b"))
    assert json.loads(out)["anomalies"]["lost"][0]["ids"] == [fake]  # the same data, escaped


def test_an_error_message_cannot_drive_the_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "history.jsonl"
    bad.write_text(json.dumps({"index": 0, "time": 0, "process": 1, "type": "ok", "f": "x\x1b[0m",
                               "value": None}) + "\n")  # fmt: skip
    code, _, err = run_check(capsys, str(bad))
    assert code == 2 and "\x1b" not in err and "\\x1b[0m" in err


@pytest.mark.parametrize("suffix", [".edn", ".jsonl"])
def test_deep_nesting_is_a_clear_error_exit_2(
    suffix: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deep = tmp_path / f"deep{suffix}"
    value = "[" * 200_000 + "]" * 200_000
    if suffix == ".edn":
        deep.write_text("{:index 0, :time 0, :process :nemesis, :type :invoke, :f :kill, "
                        f":value {value}}}\n")  # fmt: skip
    else:
        deep.write_text('{"index":0,"time":0,"process":"nemesis","type":"invoke","f":"kill",'
                        f'"value":{value}}}\n')  # fmt: skip
    code, out, err = run_check(capsys, str(deep))
    assert code == 2 and out == ""
    assert f"{deep}:1: line 1 " in err
    assert ("nests deeper than 64 levels" if suffix == ".edn" else "depth limit exceeded") in err
    assert "Traceback" not in err


def test_a_line_past_the_cap_is_refused_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    history = tmp_path / "history.jsonl"
    good = Builder().send(1, "m1", "g", "u1", ["u2"]).case.lines()[0]
    with history.open("wb") as out:
        out.write(good + b"\n" + b'{"index":1,"value":"' + b"x" * (MAX_LINE_BYTES + 1) + b'"}\n')
    code, _, err = run_check(capsys, str(history))
    assert code == 2
    assert f"{history}:2: line 2 is longer than 16 MiB" in err and "not read whole" in err


def test_the_reader_stops_at_the_cap_without_reading_on() -> None:
    class Endless:
        """A stream of one line that never ends."""

        def __init__(self) -> None:
            self.given = 0

        def read(self, size: int) -> bytes:
            self.given += size
            return b"x" * size

    stream = Endless()
    with pytest.raises(HistoryError, match=r"h.jsonl:1: line 1 is longer"):
        for _ in chunks(stream, "h.jsonl", max_line=1000, chunk_bytes=256):  # type: ignore[arg-type]
            pass
    assert stream.given < 2000
