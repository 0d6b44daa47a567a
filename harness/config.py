"""The configuration of one test run: CLI flags or a TOML file, validated into one record.

Everything that decides what a run does is here and is saved whole in ``test.json``, so a run can be
repeated from its seed and configuration alone. Validation errors name the setting (and, for a TOML
file, the file) and say what values are allowed.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nemesis.catalogue import KINDS, PARTITION_MODES, SHAPES

MODES = ("cp", "ap")
BACKENDS = ("local", "docker")
NEMESIS_KINDS = tuple(KINDS)


class ConfigError(ValueError):
    """A setting is missing, unknown or out of range; the message says which and what to do."""


@dataclass(frozen=True)
class RunConfig:
    """One run's settings. Defaults give a meaningful run of about 40 seconds."""

    name: str = "chat"
    seed: int = 1
    backend: str = "local"
    nodes: int = 3
    mode: str = "cp"
    bug: str | None = None
    e2e: bool = True
    nemesis: tuple[str, ...] = ("partition", "kill", "pause")
    nemesis_interval: float = 5.0
    partition_mode: str = "drop"
    partition_shapes: tuple[str, ...] = ()  # () means every shape
    time_limit: float = 30.0
    clients: int = 12
    rate: float = 25.0
    client_groups: int = 2
    group_sizes: tuple[int, int] = (3, 5)
    groups: int = 3
    direct_chats: int = 6
    offline_fraction: float = 0.25
    request_timeout: float = 3.0
    drain_timeout: float = 60.0
    out: Path = field(default=Path("histories"))
    image_source: str = "local"
    schedule_file: Path | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict that :func:`from_mapping` reads back to an equal config."""
        data = dataclasses.asdict(self)
        data["nemesis"] = list(self.nemesis)
        data["partition_shapes"] = list(self.partition_shapes)
        data["group_sizes"] = list(self.group_sizes)
        data["out"] = str(self.out)
        data["schedule_file"] = str(self.schedule_file) if self.schedule_file else None
        return data

    def __post_init__(self) -> None:
        validate(self)

    @property
    def node_names(self) -> tuple[str, ...]:
        return tuple(f"n{i + 1}" for i in range(self.nodes))


_FIELDS = {f.name: f for f in dataclasses.fields(RunConfig)}


def from_mapping(values: dict[str, Any], source: str = "settings") -> RunConfig:
    """Build and validate a config from plain values (TOML, JSON, CLI); unknown keys are errors."""
    unknown = sorted(set(values) - set(_FIELDS))
    if unknown:
        raise ConfigError(
            f"{source}: unknown setting(s) {', '.join(unknown)}; "
            f"known settings are: {', '.join(sorted(_FIELDS))}"
        )
    coerced: dict[str, Any] = {}
    for key, value in values.items():
        if value is None and key not in ("bug", "schedule_file"):
            continue
        coerced[key] = _coerce(key, value, source)
    try:
        return RunConfig(**coerced)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {str(exc).removeprefix('settings: ')}") from None


def load_toml(path: Path) -> dict[str, Any]:
    """Read the settings of a TOML file (top level, or under a ``[test]`` table)."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file; give the path of a TOML config") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the file and run again") from None
    table = data.get("test", data)
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [test] must be a table of settings")
    return {key.replace("-", "_"): value for key, value in table.items()}


def _coerce(key: str, value: Any, source: str) -> Any:
    try:
        if key in ("nemesis", "partition_shapes"):
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(item.strip() for item in items if item.strip())
        if key == "group_sizes":
            if isinstance(value, str):
                value = value.split("-") if "-" in value else value.split(",")
            lo, hi = (int(v) for v in value)
            return (lo, hi)
        if key in ("out", "schedule_file"):
            return Path(value) if value is not None else None
        if key == "e2e":
            if isinstance(value, str):
                if value.lower() not in ("on", "off", "true", "false"):
                    raise ValueError(value)
                return value.lower() in ("on", "true")
            return bool(value)
        if key == "bug":
            return str(value) if value not in (None, "", "none") else None
        kind = type(getattr(RunConfig, key)) if hasattr(RunConfig, key) else str
        if kind is bool:
            return bool(value)
        if kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if kind is float:
            return float(value)
        return str(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{source}: {key} = {value!r} is not a valid value for {key}") from None


def validate(config: RunConfig, source: str = "settings") -> None:
    """Raise :class:`ConfigError` for the first setting out of range."""
    checks: list[tuple[bool, str]] = [
        (config.mode in MODES, f"mode must be one of {', '.join(MODES)}"),
        (config.backend in BACKENDS, f"backend must be one of {', '.join(BACKENDS)}"),
        (1 <= config.nodes <= 9, "nodes must be between 1 and 9"),
        (1 <= config.clients <= 5000, "clients must be between 1 and 5000"),
        (config.rate > 0, "rate must be above 0 (sends per second, all clients together)"),
        (0 < config.time_limit <= 3600, "time_limit must be between 0 and 3600 seconds"),
        (config.nemesis_interval > 0, "nemesis_interval must be above 0 seconds"),
        (1 <= config.client_groups <= 8, "client_groups must be between 1 and 8"),
        (
            2 <= config.group_sizes[0] <= config.group_sizes[1],
            "group_sizes must be LOW-HIGH with 2 <= LOW <= HIGH",
        ),
        (config.groups >= 0 and config.direct_chats >= 0, "groups and direct_chats must be >= 0"),
        (config.groups + config.direct_chats > 0, "give at least one group or direct chat"),
        (0 <= config.offline_fraction <= 1, "offline_fraction must be between 0 and 1"),
        (config.partition_mode in PARTITION_MODES, "partition_mode must be drop or refuse"),
        (config.drain_timeout > 0, "drain_timeout must be above 0 seconds"),
        (config.clients >= 2, "clients must be at least 2 (someone has to receive)"),
        (config.image_source in ("local", "registry"), "image_source must be local or registry"),
    ]
    bad = [kind for kind in config.nemesis if kind not in NEMESIS_KINDS]
    checks.append(
        (not bad, f"unknown nemesis kind {', '.join(bad)}; use any of {', '.join(NEMESIS_KINDS)}")
    )
    bad_shapes = [shape for shape in config.partition_shapes if shape not in SHAPES]
    checks.append(
        (
            not bad_shapes,
            f"unknown partition shape {', '.join(bad_shapes)}; use any of {', '.join(SHAPES)}",
        )
    )
    for ok, message in checks:
        if not ok:
            raise ConfigError(f"{source}: {message}")
