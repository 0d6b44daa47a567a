"""``splitbrain compare RUN_DIR|history.jsonl ... [--json] [--junit FILE] [--html FILE]``.

Runs side by side (CP against AP).

Reads each run's test.json and results.json (checking the history when results.json is missing)
and the availability of its history. Exit 0, or 2 when a run cannot be read. ``--junit FILE``
also writes every run's verdict as JUnit XML, one test suite per run; ``--html FILE`` the
comparison as one page (:mod:`harness.compare_html`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

from harness.compare import RunRecord, comparison_json, format_comparison
from harness.compare_html import comparison_html
from harness.history_summary import cited_indexes, summarize
from harness.junit import junit_xml, run_facts
from harness.runstore import write_bytes
from harness.stored_run import RunUnreadable, locate


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="show several runs side by side (availability against anomalies)",
        description=(
            "Compare runs, e.g. the same seed in --mode cp and --mode ap: availability during "
            "and outside faults, latency and every anomaly count, one column per run."
        ),
    )
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR|history.jsonl")
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


def main(args: argparse.Namespace) -> int:
    try:
        runs = [load_run(path) for path in args.runs]
    except RunUnreadable as exc:
        print(f"splitbrain compare: {exc}", file=sys.stderr)
        return 2
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
