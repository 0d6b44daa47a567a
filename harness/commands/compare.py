"""``splitbrain compare RUN_DIR|history.jsonl ... [--json] [--junit FILE] [--html FILE]``.

Runs side by side (CP against AP).

Reads each run's test.json and results.json (checking the history when results.json is missing)
and the availability of its history. Exit 0, or 2 when a run cannot be read. ``--junit FILE``
also writes every run's verdict as JUnit XML, one test suite per run; ``--html FILE`` the
comparison as one page (:mod:`harness.present.comparison_html`).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

import orjson

from harness.commands.run import config_values
from harness.config import ConfigError, add_arguments, from_mapping
from harness.present.comparison import RunRecord, comparison_json, format_comparison
from harness.present.comparison_html import comparison_html
from harness.present.history_summary import cited_indexes, summarize
from harness.present.junit import junit_xml, run_facts
from harness.runstore import write_bytes
from harness.stored_run import RunUnreadable, locate
from harness.tradeoffs import (
    Variant,
    delivery_figures,
    e2e_variants,
    mode_variants,
)
from systems.seam import parse_switch


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="show several runs side by side (availability against anomalies)",
        description=(
            "Compare runs, e.g. the same seed in --mode cp and --mode ap: availability during "
            "and outside faults, latency and every anomaly count, one column per run."
        ),
    )
    parser.add_argument("runs", nargs="*", type=Path, metavar="RUN_DIR|history.jsonl")
    parser.add_argument(
        "--modes",
        metavar="cp,ap",
        help="run the run options in each of these modes (same seed, workload and schedule), "
        "then compare the runs",
    )
    parser.add_argument(
        "--e2e",
        dest="e2e_switches",
        metavar="on,off",
        help="run with end-to-end encryption on and off (same seed and schedule), then compare "
        "send-to-deliver latency and throughput; with --payload-sizes, one pair per size",
    )
    parser.add_argument("--config", type=Path, help="TOML file with run settings (flags win)")
    parser.add_argument("--replay", type=Path, default=None, help=argparse.SUPPRESS)
    run_options = parser.add_argument_group("run options (with --modes or --e2e)")
    add_arguments(run_options)
    for name in ("mode", "bug"):
        run_options.add_argument(
            f"--{name}", dest=f"shortcut_{name}", help=f"the reference system's {name}"
        )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--junit",
        type=Path,
        metavar="FILE",
        help="also write each run's verdict as JUnit XML (one test suite per run) for CI",
    )
    parser.add_argument(
        "--html",
        type=Path,
        metavar="FILE",
        help="also write one self-contained HTML page with the runs side by side (and timelines)",
    )
    parser.set_defaults(func=main)


def load_run(run: Path) -> RunRecord:
    """The record of a run directory or a history file; raises :class:`RunUnreadable`."""
    stored = locate(run)
    results = stored.results()
    # folded from the history, not results.json's "run": older runs lack the outcome split
    summary = summarize(stored.ops(), cited_indexes(results), context=0)
    test = stored.test()
    label = f"{test.get('mode', '?')}{'+' + test['bug'] if test.get('bug') else ''}"
    return RunRecord(
        label=f"{label} {stored.name}",
        test=test,
        results=results,
        figures=summary.availability,
        folder=None if stored.folder is None else str(stored.folder),
        summary=summary,
    )


def _variants(args: argparse.Namespace) -> list[Variant]:
    """The runs --modes or --e2e asks for; ConfigError/ValueError on bad settings."""
    base = from_mapping(config_values(args), "command line")
    if args.modes:
        modes = tuple(m.strip() for m in args.modes.split(",") if m.strip())
        if not modes:
            raise ValueError("--modes: give modes, e.g. cp,ap")
        return mode_variants(base, modes)
    switches = []
    for item in args.e2e_switches.split(","):
        try:
            switches.append(parse_switch(item))
        except ValueError:
            raise ValueError(f"--e2e: {item!r} is not on or off") from None
    if args.offline_fraction is None:
        # clients stay online, so latency measures the system, not an absent recipient
        base = base.changed(offline_fraction=0.0)
    sizes = base.payload_sizes if args.payload_sizes else None
    return e2e_variants(base, switches, sizes)


def run_variants(args: argparse.Namespace) -> list[tuple[str, Path]] | None:
    """Make the runs of --modes / --e2e one after another; None (after a message) on bad input."""
    from harness.run import run_test

    try:
        variants = _variants(args)
    except (ConfigError, ValueError) as exc:
        print(f"splitbrain compare: {exc}", file=sys.stderr)
        return None
    made = []
    for number, variant in enumerate(variants, start=1):
        print(f"compare: run {number}/{len(variants)}: {variant.label}", file=sys.stderr)
        outcome = run_test(variant.config)
        made.append((variant.label, outcome.run_dir))
    return made


def main(args: argparse.Namespace) -> int:
    made: list[tuple[str, Path]] = []
    if args.modes or args.e2e_switches:
        if args.modes and args.e2e_switches:
            print("splitbrain compare: give --modes or --e2e, not both", file=sys.stderr)
            return 2
        made = run_variants(args) or []
        if not made:
            return 2
    elif not args.runs:
        print(
            "splitbrain compare: give run directories, or --modes cp,ap / --e2e on,off "
            "with run options to make the runs",
            file=sys.stderr,
        )
        return 2
    try:
        runs = [load_run(path) for path in [*args.runs, *(run_dir for _, run_dir in made)]]
    except RunUnreadable as exc:
        print(f"splitbrain compare: {exc}", file=sys.stderr)
        return 2
    if args.e2e_switches:
        labels = [label for label, _ in made]
        figures = [delivery_figures(locate(run_dir).ops()) for _, run_dir in made]
        runs = [
            dataclasses.replace(r, figures={**r.figures, **f}, label=label)
            for r, f, label in zip(runs, figures, labels, strict=True)
        ]
    if args.junit is not None:
        suites = [(r.results, run_facts(r.label, r.test, r.folder)) for r in runs]
        try:
            write_bytes(args.junit, junit_xml(suites))
        except OSError as exc:
            print(f"splitbrain compare: could not write {args.junit}: {exc}", file=sys.stderr)
            return 2
    if args.html is not None:
        try:
            write_bytes(args.html, comparison_html(runs).encode())
        except OSError as exc:
            print(f"splitbrain compare: could not write {args.html}: {exc}", file=sys.stderr)
            return 2
    if args.json:
        sys.stdout.write(orjson.dumps(comparison_json(runs), option=orjson.OPT_INDENT_2).decode())
        sys.stdout.write("\n")
    else:
        sys.stdout.write(format_comparison(runs))
    return 0
