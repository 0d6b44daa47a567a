"""results.json as one record, and test.json as the presenters read it (old shapes too)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.results import Results, ResultsUnreadable
from harness.run_description import RunDescription
from systems.seam import SystemDescription

names = st.text(st.characters(categories=("Ll",)), min_size=1, max_size=8)
counts = st.dictionaries(names, st.integers(0, 5), max_size=4)


@st.composite
def results(draw: st.DrawFn) -> Results:
    found = draw(counts)
    valid = draw(st.sampled_from([True, False, "unknown"]))
    return Results(
        valid=valid,
        anomaly_counts=found,
        anomalies={name: [{"why": f"{name} {i}"} for i in range(n)] for name, n in found.items()},
        unseen=draw(st.integers(0, 3)),
        stats={"availability": draw(st.floats(0, 1))},
        source=draw(st.none() | names),
        system=draw(st.none() | st.builds(SystemDescription, names, names)),
        extra=draw(st.dictionaries(names.map(lambda n: "x-" + n), st.integers(), max_size=2)),
    )


@given(results())
def test_what_is_written_reads_back_equal_and_reads_as_its_json(record: Results) -> None:
    data = json.loads(json.dumps(record.to_json()))
    assert Results.from_json(data) == record
    assert dict(record) == data  # the mapping view is the JSON form


@given(results(), st.integers(0, 3))
def test_a_recheck_keeps_exactly_the_run_level_findings(earlier: Results, leaked: int) -> None:
    earlier = earlier.with_run_finding("leaked", leaked, [{"why": "a leak"}] * leaked)
    fresh = Results(True, {name: 0 for name in earlier.anomaly_counts if name != "leaked"})
    kept = fresh.keeping_run_findings(earlier)
    assert kept.run_findings() == {"leaked": leaked}
    assert kept.valid is (leaked == 0)
    assert {n: c for n, c in kept.anomaly_counts.items() if n != "leaked"} == dict.fromkeys(
        fresh.anomaly_counts, 0
    )


def test_an_older_results_file_without_run_level_marks_keeps_what_the_checkers_do_not_give() -> (
    None
):
    older = Results.from_json({"valid": False, "anomaly_counts": {"lost": 0, "leaked": 2}})
    fresh = Results.from_json({"valid": True, "anomaly_counts": {"lost": 0}})
    kept = fresh.keeping_run_findings(older)
    assert kept.valid is False and kept.anomaly_counts == {"lost": 0, "leaked": 2}


def test_counts_that_are_not_ints_read_as_zero_and_a_broken_file_is_named(tmp_path: Path) -> None:
    odd = Results.from_json({"valid": "maybe", "anomaly_counts": {"lost": True, "dup": 2.5}})
    assert odd.valid is None and odd.anomaly_counts == {"lost": 0, "dup": 0}
    assert odd.exit_code == 2
    (tmp_path / "results.json").write_text("{cut")
    with pytest.raises(ResultsUnreadable, match=r"results\.json: not readable JSON.*check"):
        Results.read(tmp_path / "results.json")


def test_a_test_json_of_the_older_shapes_names_its_system_and_changed_options() -> None:
    reference = RunDescription.from_json(
        {"seed": 7, "mode": "ap", "bug": None, "system": {"name": "reference", "options": {}}}
    )
    assert reference.system == SystemDescription("reference", "unknown", {"mode": "ap"}, {})
    nats = RunDescription.from_json(
        {
            "system": {
                "system": "nats",
                "options": {"version": "2.15.3", "sync_interval": "always", "replicas": None},
                "server": {"version": "2.15.3"},
            },
            "config": {"system": "nats", "time_limit": 30.0, "nemesis": ["kill"]},
        }
    )
    assert nats.system is not None
    assert (nats.system.name, nats.system.version) == ("nats", "2.15.3")
    assert nats.system.options == {"sync_interval": "always"}
    assert (nats.time_limit, nats.nemesis) == (30.0, ("kill",))
    assert RunDescription.from_json({}).system is None
