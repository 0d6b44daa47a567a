"""The trade-off comparisons: which runs they make, and the send-to-deliver figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness import cli
from harness.config import ConfigError, RunConfig, from_mapping, parse_sizes
from harness.run import make_schedule
from harness.tradeoffs import delivery_figures, vary_variants
from harness.workload import plan_workload


def test_sizes_read_as_a_person_writes_them() -> None:
    assert parse_sizes("1k, 64k,1m,200") == (1024, 65536, 1048576, 200)
    with pytest.raises(ValueError, match="write sizes as"):
        parse_sizes("1g")


def test_modes_differ_only_in_mode_so_workload_and_schedule_are_the_same() -> None:
    base = from_mapping({"seed": 9, "nemesis": "partition,kill", "time_limit": 12})
    cp, ap = vary_variants(base, "mode", ("cp", "ap"))
    assert (cp.config.system_settings()["mode"], ap.config.system_settings()["mode"]) == (
        "cp",
        "ap",
    )
    assert plan_workload(cp.config) == plan_workload(ap.config)
    assert make_schedule(cp.config) == make_schedule(ap.config)


@given(st.lists(st.integers(16, 2**20), min_size=1, max_size=3, unique=True))
def test_e2e_pairs_cover_every_size_on_and_off(sizes: list[int]) -> None:
    variants = vary_variants(RunConfig(), "e2e", ("on", "off"), sizes)
    assert len(variants) == 2 * len(sizes)
    seen = {(v.config.system_settings()["e2e"], v.config.payload_sizes) for v in variants}
    assert seen == {(on, (size,)) for on in (True, False) for size in sizes}
    assert {v.config.seed for v in variants} == {RunConfig().seed}


def op(index: int, ms: int, process: int, kind: str, f: str, value: dict) -> dict:
    return {"index": index, "time": ms * 1_000_000, "process": process, "type": kind, "f": f,
            "value": value}  # fmt: skip


def test_deliver_latency_counts_each_recipients_first_sight_from_the_first_invoke() -> None:
    send = {"id": "m1-1", "conv": "g", "from": "u1", "to": ["u2", "u3"]}
    ops = [
        op(0, 0, 0, "invoke", "send", send),
        op(1, 10, 0, "ok", "send", {"id": "m1-1", "conv": "g", "seq": 1}),
        op(2, 20, 1, "ok", "deliver", {"id": "m1-1", "user": "u2"}),
        op(3, 40, 1, "ok", "deliver", {"id": "m1-1", "user": "u2"}),  # a second arrival
        op(4, 1000, 2, "ok", "deliver", {"id": "m1-1", "user": "u3"}),
    ]
    figures = delivery_figures(ops)
    assert figures["deliver_ms"] == {"p50": 1000.0, "p99": 1000.0}
    assert figures["acked_per_s"] == pytest.approx(1.0)
    assert figures["delivered_per_s"] == pytest.approx(2.0)
    assert delivery_figures([])["deliver_ms"] == {"p50": None, "p99": None}


def test_compare_needs_runs_or_something_to_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["compare"]) == 2
    assert "--modes cp,ap" in capsys.readouterr().err
    assert cli.main(["compare", "--e2e", "maybe"]) == 2
    assert "'maybe' is not on or off" in capsys.readouterr().err


@pytest.mark.slow
def test_compare_modes_runs_both_modes_and_compares_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["compare", "--modes", "cp,ap", "--json", "--time-limit", "6", "--nemesis",
            "partition", "--nemesis-interval", "2", "--clients", "6",
            "--out", str(tmp_path)]  # fmt: skip
    assert cli.main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["options"] for d in data] == [{}, {"mode": "ap"}] and {d["seed"] for d in data} == {1}
    assert [d["label"] for d in data] == ["cp", "ap"]
    assert all(d["sends"]["ok"] > 0 for d in data)


def test_the_comparison_shows_send_to_deliver_figures_when_runs_have_them() -> None:
    from harness.present.comparison import RunRecord, comparison_rows

    figures = {"deliver_ms": {"p50": 7.5, "p99": 90.0}, "acked_per_s": 14.0}
    runs = [RunRecord("e2e on 1k", {}, {}, figures), RunRecord("e2e off 1k", {}, {}, {})]
    rows = dict(comparison_rows(runs))
    assert rows["deliver p50 ms"] == ["7.5", "n/a"] and rows["acked sends/s"] == ["14.0", "n/a"]
    assert "deliver p50 ms" not in dict(comparison_rows(runs[1:]))


def test_vary_takes_a_system_option_of_any_system() -> None:
    base = from_mapping({"system": "nats", "seed": 4, "nemesis": "kill", "time_limit": 12})
    lazy, eager = vary_variants(base, "sync_interval", ("2m", "always"))
    assert (lazy.label, eager.label) == ("2m", "always")
    assert [v.config.system_settings()["sync_interval"] for v in (lazy, eager)] == ["2m", "always"]
    assert plan_workload(lazy.config) == plan_workload(eager.config)
    assert make_schedule(lazy.config) == make_schedule(eager.config)


def test_vary_takes_a_run_setting_and_names_what_it_can_vary() -> None:
    slow, fast = vary_variants(RunConfig(), "rate", ("10", "50"))
    assert (slow.config.rate, fast.config.rate) == (10.0, 50.0)
    with pytest.raises(ConfigError, match=r"flavour: not a setting nor an option.*sync_interval"):
        vary_variants(from_mapping({"system": "nats"}), "flavour", ("a", "b"))


def test_a_systems_vary_flag_is_refused_for_another_system(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["compare", "--modes", "cp,ap", "--system", "nats"]) == 2
    err = capsys.readouterr().err
    assert "--modes is system reference's" in err and "--vary NAME=V1,V2" in err
    assert cli.main(["run", "--system", "nats", "--mode", "ap"]) == 2
    assert "--mode is system reference's flag for its option mode" in capsys.readouterr().err
