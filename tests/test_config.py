"""The run configuration: flags and TOML agree, bad values are refused with the setting's name."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.config import ConfigError, RunConfig, from_mapping, load_toml

configs = st.builds(
    RunConfig,
    seed=st.integers(0, 2**31),
    nodes=st.integers(1, 9),
    mode=st.sampled_from(["cp", "ap"]),
    nemesis=st.lists(st.sampled_from(["partition", "kill", "pause", "latency"]), unique=True).map(
        tuple
    ),
    time_limit=st.floats(1, 600),
    clients=st.integers(2, 200),
    rate=st.floats(0.5, 500),
    bug=st.sampled_from([None, "no-dedup", "ack-before-replicate"]),
    e2e=st.booleans(),
)


@given(configs)
def test_json_round_trip_gives_an_equal_config(config: RunConfig) -> None:
    assert from_mapping(config.to_json()) == config


def test_toml_and_flags_spell_the_same_settings(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text('[test]\nmode = "ap"\nnemesis = ["partition"]\ntime-limit = 12\nseed = 7\n')
    config = from_mapping(load_toml(path), str(path))
    assert (config.mode, config.nemesis, config.time_limit, config.seed) == (
        "ap",
        ("partition",),
        12.0,
        7,
    )
    assert from_mapping({"mode": "ap", "nemesis": "partition", "time_limit": "12", "seed": 7}) == (
        config
    )


@pytest.mark.parametrize(
    ("values", "words"),
    [
        ({"mode": "ca"}, "mode must be one of cp, ap"),
        ({"nemesis": "partition,flood"}, "unknown nemesis kind flood"),
        ({"clients": 1}, "clients must be at least 2"),
        ({"nodes": "three"}, "nodes = 'three' is not a valid value"),
        ({"colour": "red"}, "unknown setting(s) colour"),
        ({"group_sizes": "5-2"}, "group_sizes must be LOW-HIGH"),
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
