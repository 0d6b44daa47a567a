"""Jepsen's queue checks: Jepsen's own test cases (``jepsen/test/jepsen/tests/kafka_test.clj``,
translated to EDN files under tests/data/jepsen-kafka with Jepsen's expected results), ``check``
on such a file end to end, and the round trip of splitbrain's own ``export --format
jepsen-queue``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from checkers import QueueHistory, judge, read_history
from checkers.edn import loads
from checkers.queue_checks import KINDS
from harness.cli import main
from tests.helpers.history_strategies import Builder

ROOT = Path(__file__).resolve().parent
CASES = ROOT / "data" / "jepsen-kafka"
EXPECTED: dict[str, dict[str, Any]] = json.loads((CASES / "EXPECTED.json").read_text())
EXAMPLES = ROOT.parent / "histories" / "examples"


def canonical(items: list[dict[str, Any]]) -> list[str]:
    return sorted(json.dumps(item, sort_keys=True) for item in items)


def test_every_case_file_is_in_the_manifest() -> None:
    assert sorted(p.name for p in CASES.glob("*.edn")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_jepsens_own_cases_give_jepsens_results(name: str) -> None:
    history = read_history(CASES / name)
    assert isinstance(history, QueueHistory)
    results = judge(history, max_examples=100)
    for kind, wanted in EXPECTED[name]["expect"].items():
        if kind == "all":
            assert {k: n for k, n in results["anomaly_counts"].items() if n} == {}
            continue
        got = results["anomalies"][kind]
        assert results["anomaly_counts"][kind] == len(wanted)
        fields = set().union(*(item.keys() for item in wanted)) if wanted else set()
        projected = [{k: v for k, v in item.items() if k in fields} for item in got]
        assert canonical(projected) == canonical(wanted)
        for item in got:
            assert item["why"] and item["indexes"] == sorted(set(item["indexes"]))


def test_every_kind_is_a_key_and_is_shown_firing_by_some_case() -> None:
    fired = {k for case in EXPECTED.values() for k, v in case["expect"].items() if v}
    assert fired == set(KINDS) - {"precommitted-read"}
    results = judge(read_history(CASES / "g1a.edn"))
    assert list(results["anomaly_counts"]) == list(KINDS)


def test_check_judges_a_queue_history_with_exit_codes_and_allowed_kinds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(CASES / "g1a.edn"), "--json"]) == 1
    results = json.loads(capsys.readouterr().out)
    assert results["checker"] == "jepsen-queue" and results["bad_error_types"] == ["G1a"]
    assert results["anomalies"]["G1a"][0]["indexes"] == [1, 3]
    # an allowed kind does not make it invalid, and the table says what was allowed
    assert main(["check", str(CASES / "int-send-skip.edn"), "--json"]) == 1  # a: never read
    results = json.loads(capsys.readouterr().out)
    assert results["anomaly_counts"]["int-send-skip"] == 1
    assert results["bad_error_types"] == ["lost-write", "unseen"]
    assert "int-send-skip" in results["allowed"]
    main(["check", str(CASES / "int-send-skip.edn")])
    assert "allowed by Jepsen's defaults (consumers assign): int-send-skip 1" in (
        capsys.readouterr().out
    )
    # poll-skip is allowed once the consumers subscribe
    for name, bad in (("poll-skip", True), ("poll-skip-subscribe-same", False)):
        main(["check", str(CASES / f"{name}.edn"), "--json"])
        results = json.loads(capsys.readouterr().out)
        assert results["anomaly_counts"]["poll-skip"] == 2
        assert ("poll-skip" in results["bad_error_types"]) is bad
        assert results["sub_via"] == (["assign"] if bad else ["subscribe"])
    empty = tmp_path / "empty.edn"
    empty.write_text("{:index 0, :time 0, :type :invoke, :process 0, :f :assign, :value [:x]}\n")
    assert main(["check", str(empty)]) == 3  # nothing sent or polled: nothing to judge


def test_a_bad_queue_operation_names_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.edn"
    bad.write_text(
        "{:index 0, :time 0, :type :invoke, :process 0, :f :poll, :value [[:poll]]}\n"
        "{:index 1, :time 1, :type :ok, :process 0, :f :poll, :value [[:poll {:x [[:a 1]]}]]}\n"
    )
    assert main(["check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2: line 2 has" in err and "[offset value] pair" in err


def export_queue(source: Path, tmp_path: Path) -> Path:
    out = tmp_path / f"{source.stem}.edn"
    assert main(["export", str(source), "--format", "jepsen-queue", "--out", str(out)]) == 0
    return out


def test_a_valid_splitbrain_history_exported_as_a_queue_is_valid(tmp_path: Path) -> None:
    for name in ("valid-basic", "valid-concurrent-sends", "valid-seq-not-addressed-and-gaps"):
        results = judge(read_history(export_queue(EXAMPLES / f"{name}.jsonl", tmp_path)))
        assert results["valid"] is True, (name, results["bad_error_types"])


@pytest.mark.parametrize(
    ("example", "kinds"),
    [
        ("lost", {"unseen"}),
        ("fifo-never-seen-without-drain", {"lost-write"}),
        ("duplicated", {"nonmonotonic-poll"}),
        ("seq-conflict-shared-seq", {"inconsistent-offsets"}),
        ("failed-delivered", {"G1a"}),
        ("seq-order", {"nonmonotonic-poll"}),
        ("seq-conflict-two-seqs", {"duplicate"}),
    ],
)
def test_splitbrain_anomalies_read_back_as_jepsens(
    example: str, kinds: set[str], tmp_path: Path
) -> None:
    results = judge(read_history(export_queue(EXAMPLES / f"{example}.jsonl", tmp_path)))
    assert kinds <= set(results["bad_error_types"])


def test_the_exported_queue_cites_back_into_the_history(tmp_path: Path) -> None:
    h = Builder().send(1, "m1", "g", "u1", ["u2"]).fail(1, "m1", "g")
    h.deliver(2, "m1", "g", "u1", "u2", 1).drain()
    source = tmp_path / "history.jsonl"
    source.write_bytes(b"".join(line + b"\n" for line in h.case.lines()))
    exported = export_queue(source, tmp_path)
    (example,) = judge(read_history(exported))["anomalies"]["G1a"]
    ops = {op["index"]: op for op in map(loads, exported.read_text().splitlines())}
    assert example["value"] == "m1"
    assert ops[example["reader"]]["splitbrain-index"] == 2  # the deliver line
    assert ops[example["writer"]]["splitbrain-index"] == 1  # the failed send's completion
