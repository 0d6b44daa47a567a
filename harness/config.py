"""The configuration of one test run: CLI flags or a TOML file, validated into one record.

:class:`RunConfig` is the single source of every setting: each field carries its flag, its help,
how it is parsed and its allowed range, and from that one declaration come the ``run`` command
line, TOML reading, validation and the reproduce command (:func:`reproduce_argv`). Adding a setting
is one field. Everything is saved whole in ``test.json``, so a run can be repeated from its seed and
configuration alone. Errors name the setting (and the file) and say what values are allowed.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import re
import shlex
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nemesis.catalogue import KINDS, PARTITION_MODES, SHAPES
from nemesis.profiles import DEFAULT_PROFILE, PROFILES
from splitbrain.errors import SplitbrainError
from splitbrain.names import client_group_names, node_names
from systems import registry
from systems.seam import SystemConfigError, resolve_options, show_value

BACKENDS = ("local", "docker")
NEMESIS_KINDS = tuple(KINDS)
CONVERSATION_STARTS = ("at-start", "before-faults")
SENDERS = ("members", "outsiders")


class ConfigError(SplitbrainError, ValueError):
    """A setting is missing, unknown or out of range; the message says which and what to do."""


def _csv(value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else list(value)
    names = tuple(str(item).strip() for item in items if str(item).strip())
    return () if names == ("none",) else names


def _pair(value: Any) -> tuple[int, int]:
    if isinstance(value, str):
        value = value.split("-") if "-" in value else value.split(",")
    lo, hi = (int(v) for v in value)
    return (lo, hi)


_SIZE = re.compile(r"\s*(\d+)\s*([kKmM]?)\s*")
_UNIT = {"": 1, "k": 1024, "m": 1024 * 1024}


def parse_sizes(text: Any) -> tuple[int, ...]:
    """``1k,64k,1m`` (or a list) as byte counts (k = 1024); ValueError saying the form."""
    sizes = []
    for item in text.split(",") if isinstance(text, str) else [str(x) for x in text]:
        match = _SIZE.fullmatch(item)
        if not match or int(match.group(1)) == 0:
            raise ValueError(f"{item.strip()!r} is not a size; write sizes as 200, 1k, 64k or 1m")
        sizes.append(int(match.group(1)) * _UNIT[match.group(2).lower()])
    return tuple(sizes)


def _int(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(value)
    return int(value)


def _float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(value)
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(value)
    return number


def _times(value: Any) -> tuple[float, ...] | None:
    """Seconds, comma-separated or a list, in order; ``seed`` (or None) means the seeded
    schedule's fault times, ``none`` (or an empty list) no fault start at all."""
    if value is None or (isinstance(value, str) and value.strip() == "seed"):
        return None
    if isinstance(value, str) and value.strip() == "none":
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(sorted(_float(item) for item in items))


def _show_times(value: Any) -> str:
    if value is None:
        return "seed"
    return _text(value) if value else "none"


def _kinds(value: Any) -> tuple[str, ...] | None:
    """Fault kinds; ``profile`` (or None) means the profile's, ``none`` means no faults."""
    if value is None or (isinstance(value, str) and value.strip() == "profile"):
        return None
    return _csv(value)


def _interval(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and value.strip() == "profile"):
        return None
    return _float(value)


def _show_profiled(value: Any) -> str:
    return "profile" if value is None else _text(value)


def _path(value: Any) -> Path | None:
    return None if value in (None, "") else Path(value)


def _options(value: Any) -> tuple[tuple[str, Any], ...]:
    """``{"k": v}``, ``[("k", v)]`` or ``["k=v", ...]`` as sorted pairs."""
    if isinstance(value, Mapping):
        pairs = list(value.items())
    else:
        pairs = []
        for item in value:
            if isinstance(item, str):
                key, sep, text = item.partition("=")
                if not sep or not key.strip():
                    raise ValueError(f"{item!r} is not NAME=VALUE")
                pairs.append((key.strip(), text))
            else:
                key, text = item
                pairs.append((str(key), text))
    return tuple(sorted(dict(pairs).items()))


def _text(value: Any) -> str:
    """A value as the command line writes it (the parsers above read it back)."""
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value) or "none"
    return show_value(value)


@dataclass(frozen=True)
class Setting:
    """How one :class:`RunConfig` field appears on the command line and is checked."""

    help: str
    parse: Callable[[Any], Any] = str
    check: Callable[[Any], bool] | None = None
    expect: str = ""
    flag: str | None = None  # default: --field-name
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    show: Callable[[Any], str] = _text  # how the command line writes a value


