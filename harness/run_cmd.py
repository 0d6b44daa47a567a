"""`splitbrain run`: one seeded fault-injection test, ending with a verdict and its run directory.

Exit codes are those of `check`: 0 valid, 1 anomalies found, 3 unknown (no completed drain), and 2
when the run could not be made (bad settings, a cluster that would not start).
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Any

from harness.config import BACKENDS, MODES, NEMESIS_KINDS, ConfigError, from_mapping, load_toml
from nemesis.catalogue import SHAPES

# CLI flag -> config key; a flag left unset falls back to the TOML file, then the default.
_FLAGS: dict[str, str] = {
    "name": "name",
    "seed": "seed",
    "backend": "backend",
    "nodes": "nodes",
    "mode": "mode",
    "bug": "bug",
    "e2e": "e2e",
    "nemesis": "nemesis",
    "nemesis_interval": "nemesis_interval",
    "partition_mode": "partition_mode",
    "partition_shapes": "partition_shapes",
    "time_limit": "time_limit",
    "clients": "clients",
    "rate": "rate",
    "client_groups": "client_groups",
    "out": "out",
    "image_source": "image_source",
    "schedule": "schedule_file",
    "drain_timeout": "drain_timeout",
    "request_timeout": "request_timeout",
    "offline_fraction": "offline_fraction",
}


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "run",
        help="run one seeded fault-injection test and check it",
        description=(
            "Start the reference cluster behind Toxiproxy, drive chat clients while the nemesis "
            "injects seeded faults, heal, drain, check the history and print the verdict. "
            "Exit 0 valid, 1 anomalies, 3 unknown, 2 could not run."
        ),
    )
    p.add_argument("--config", type=Path, help="TOML file with the same settings (flags win)")
    p.add_argument(
        "--replay",
        type=Path,
        metavar="RUN_DIR",
        help="repeat a stored run: its whole configuration and fault schedule from "
        "RUN_DIR/test.json (other flags given override single settings)",
    )
    p.add_argument("--name", help="test name: runs go to OUT/NAME/<timestamp> (default chat)")
    p.add_argument("--seed", type=int, help="seed of the workload and the fault schedule")
    p.add_argument("--backend", choices=BACKENDS, help="where nodes run (default local)")
    p.add_argument("--nodes", type=int, help="cluster size (default 3)")
    p.add_argument("--mode", choices=MODES, help="cp: refuse without a majority; ap: always accept")
    p.add_argument("--bug", help="switch on one known-wrong behaviour of the cluster")
    p.add_argument("--e2e", choices=("on", "off"), help="end-to-end encryption (default on)")
    p.add_argument(
        "--nemesis",
        help=f"fault kinds, comma-separated, from {','.join(NEMESIS_KINDS)}; 'none' for no faults",
    )
    p.add_argument("--nemesis-interval", type=float, help="seconds between faults (default 5)")
    p.add_argument(
        "--partition-mode",
        choices=("drop", "refuse"),
        help="drop: cut links go silent (default); refuse: connections refused",
    )
    p.add_argument(
        "--partition-shapes",
        help=f"partition shapes to draw from, comma-separated, from {','.join(SHAPES)} (all)",
    )
    p.add_argument("--time-limit", type=float, help="seconds of load and faults (default 30)")
    p.add_argument("--clients", type=int, help="chat clients, one user each (default 12)")
    p.add_argument("--rate", type=float, help="sends per second, all clients together (default 25)")
    p.add_argument("--client-groups", type=int, help="client groups with their own proxies")
    p.add_argument("--out", type=Path, help="root of run directories (default histories)")
    p.add_argument("--image-source", choices=("local", "registry"), help="docker images")
    p.add_argument("--schedule", type=Path, help="replay the fault schedule of a test.json")
    p.add_argument("--drain-timeout", type=float, help="seconds the final catch-up may take")
    p.add_argument(
        "--offline-fraction", type=float, help="share of clients that go offline once (0.25)"
    )
    p.add_argument(
        "--request-timeout", type=float, help="seconds a client waits for an ack before retrying"
    )
    p.set_defaults(func=main)


def replay_values(run_dir: Path) -> dict[str, Any]:
    """The settings of the run stored in ``run_dir/test.json``, replaying its fault schedule.

    The result is the stored ``config`` (``out`` and ``name`` as stored, so a replay lands
    beside the original) with ``schedule_file`` set to that test.json. Raises
    :class:`ConfigError` naming the file and saying what to do when it cannot be read.
    """
    import orjson

    path = run_dir / "test.json"
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise ConfigError(
            f"{path}: cannot read it ({exc.strerror or exc}); give the directory of a run "
            "that `splitbrain run` wrote (it holds test.json)"
        ) from None
    except orjson.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}: not valid JSON ({exc}); give a run directory with an intact test.json"
        ) from None
    stored = data.get("config") if isinstance(data, dict) else None
    if not isinstance(stored, dict):
        raise ConfigError(
            f'{path}: has no "config" object (written by an older splitbrain?); repeat it with '
            f'`splitbrain run --schedule {path}` and the flags of its "command"'
        )
    return {**stored, "schedule_file": path}


def config_values(args: argparse.Namespace) -> dict[str, Any]:
    """Settings of the replayed run (if any), then the TOML file (if any), then the flags given."""
    values: dict[str, Any] = replay_values(args.replay) if getattr(args, "replay", None) else {}
    if args.config:
        values.update(load_toml(args.config))
    for flag, key in _FLAGS.items():
        value = getattr(args, flag, None)
        if value is not None:
            values[key] = value
    if values.get("nemesis") in ("none", ""):
        values["nemesis"] = ()
    return values


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(args: argparse.Namespace) -> int:
    from harness.run import format_figures, run_test
    from harness.summary import format_summary

    source = str(args.config) if args.config else "command line"
    if getattr(args, "replay", None):
        source = f"{args.replay / 'test.json'} with the flags given"
    try:
        config = from_mapping(config_values(args), source)
    except ConfigError as exc:
        print(f"splitbrain run: {exc}", file=sys.stderr)
        return 2
    # Ctrl-C and SIGTERM end the run the same way, also when a shell started it in the
    # background with SIGINT ignored: every fault is healed and everything started is stopped.
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        outcome = run_test(config)
    except KeyboardInterrupt:
        print("splitbrain run: interrupted; every node and proxy was stopped", file=sys.stderr)
        return 130
    except (RuntimeError, ValueError, OSError) as exc:
        print(f"splitbrain run: {exc}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
    print(format_summary(outcome.results))
    if "run" in outcome.results:
        print(format_figures(outcome.results["run"]))
    print(f"run directory: {outcome.run_dir}")
    report = outcome.run_dir / "report.html"
    if report.exists():
        print(f"report: {report}")
    return outcome.exit_code
