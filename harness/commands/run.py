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

from harness.commands import Subparsers
from harness.config import ConfigError, add_arguments, from_mapping, load_toml
from harness.system_flags import add_shortcut_flags, given_options
from splitbrain.errors import SplitbrainError
from systems import registry
from systems.seam import SystemConfigError


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "run",
        add_help=False,
        help="run one seeded fault-injection test and check it",
        description=(
            "Start a messaging system's cluster behind Toxiproxy, drive chat clients while the "
            "nemesis injects seeded faults, heal, drain, check the history and print the "
            "verdict. Exit 0 valid, 1 anomalies, 3 unknown, 2 could not run. "
            "`splitbrain run --system NAME --help` lists that system's options."
        ),
    )
    p.add_argument("-h", "--help", action="store_true", help="show this help (and the options "
                   "of the --system given) and exit")  # fmt: skip
    p.add_argument("--config", type=Path, help="TOML file with the same settings (flags win)")
    p.add_argument(
        "--replay",
        type=Path,
        metavar="RUN_DIR",
        help="repeat a stored run: its whole configuration and fault schedule from "
        "RUN_DIR/test.json (other flags given override single settings)",
    )
    p.add_argument(
        "--junit", type=Path, metavar="FILE", help="also write the verdict as JUnit XML for CI"
    )
    add_arguments(p)
    add_shortcut_flags(p)
    p.set_defaults(parser=p)
    return p


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
    from harness.config import SETTINGS

    values: dict[str, Any] = replay_values(args.replay) if getattr(args, "replay", None) else {}
    if args.config:
        values.update(load_toml(args.config))
    for key in SETTINGS:
        value = getattr(args, key, None)
        if value is None:
            continue
        if key == "system_options":
            options = dict(values.get("system_options") or {})
            for item in value:
                name, sep, text = item.partition("=")
                if not sep:
                    raise ConfigError(f"--system-opt {item!r}: write it as NAME=VALUE")
                options[name.strip()] = text
            values[key] = options
        else:
            values[key] = value
    shortcuts = given_options(args, str(values.get("system") or registry.DEFAULT))
    if shortcuts:
        values["system_options"] = {**dict(values.get("system_options") or {}), **shortcuts}
    return values


def _write_junit(path: Path, outcome: Any) -> None:
    """The run's verdict as JUnit XML at ``path``; a path that cannot be written is a warning."""
    import orjson

    from harness.present.junit import run_facts, run_junit
    from harness.runstore import write_bytes

    test = orjson.loads((outcome.run_dir / "test.json").read_bytes())
    facts = run_facts(str(test.get("name", "run")), test, str(outcome.run_dir))
    try:
        write_bytes(path, run_junit(outcome.results, facts))
    except OSError as exc:
        print(f"splitbrain run: warning: {path}: JUnit file not written ({exc})", file=sys.stderr)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(args: argparse.Namespace) -> int:
    if args.help:
        args.parser.print_help()
        try:
            print("\n" + registry.options_help(args.system or registry.DEFAULT))
        except SystemConfigError as exc:
            print(f"\n{exc}")
        return 0
    from harness.present.summary import format_summary
    from harness.run import format_figures, run_test

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
    except (SplitbrainError, RuntimeError, OSError) as exc:
        print(f"splitbrain run: {exc}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)
    print(format_summary(outcome.results))
    if "run" in outcome.results:
        print(format_figures(outcome.results))
    if args.junit is not None:
        _write_junit(args.junit, outcome)
    print(f"run directory: {outcome.run_dir}")
    report = outcome.run_dir / "report.html"
    if report.exists():
        print(f"report: {report}")
    return outcome.exit_code