def setting(default: Any, help: str, **kwargs: Any) -> Any:
    if isinstance(default, (list, dict, Path)):
        return field(default_factory=lambda: default, metadata={"setting": Setting(help, **kwargs)})
    return field(default=default, metadata={"setting": Setting(help, **kwargs)})


@dataclass(frozen=True)
class RunConfig:
    """One run's settings. Defaults give a meaningful run of about 40 seconds."""

    name: str = setting("chat", "test name: runs go to OUT/NAME/<timestamp>")
    seed: int = setting(1, "seed of the workload and the fault schedule", parse=_int)
    system: str = setting(
        registry.DEFAULT,
        "the messaging system under test",
        choices=registry.names(),
    )
    system_options: tuple[tuple[str, Any], ...] = setting(
        (),
        "an option of the system, NAME=VALUE, repeatable (see `run --system NAME --help`)",
        parse=_options,
        flag="--system-opt",
        metavar="NAME=VALUE",
    )
    backend: str = setting("local", "where nodes run", choices=BACKENDS)
    nodes: int = setting(3, "cluster size", parse=_int, check=lambda v: 1 <= v <= 9, expect="1..9")
    profile: str = setting(
        DEFAULT_PROFILE,
        "how often, how long, how aimed and how overlapping faults are",
        choices=tuple(PROFILES),
    )
    nemesis: tuple[str, ...] | None = setting(
        None,
        f"fault kinds, comma-separated, from {','.join(NEMESIS_KINDS)}; 'none' for no faults; "
        "'profile' for the profile's kinds that the system offers",
        parse=_kinds,
        check=lambda v: v is None or all(k in KINDS for k in v),
        expect=f"any of {', '.join(NEMESIS_KINDS)}",
        show=_show_profiled,
    )
    nemesis_interval: float | None = setting(
        None,
        "seconds between faults ('profile' for the profile's)",
        parse=_interval,
        check=lambda v: v is None or 0.1 <= v <= 3600,
        expect="0.1..3600 seconds",
        show=_show_profiled,
    )
    partition_mode: str = setting(
        "drop",
        "drop: cut links go silent; refuse: connections refused",
        choices=tuple(PARTITION_MODES),
    )
    partition_shapes: tuple[str, ...] = setting(
        (),
        f"partition shapes to draw from, comma-separated, from {','.join(SHAPES)} (all)",
        parse=_csv,
        check=lambda v: all(s in SHAPES for s in v),
        expect=f"any of {', '.join(SHAPES)}",
    )
    time_limit: float = setting(
        30.0,
        "seconds of load and faults",
        parse=_float,
        check=lambda v: 0 < v <= 3600,
        expect="above 0 and at most 3600 seconds",
    )
    clients: int = setting(
        12,
        "chat clients, one user each",
        parse=_int,
        check=lambda v: 2 <= v <= 5000,
        expect="2..5000 (someone has to receive)",
    )
    rate: float = setting(
        25.0,
        "sends per second, all clients together",
        parse=_float,
        check=lambda v: 0 < v <= 100_000,
        expect="above 0 and at most 100000 sends per second",
    )
    client_groups: int = setting(
        2,
        "client groups, each with its own proxies",
        parse=_int,
        check=lambda v: 1 <= v <= 8,
        expect="1..8",
    )
    group_sizes: tuple[int, int] = setting(
        (3, 5),
        "members of a group chat, LOW-HIGH",
        parse=_pair,
        check=lambda v: 2 <= v[0] <= v[1] <= 1000,
        expect="LOW-HIGH with 2 <= LOW <= HIGH <= 1000",
        metavar="LOW-HIGH",
        show=lambda v: f"{v[0]}-{v[1]}",
    )
    groups: int = setting(
        3, "group chats", parse=_int, check=lambda v: 0 <= v <= 10_000, expect="0..10000"
    )
    direct_chats: int = setting(
        6, "direct (1:1) chats", parse=_int, check=lambda v: 0 <= v <= 10_000, expect="0..10000"
    )
    offline_fraction: float = setting(
        0.25,
        "share of clients that go offline once",
        parse=_float,
        check=lambda v: 0 <= v <= 1,
        expect="0..1",
    )
    conversation_starts: str = setting(
        "at-start",
        "when each conversation is first used: at-start (any time) or before-faults (each "
        "shortly before a seeded fault starts, one conversation per fault; those left over at "
        "the start)",
        choices=CONVERSATION_STARTS,
    )
    senders: str = setting(
        "members",
        "who sends: members (a member of the conversation) or outsiders (a quarter of the "
        "clients, at least one, are in no conversation and send every message; the members "
        "stay offline until the drain, so every message reaches them through the backlog)",
        choices=SENDERS,
    )
    payload_sizes: tuple[int, ...] = setting(
        (24, 200, 2000),
        "message body sizes to draw from, comma-separated, k = 1024 (e.g. 200,1k,64k)",
        parse=parse_sizes,
        check=lambda v: bool(v) and all(16 <= x <= 4_000_000 for x in v),
        expect="one or more sizes of 16..4000000 bytes",
        metavar="BYTES,...",
    )
    colliding_ids: float = setting(
        0.02,
        "share of sends whose message id another sender also uses (a system must key ids by "
        "sender)",
        parse=_float,
        check=lambda v: 0 <= v <= 0.5,
        expect="0..0.5",
    )
    burst: float = setting(
        2.0,
        "send rate multiplier in the first seconds of each fault (1 for none)",
        parse=_float,
        check=lambda v: 1 <= v <= 20,
        expect="1..20",
    )
    fault_times: tuple[float, ...] | None = setting(
        None,
        "seconds into the run the workload treats as fault starts: it bursts and sends clients "
        "offline there; 'seed' (the default) takes them from the seeded schedule, also when "
        "another schedule is replayed, so a replay keeps the original workload; 'none' for a "
        "steady workload",
        parse=_times,
        check=lambda v: v is None or all(0 <= t <= 3600 for t in v),
        expect="'seed', 'none' or times of 0..3600 seconds",
        metavar="SECONDS,...",
        show=_show_times,
    )
    request_timeout: float = setting(
        3.0,
        "seconds a client waits for an ack before it records info and retries",
        parse=_float,
        check=lambda v: 0.05 <= v <= 600,
        expect="0.05..600 seconds",
    )
    heartbeat: float = setting(
        1.0,
        "seconds between a client's liveness probes of its node (failure detection)",
        parse=_float,
        check=lambda v: 0.05 <= v <= 60,
        expect="0.05..60 seconds",
    )
    drain_timeout: float = setting(
        60.0,
        "seconds the final catch-up may take",
        parse=_float,
        check=lambda v: 0 < v <= 3600,
        expect="above 0 and at most 3600 seconds",
    )
    out: Path = setting(Path("histories"), "root of run directories", parse=Path, metavar="DIR")
    image_source: str = setting(
        "local", "docker images: local (no registry) or registry", choices=("local", "registry")
    )
    schedule_file: Path | None = setting(
        None,
        "replay the fault schedule of a test.json",
        parse=_path,
        flag="--schedule",
        metavar="TEST_JSON",
    )

    def __post_init__(self) -> None:
        validate(self)
        # Given system options are kept parsed, so a config read back from its own command
        # line or JSON is equal to it.
        settings = self.system_settings()
        parsed = tuple(sorted((k, settings[k]) for k, _ in self.system_options))
        object.__setattr__(self, "system_options", parsed)

    @property
    def node_names(self) -> tuple[str, ...]:
        return node_names(self.nodes)

    @property
    def client_group_names(self) -> tuple[str, ...]:
        return client_group_names(self.client_groups)

    def changed(self, **values: Any) -> RunConfig:
        """This config with some settings changed (validated; the system's shortcut options,
        e.g. the reference system's, may be given by name too)."""
        data = self.to_json()
        options = dict(data["system_options"])
        for name in shortcut_options(str(values.get("system", self.system))):
            if name in values and name not in SETTINGS:
                options[name] = values.pop(name)
        return from_mapping({**data, "system_options": options, **values})

    def system_settings(self) -> dict[str, Any]:
        """Every option of the chosen system with its value (given or default)."""
        declared = registry.system_class(self.system).options
        return resolve_options(self.system, declared, dict(self.system_options))

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict that :func:`from_mapping` reads back to an equal config."""
        data: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Path):
                value = str(value)
            elif f.name == "system_options":
                value = dict(value)
            elif isinstance(value, tuple):
                value = list(value)
            data[f.name] = value
        return data


SETTINGS: dict[str, Setting] = {
    f.name: f.metadata["setting"] for f in dataclasses.fields(RunConfig) if "setting" in f.metadata
}
_DEFAULTS = RunConfig.__dataclass_fields__


def flag_of(name: str) -> str:
    return SETTINGS[name].flag or "--" + name.replace("_", "-")


def default_of(name: str) -> Any:
    f = _DEFAULTS[name]
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def from_mapping(values: Mapping[str, Any], source: str = "settings") -> RunConfig:
    """Build and validate a config from plain values (TOML, JSON, CLI); unknown keys are errors.

    The chosen system's shortcut options (:class:`systems.seam.Shortcut`) are accepted at the
    top level too (as older configs and test.json files have them) and become system options.
    """
    values = dict(values)
    shortcut = shortcut_options(str(values.get("system") or registry.DEFAULT))
    legacy = {k: values.pop(k) for k in shortcut if k in values and k not in SETTINGS}
    if legacy:
        options = dict(_options(values.get("system_options") or ()))
        options.update({k: v for k, v in legacy.items() if k not in options})
        values["system_options"] = options
    unknown = sorted(set(values) - set(SETTINGS))
    if unknown:
        raise ConfigError(
            f"{source}: unknown setting(s) {', '.join(unknown)}; "
            f"known settings are: {', '.join(sorted(SETTINGS))}"
        )
    coerced: dict[str, Any] = {}
    for key, value in values.items():
        if value is None and key not in ("schedule_file", "nemesis", "nemesis_interval"):
            continue
        try:
            coerced[key] = SETTINGS[key].parse(value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"{source}: {key} = {value!r} is not a valid value; {describe(key)}"
            ) from None
    try:
        return RunConfig(**coerced)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {str(exc).removeprefix('settings: ')}") from None


def shortcut_options(system: str) -> tuple[str, ...]:
    """The options of ``system`` that have a flag of their own; () for an unknown system."""
    try:
        return tuple(s.option for s in registry.system_class(system).shortcuts)
    except SystemConfigError:
        return ()


def describe(key: str) -> str:
    s = SETTINGS[key]
    if s.choices:
        return f"{key} must be one of {', '.join(s.choices)}"
    return f"{key} must be {s.expect}" if s.expect else f"{key}: {s.help}"


def load_toml(path: Path) -> dict[str, Any]:
    """Read the settings of a TOML file: the top level or a ``[test]`` table, and a ``[system]``
    table whose ``name`` picks the system and whose other keys are its options."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file; give the path of a TOML config") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory; give the path of a TOML config") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the file and run again") from None
    table = dict(data.get("test", {k: v for k, v in data.items() if k != "system"}))
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [test] must be a table of settings")
    values = {key.replace("-", "_"): value for key, value in table.items()}
    system = data.get("system")
    if isinstance(system, dict):
        system = dict(system)
        if "name" in system:
            values["system"] = system.pop("name")
        values["system_options"] = {k.replace("-", "_"): v for k, v in system.items()}
    elif system is not None:
        raise ConfigError(f"{path}: [system] must be a table (name = ..., then its options)")
    return values


