"""``splitbrain explore --budget 10m [run options]``: seeded runs one after another until the
budget ends (or the first failure), a table of what each found, every failing run kept.

This is what a nightly CI job runs: exit 1 when some run found an anomaly, 3 when none did but
some could not prove loss (no completed drain), 0 when all were valid, 2 on bad input.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from harness.commands.run import config_values
from harness.config import ConfigError, add_arguments, from_mapping
from harness.explore import Budget, Finding, finding_of, format_table, parse_duration, trials
from harness.runstore import point_latest


def add_parser(subparsers: Any) -> None:
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
    p.add_argument("--config", help="TOML file with run settings (flags win)")
    p.add_argument("--replay", default=None, help=argparse.SUPPRESS)
    add_arguments(p)
    for name in ("mode", "bug", "e2e"):
        p.add_argument(f"--{name}", dest=f"shortcut_{name}", help=f"the reference system's {name}")
    p.set_defaults(func=main)


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
    for trial in trials(base.seed):
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
