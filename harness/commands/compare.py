"""``splitbrain compare RUN_DIR|history.jsonl ... [--json] [--junit FILE] [--html FILE]``, or
``splitbrain compare --vary NAME=V1,V2[,...] [--latency] [run flags]``.

Runs side by side (CP against AP, ``sync_interval=2m`` against ``always``): with ``--vary`` (or
a vary flag a system declares for one of its options) it first makes one
run per value with the same seed, workload and schedule, labelled by the value.

Reads each run's test.json and results.json (checking the history when results.json is missing)
and the availability of its history. Exit 0, or 2 when a run cannot be read. ``--junit FILE``
also writes every run's verdict as JUnit XML, one test suite per run; ``--html FILE`` the
comparison as one page (:mod:`harness.present.comparison_html`).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path

import orjson

from harness.commands import Subparsers
from harness.commands.run import config_values
from harness.config import ConfigError, add_arguments, from_mapping
from harness.present.comparison import (
    RunRecord,
    comparison_json,
    distinguishing_labels,
    format_comparison,
)
from harness.present.comparison_html import comparison_html
from harness.present.history_summary import cited_indexes, summarize
from harness.present.junit import junit_xml, run_facts
from harness.runstore import write_bytes
from harness.stored_run import RunUnreadable, locate
from harness.system_flags import (
    add_shortcut_flags,
    add_vary_flags,
    varies_given,
    vary_examples,
)
from harness.tradeoffs import Variant, delivery_figures, parse_vary, vary_variants


@dataclass(frozen=True)
class Plan:
    """The runs a comparison makes, and whether it weighs latency (send-to-deliver figures)."""

    variants: list[Variant]
    latency: bool


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "compare",
        help="show several runs side by side (availability against anomalies)",
        description=(
            "Compare runs, e.g. the same seed with two values of a system option: the system, "
            "its version and changed options, availability during and outside faults, latency "
            "and every anomaly count, one column per run."
        ),
    )
    parser.add_argument("runs", nargs="*", type=Path, metavar="RUN_DIR|history.jsonl")
    parser.add_argument(
        "--vary",
        metavar="NAME=V1,V2",
        help="make one run per value of a run setting or a system option (same seed, workload "
        "and schedule), labelled by the value, then compare them, e.g. --vary "
        "sync_interval=2m,always --system nats",
    )
    parser.add_argument(
        "--latency",
        action="store_true",
        help="with --vary: weigh latency: clients stay online (unless --offline-fraction is "
        "given), each --payload-sizes size runs apart, and send-to-deliver latency and "
        "throughput join the table",
    )
    vary_flags = add_vary_flags(parser)
    parser.add_argument("--config", type=Path, help="TOML file with run settings (flags win)")
    parser.add_argument("--replay", type=Path, default=None, help=argparse.SUPPRESS)
    run_options = parser.add_argument_group("run options (with --vary)")
    add_arguments(run_options)
    add_shortcut_flags(run_options, skip=vary_flags)
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
    return parser


def load_run(run: Path) -> RunRecord:
    """The record of a run directory or a history file; raises :class:`RunUnreadable`.
    Its label is the run's name until :func:`label_runs` says what sets it apart."""
    stored = locate(run)
    results = stored.results()
    # folded from the history, not results.json's "run": older runs lack the outcome split
    summary = summarize(stored.ops(), cited_indexes(results), context=0)
    return RunRecord(
        label=stored.name,
        test=stored.test(),
        results=results,
        figures=summary.availability,
        folder=None if stored.folder is None else str(stored.folder),
        summary=summary,
    )


def label_runs(runs: list[RunRecord]) -> list[RunRecord]:
    """The runs labelled by what sets them apart (their system and options; else their names)."""
    labels = distinguishing_labels(runs, [r.label for r in runs])
    return [dataclasses.replace(r, label=label) for r, label in zip(runs, labels, strict=True)]


def plan(args: argparse.Namespace) -> Plan | None:
    """The runs --vary (or a system's vary flag) asks for, None when none is asked for;
    ConfigError on bad settings, before anything runs."""
    asked: list[tuple[str, str, bool, str]] = []  # (flag, NAME=VALUES, latency, system)
    if args.vary:
        asked.append(("--vary", args.vary, bool(args.latency), ""))
    for given in varies_given(args):
        shortcut = given.shortcut
        latency = shortcut.latency or bool(args.latency)
        asked.append((str(shortcut.vary_flag), f"{shortcut.option}={given.values}", latency,
                      given.system))  # fmt: skip
    if not asked:
        if args.latency:
            raise ConfigError("--latency goes with --vary NAME=V1,V2")
        return None
    if len(asked) > 1:
        raise ConfigError(f"give one of {', '.join(a[0] for a in asked)}, not several")
    flag, text, latency, owner = asked[0]
    base = from_mapping(config_values(args), "command line")
    if owner and base.system != owner:
        raise ConfigError(
            f"{flag} is system {owner}'s; this comparison runs system {base.system}: use "
            "--vary NAME=V1,V2 with one of its options"
        )
    name, values = parse_vary(text)
    sizes: tuple[int, ...] | None = None
    if latency:
        if args.offline_fraction is None:
            # clients stay online, so latency measures the system, not an absent recipient
            base = base.changed(offline_fraction=0.0)
        sizes = base.payload_sizes if args.payload_sizes else None
    return Plan(vary_variants(base, name, values, sizes), latency)


def make_runs(variants: list[Variant]) -> list[tuple[str, Path]]:
    """Make the runs one after another; (label, run directory) of each."""
    from harness.run import run_test

    made = []
    for number, variant in enumerate(variants, start=1):
        print(f"compare: run {number}/{len(variants)}: {variant.label}", file=sys.stderr)
        outcome = run_test(variant.config)
        made.append((variant.label, outcome.run_dir))
    return made


def main(args: argparse.Namespace) -> int:
    try:
        planned = plan(args)
    except ConfigError as exc:
        print(f"splitbrain compare: {exc}", file=sys.stderr)
        return 2
    if planned is None and not args.runs:
        print(
            "splitbrain compare: give run directories, or --vary NAME=V1,V2 (or a system's own: "
            f"{vary_examples()}) with run options to make the runs",
            file=sys.stderr,
        )
        return 2
    made = make_runs(planned.variants) if planned is not None else []
    try:
        runs = label_runs([load_run(path) for path in args.runs])
        made_runs = [load_run(run_dir) for _, run_dir in made]
    except RunUnreadable as exc:
        print(f"splitbrain compare: {exc}", file=sys.stderr)
        return 2
    for i, (label, run_dir) in enumerate(made):
        figures = dict(made_runs[i].figures)
        if planned is not None and planned.latency:
            figures.update(delivery_figures(locate(run_dir).ops()))
        made_runs[i] = dataclasses.replace(made_runs[i], label=label, figures=figures)
    runs += made_runs
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