def validate(config: RunConfig, source: str = "settings") -> None:
    """Raise :class:`ConfigError` for the first setting out of range (system options too)."""
    for key, s in SETTINGS.items():
        value = getattr(config, key)
        if s.choices is not None and value not in s.choices:
            raise ConfigError(f"{source}: {describe(key)}")
        if s.check is not None and not s.check(value):
            raise ConfigError(f"{source}: {describe(key)}")
    if config.groups + config.direct_chats <= 0:
        raise ConfigError(f"{source}: give at least one group or direct chat")
    if config.senders == "outsiders" and config.clients < 3:
        raise ConfigError(
            f"{source}: senders = outsiders needs at least 3 clients (2 members and a sender "
            "outside them); raise clients"
        )
    try:
        config.system_settings()
    except SystemConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per setting, every one optional (unset flags fall back to TOML, then defaults)."""
    for key, s in SETTINGS.items():
        default = default_of(key)
        shown = "" if key == "system_options" else f" (default {s.show(default)})"
        kwargs: dict[str, Any] = {"dest": key, "help": s.help + shown, "metavar": s.metavar}
        if key == "system_options":
            kwargs["action"] = "append"
        if s.choices:
            kwargs["choices"] = s.choices
            kwargs.pop("metavar")
        parser.add_argument(flag_of(key), **kwargs)


def reproduce_argv(config: RunConfig) -> list[str]:
    """``splitbrain run`` arguments that rebuild exactly ``config``: every setting that differs
    from its default, written as its flag parses it."""
    args = ["splitbrain", "run"]
    flags = {s.option: s.run_flag for s in registry.system_class(config.system).shortcuts}
    for key in SETTINGS:
        value = getattr(config, key)
        if key == "seed" or value != default_of(key):
            if key == "system_options":
                for name, option in value:
                    if name in flags:
                        args += [flags[name], _text(option)]  # the system's own flag
                    else:
                        args += [flag_of(key), f"{name}={_text(option)}"]
            else:
                args += [flag_of(key), SETTINGS[key].show(value)]
    return args


def reproduce_command(config: RunConfig) -> str:
    """:func:`reproduce_argv` as one shell command line."""
    return shlex.join(reproduce_argv(config))
