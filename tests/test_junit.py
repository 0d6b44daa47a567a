"""``--junit FILE``: JUnit XML that CI reporters' schema accepts, with the anomalies in it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema

from checkers import ANOMALIES, check_history, load_history, parse_history
from harness.cli import main
from harness.present.junit import RunFacts, junit_xml, run_facts, run_junit
from tests.helpers.history_strategies import Builder

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "histories" / "examples"
SCHEMA = xmlschema.XMLSchema(ROOT / "docs" / "junit.xsd")


def results_of(name: str) -> dict:
    return check_history(load_history(EXAMPLES / name))


def cases(xml: bytes) -> dict[str, ET.Element]:
    root = ET.fromstring(xml)
    return {case.get("name"): case for case in root.iter("testcase")}


def properties(xml: bytes) -> dict[str, str]:
    return {p.get("name"): p.get("value") for p in ET.fromstring(xml).iter("property")}


def test_a_failing_history_gives_valid_junit_with_its_anomalies() -> None:
    results = results_of("fifo-violation.jsonl")
    facts = run_facts("fifo", {"seed": 7, "command": "splitbrain run --seed 7"}, "/r/x")
    xml = run_junit(results, facts)
    SCHEMA.validate(xml.decode())
    found = cases(xml)
    assert list(found) == list(ANOMALIES)
    failure = found["fifo-violation"].find("failure")
    assert failure is not None
    assert failure.get("message") == "1 fifo-violation"
    example = results["anomalies"]["fifo-violation"][0]
    assert example["why"] in failure.text
    assert "history indexes: " + ", ".join(map(str, example["indexes"])) in failure.text
    others = [name for name in ANOMALIES if name != "fifo-violation"]
    assert all(found[name].find("failure") is None for name in others)
    root = ET.fromstring(xml)
    tally = (root.get("tests"), root.get("failures"), root.get("skipped"))
    assert tally == (str(len(ANOMALIES)), "1", "0")
    props = properties(xml)
    assert props["seed"] == "7" and props["reproduce"] == "splitbrain run --seed 7"
    assert props["report"] == "/r/x/report.html" and props["verdict"] == "invalid"


def test_a_valid_history_gives_no_failure() -> None:
    xml = run_junit(results_of("valid-basic.jsonl"), RunFacts("valid"))
    SCHEMA.validate(xml.decode())
    root = ET.fromstring(xml)
    assert not list(root.iter("failure")) and not list(root.iter("skipped"))
    assert root.get("failures") == "0" and len(cases(xml)) == len(ANOMALIES)


def test_unknown_is_a_skipped_lost_case() -> None:
    xml = run_junit(results_of("unknown-no-drain.jsonl"), RunFacts("unknown"))
    SCHEMA.validate(xml.decode())
    skipped = cases(xml)["lost"].find("skipped")
    assert skipped is not None and "unknown" in skipped.get("message")
    assert ET.fromstring(xml).get("skipped") == "1"


def test_characters_xml_cannot_hold_are_replaced() -> None:
    builder = Builder()
    builder.send(1, "m\x01", "c1", "u1", ["u2"])
    builder.ok(1, "m\x01", "c1", seq=1)
    builder.drain()
    results = check_history(parse_history(builder.case.lines()))
    assert results["valid"] is False
    xml = run_junit(results, RunFacts("ctl\x02"))
    SCHEMA.validate(xml.decode())
    assert "m\ufffd" in cases(xml)["lost"].find("failure").text


def test_the_schema_rejects_what_ci_readers_would_not() -> None:
    xml = junit_xml([(results_of("lost.jsonl"), RunFacts("x"))])
    assert SCHEMA.is_valid(xml.decode())
    without_name = xml.replace(b'<testsuite name="x"', b"<testsuite")
    assert not SCHEMA.is_valid(without_name.decode())
    two_outcomes = xml.replace(b"</failure>", b"</failure><skipped />")
    assert not SCHEMA.is_valid(two_outcomes.decode())


def test_check_and_compare_write_junit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "chat" / "20261128T101500Z"
    run.mkdir(parents=True)
    (run / "history.jsonl").write_bytes((EXAMPLES / "lost.jsonl").read_bytes())
    (run / "test.json").write_text(json.dumps({"seed": 11, "command": "splitbrain run --seed 11"}))
    out = tmp_path / "check.xml"
    assert main(["check", str(run), "--junit", str(out)]) == 1
    xml = out.read_bytes()
    SCHEMA.validate(xml.decode())
    assert properties(xml)["seed"] == "11"
    assert properties(xml)["run_dir"] == str(run)
    assert cases(xml)["lost"].find("failure") is not None

    both = tmp_path / "compare.xml"
    valid = str(EXAMPLES / "valid-basic.jsonl")
    assert main(["compare", str(run), valid, "--junit", str(both)]) == 0
    capsys.readouterr()
    xml = both.read_bytes()
    SCHEMA.validate(xml.decode())
    suites = ET.fromstring(xml).findall("testsuite")
    assert [s.get("failures") for s in suites] == ["1", "0"]


def test_check_says_when_it_cannot_write_the_junit_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "missing" / "out.xml"
    assert main(["check", str(EXAMPLES / "lost.jsonl"), "--junit", str(target)]) == 2
    assert f"could not write {target}" in capsys.readouterr().err


@pytest.mark.slow
def test_a_failing_seeded_run_gives_junit_the_schema_accepts(tmp_path: Path) -> None:
    """End to end: a real seeded run of a planted bug (bounded to 8 s), then `check --junit`."""
    if shutil.which("toxiproxy-server") is None:
        reason = "toxiproxy-server not on PATH: run scripts/install-toxiproxy.sh"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    command = [sys.executable, "-m", "harness.cli", "run", "--seed", "3", "--mode", "cp"]
    command += ["--bug", "unordered-backlog", "--nemesis", "none", "--offline-fraction", "1"]
    command += ["--time-limit", "8", "--out", str(tmp_path)]
    command += ["--junit", str(tmp_path / "run-junit.xml")]
    ran = subprocess.run(command, capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert ran.returncode == 1, ran.stdout + ran.stderr
    run = (tmp_path / "latest").resolve()
    out = tmp_path / "junit.xml"
    assert main(["check", str(run), "--junit", str(out)]) == 1
    xml = out.read_bytes()
    SCHEMA.validate(xml.decode())
    from_run = (tmp_path / "run-junit.xml").read_bytes()
    SCHEMA.validate(from_run.decode())
    # the run also scanned its files for plaintext: one more (run-level) case, passing
    assert cases(from_run).keys() == {*cases(xml).keys(), "leaked"}
    assert cases(from_run)["leaked"].find("failure") is None
    assert {n for n, c in cases(from_run).items() if c.find("failure") is not None} == {
        n for n, c in cases(xml).items() if c.find("failure") is not None
    }
    counts = json.loads((run / "results.json").read_text())["anomaly_counts"]
    failing = {name for name, case in cases(xml).items() if case.find("failure") is not None}
    assert failing and failing == {name for name, n in counts.items() if n}
    assert all("history indexes: " in cases(xml)[name].find("failure").text for name in failing)
    props = properties(xml)
    assert props["seed"] == "3" and "--bug unordered-backlog" in props["reproduce"]
