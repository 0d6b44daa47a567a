"""The run configuration: flags, TOML, JSON and the reproduce command all spell one config; bad
values are refused with the setting's name."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.cli import build_parser
from harness.commands.run import config_values
from harness.config import (
    SETTINGS,
    ConfigError,
    RunConfig,
    from_mapping,
    load_toml,
    reproduce_command,
)
from harness.run import fault_starts

finite = {"allow_nan": False, "allow_infinity": False}
configs = st.builds(
    from_mapping,
    st.fixed_dictionaries(
        {},
        optional={
            "name": st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True),
            "seed": st.integers(0, 2**31),
            "nodes": st.integers(1, 9),
            "backend": st.sampled_from(["local", "docker"]),
            "nemesis": st.none()
            | st.lists(st.sampled_from(["partition", "kill", "pause", "latency"]), unique=True).map(
                tuple
            ),
            "nemesis_interval": st.none() | st.floats(0.1, 60, **finite),
            "profile": st.sampled_from(
                ["gentle", "default", "harsh", "primary-killer", "cluster-crash"]
            ),
            "partition_mode": st.sampled_from(["drop", "refuse"]),
            "partition_shapes": st.lists(
                st.sampled_from(["one-alone", "primary-alone", "halves", "bridge"]), unique=True
            ).map(tuple),
            "time_limit": st.floats(1, 600, **finite),
            "clients": st.integers(2, 200),
            "rate": st.floats(0.5, 500, **finite),
            "client_groups": st.integers(1, 8),
            "group_sizes": st.tuples(st.integers(2, 4), st.integers(4, 9)),
            "groups": st.integers(1, 5),
            "direct_chats": st.integers(0, 9),
            "offline_fraction": st.floats(0, 1, **finite),
            "conversation_starts": st.sampled_from(["at-start", "before-faults"]),
            "fault_times": st.none()
            | st.lists(st.floats(0, 3600, **finite), max_size=6).map(lambda ts: tuple(sorted(ts))),
            "request_timeout": st.floats(0.05, 10, **finite),
            "heartbeat": st.floats(0.05, 10, **finite),
            "drain_timeout": st.floats(1, 600, **finite),
            "out": st.from_regex(r"[a-z][a-z0-9/]{0,12}", fullmatch=True).map(Path),
            "image_source": st.sampled_from(["local", "registry"]),
            "schedule_file": st.none() | st.just(Path("runs/x/test.json")),
            "mode": st.sampled_from(["cp", "ap"]),
            "bug": st.sampled_from([None, "no-dedup", "ack-before-replicate"]),
            "e2e": st.booleans(),
        },
    ),
)


@given(configs)
def test_json_round_trip_gives_an_equal_config(config: RunConfig) -> None:
    assert from_mapping(config.to_json()) == config


@given(configs)
def test_the_reproduce_command_parses_back_to_the_same_config(config: RunConfig) -> None:
    argv = shlex.split(reproduce_command(config))
    assert argv[:2] == ["splitbrain", "run"]
    args = build_parser().parse_args(argv[1:])
    assert from_mapping(config_values(args)) == config


def test_fault_times_seed_means_the_schedules_and_none_means_no_fault_start() -> None:
    times = [from_mapping({"fault_times": text}).fault_times for text in ("seed", "none", "3,1.5")]
    assert times == [None, (), (1.5, 3.0)]
    assert fault_starts(from_mapping({"fault_times": "none", "nemesis": "kill"})) == ()


def test_every_setting_has_a_flag_in_run() -> None:
    help_text = build_parser().parse_args(["run"]).parser.format_help()
    for name, setting in SETTINGS.items():
        flag = setting.flag or "--" + name.replace("_", "-")
        assert flag in help_text, name


def test_toml_and_flags_spell_the_same_settings(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(
        '[test]\nnemesis = ["partition"]\ntime-limit = 12\nseed = 7\n'
        '[system]\nname = "reference"\nmode = "ap"\n'
    )
    config = from_mapping(load_toml(path), str(path))
    assert (config.system_settings()["mode"], config.nemesis, config.time_limit, config.seed) == (
        "ap",
        ("partition",),
        12.0,
        7,
    )
    args = build_parser().parse_args(
        ["run", "--mode", "ap", "--nemesis", "partition", "--time-limit", "12", "--seed", "7"]
    )
    assert from_mapping(config_values(args)) == config
    legacy = {"mode": "ap", "nemesis": "partition", "time_limit": "12", "seed": 7}
    assert from_mapping(legacy) == config


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"mode": "ca"}, "option mode = 'ca'; use one of cp, ap"),
        ({"system_options": {"colour": "red"}}, "unknown option(s) colour"),
        ({"system": "kafka"}, "system must be one of reference"),
        ({"nemesis": "partition,flood"}, "nemesis must be any of"),
        ({"clients": 1}, "clients must be 2..5000"),
        ({"senders": "outsiders", "clients": 2}, "senders = outsiders needs at least 3 clients"),
        ({"conversation_starts": "later"}, "must be one of at-start, before-faults"),
        ({"nodes": "three"}, "nodes = 'three' is not a valid value"),
        ({"colour": "red"}, "unknown setting(s) colour"),
        ({"group_sizes": "5-2"}, "group_sizes must be LOW-HIGH"),
        ({"rate": "inf"}, "rate = 'inf' is not a valid value"),
        ({"rate": 1e9}, "rate must be above 0 and at most 100000"),
        ({"time_limit": "nan"}, "time_limit = 'nan' is not a valid value"),
    ],
)
def test_bad_settings_name_the_setting(values: dict, words: str) -> None:
    with pytest.raises(ConfigError, match="settings: ") as info:
        from_mapping(values)
    assert words in str(info.value)


def test_bad_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("mode = \n")
    with pytest.raises(ConfigError, match=str(path)):
        load_toml(path)


def test_a_config_built_directly_is_validated_too() -> None:
    with pytest.raises(ConfigError, match="rate must be above 0"):
        RunConfig(rate=0)


def test_run_help_lists_the_options_of_the_system_given(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = build_parser().parse_args(["run", "--system", "reference", "--help"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "system reference:" in out and "mode" in out and "[cp|ap]" in out


def test_a_fault_the_system_does_not_offer_is_refused_by_name() -> None:
    from harness.run import RunError, make_schedule
    from systems.seam import Capabilities

    external = Capabilities(primary=False, process_faults=False)
    with pytest.raises(RunError, match="kill"):
        make_schedule(from_mapping({"nemesis": "partition,kill"}), external)
    with pytest.raises(RunError, match="primary-alone"):
        make_schedule(
            from_mapping({"nemesis": "partition", "partition_shapes": "primary-alone"}), external
        )
    everything = make_schedule(from_mapping({"nemesis": "partition"}), external)
    assert all(s.params.get("shape") != "primary-alone" for s in everything.steps)
    by_profile = make_schedule(from_mapping({}), external)
    assert by_profile.steps and {s.kind for s in by_profile.steps} <= {"partition", "latency"}


def test_changed_takes_a_shortcut_option_by_name_and_the_change_wins() -> None:
    ap = RunConfig().changed(mode="ap")
    assert ap.system_settings()["mode"] == "ap"
    assert ap.changed(mode="cp").system_settings()["mode"] == "cp"
