"""``splitbrain explore --budget 10m [run options]``: seeded runs one after another until the
budget ends (or the first failure), a table of what each found, every failing run kept.

``--schedules profile`` (the default) draws each run's faults from the profile and its seed;
``--schedules hypothesis`` has Hypothesis draw them (any number of faults, any overlap, any
timing; see :mod:`nemesis.search`), each saved under ``OUT/explore-schedules/`` and in the run's
``test.json``, so a failing run replays and shrinks as any other. The workload bursts and sends
clients offline at the drawn faults (``--fault-times``), so load meets every fault drawn.

This is what a nightly CI job runs: exit 1 when some run found an anomaly, 3 when none did but
some could not prove loss (no completed drain), 0 when all were valid, 2 on bad input.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from harness.commands import Subparsers
from harness.commands.run import config_values
from harness.config import ConfigError, RunConfig, add_arguments, from_mapping
from harness.explore import (
    Budget,
    Finding,
    Trial,
    finding_of,
    format_table,
    parse_duration,
    trials,
)
from harness.runstore import point_latest, write_json
from harness.system_flags import add_shortcut_flags
from systems import registry


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "explore",
        help="many seeded runs within a budget; keeps every failing run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--budget", default="10m", help="time to spend: 90s, 10m, 1.5h (default 10m)")
    p.add_argument("--max-runs", type=int, help="stop after this many runs")
    p.add_argument(
        "--keep-going", action="store_true", help="go on after a failure (default: stop at one)"
    )
    p.add_argument(
        "--keep-valid", action="store_true", help="keep the directories of valid runs too"
    )
    p.add_argument(
        "--schedules",
        choices=("profile", "hypothesis"),
        default="profile",
        help="where fault schedules come from: the profile (default) or Hypothesis",
    )
    p.add_argument("--config", help="TOML file with run settings (flags win)")
    p.add_argument("--replay", default=None, help=argparse.SUPPRESS)
    add_arguments(p)
    add_shortcut_flags(p)
    return p


def main(args: argparse.Namespace) -> int:
    from harness.run import run_test

    try:
        seconds = parse_duration(args.budget)
        if args.max_runs is not None and args.max_runs < 1:
            raise ValueError("--max-runs must be at least 1")
        base = from_mapping(config_values(args), "command line")
    except (ConfigError, ValueError) as exc:
        print(f"splitbrain explore: {exc}", file=sys.stderr)
        return 2
    budget = Budget(seconds=seconds, runs=args.max_runs)
    findings: list[Finding] = []
    expected = base.time_limit + 15.0
    if args.schedules == "hypothesis":
        count = args.max_runs or int(seconds // expected) + 1
        to_try = drawn_trials(base, count)
    else:
        to_try = trials(base.seed)
    for trial in to_try:
        if not budget.allows(expected):
            break
        config = base.changed(seed=trial.seed, name=f"{base.name}-explore", **trial.changes)
        print(f"explore: {trial.label()} ({budget.done + 1}, {budget.spent:.0f}/{seconds:.0f} s)",
              file=sys.stderr, flush=True)  # fmt: skip
        started = time.monotonic()
        outcome = run_test(config)
        elapsed = time.monotonic() - started
        budget.charge(elapsed)
        finding = finding_of(trial, outcome.results, elapsed, str(outcome.run_dir))
        findings.append(finding)
        if finding.valid is True and not args.keep_valid:
            shutil.rmtree(outcome.run_dir, ignore_errors=True)
            if schedule_file := trial.changes.get("schedule_file"):
                Path(schedule_file).unlink(missing_ok=True)
        if finding.failed and not args.keep_going:
            break
    kept = [f.run_dir for f in findings if f.run_dir]
    if kept:
        point_latest(base.out, Path(kept[-1]))
    elif (base.out / "latest").is_symlink():
        (base.out / "latest").unlink()
    sys.stdout.write(format_table(findings))
    if any(f.failed for f in findings):
        return 1
    return 3 if any(f.valid is not True for f in findings) else 0


def drawn_trials(base: RunConfig, count: int) -> Iterator[Trial]:
    """``count`` trials, each with a schedule Hypothesis drew from the seed (see
    :mod:`nemesis.search`) over what the system and backend allow, written to a file as it is
    tried; seeds count up from ``base.seed``, so each run has its own workload too."""
    from hypothesis.configuration import set_hypothesis_home_dir

    from harness.run import make_schedule
    from nemesis.search import describe, draw_schedules

    system = registry.create(base.system, dict(base.system_options))
    template = make_schedule(dataclasses.replace(base, schedule_file=None), system.capabilities)
    set_hypothesis_home_dir(base.out / ".hypothesis")  # not the user's working directory
    drawn = [s for s in draw_schedules(template, count + 1, base.seed) if s.steps][:count]
    folder = base.out / "explore-schedules"
    folder.mkdir(parents=True, exist_ok=True)
    for i, schedule in enumerate(drawn):
        path = folder / f"seed-{base.seed}-{i + 1:03d}.json"
        write_json(path, schedule.to_json())
        words = describe(schedule)
        yield Trial(
            base.seed + i,
            {"schedule_file": path, "fault_times": tuple(step.at for step in schedule.steps)},
            f"drawn schedule {i + 1}: {words['faults']} fault"
            f"{'' if words['faults'] == 1 else 's'}, {words['kinds']}",
        )
