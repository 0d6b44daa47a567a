"""``splitbrain check RUN_DIR|history.jsonl [--json] [--max-examples N] [--junit FILE]``.

Prints the verdict table (or the results as JSON with ``--json``); on a run directory it also
writes ``results.json`` there, replacing it atomically and keeping the run-level findings of the
one it replaces (the confidentiality scan's ``leaked``: the history alone cannot give them), and
says which it kept. Exits 0 valid, 1 anomalies, 3 unknown,
and 2 when the input cannot be read, in which case nothing is written. ``--junit FILE`` also
writes the verdict as JUnit XML (see :mod:`harness.present.junit`) for a CI's test report.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from checkers import HistoryError, check_history, load_history
from harness.commands import Subparsers
from harness.present.junit import RunFacts, run_facts, run_junit
from harness.present.summary import format_summary
from harness.results import Results, ResultsUnreadable
from harness.runstore import json_bytes, write_bytes
from harness.stored_run import RunUnreadable, locate

RESULTS_FILE = "results.json"
UNREADABLE = 2


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "check",
        help="check a stored history for anomalies",
        description=(
            "Check a run directory or a bare history.jsonl. Exit status: 0 valid, 1 anomalies, "
            "3 unknown (no completed drain to prove loss), 2 unreadable input."
        ),
    )
    parser.add_argument("path", metavar="RUN_DIR|history.jsonl", type=Path)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--max-examples",
        type=_count,
        default=10,
        metavar="N",
        help="examples kept per anomaly (default 10)",
    )
    parser.add_argument(
        "--junit",
        type=Path,
        metavar="FILE",
        help="also write the verdict as JUnit XML (one test case per checker) for CI",
    )
    return parser


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, not {text!r}")
    return value


def main(args: argparse.Namespace) -> int:
    path: Path = args.path
    try:
        history = load_history(path)
    except HistoryError as exc:
        print(f"splitbrain check: {exc} Nothing was written.", file=sys.stderr)
        return UNREADABLE
    results = Results.from_json(check_history(history, max_examples=args.max_examples))
    if path.is_dir():
        try:
            earlier = Results.read(path / RESULTS_FILE)
        except ResultsUnreadable as exc:
            print(f"splitbrain check: warning: {exc}; it is replaced", file=sys.stderr)
            earlier = None
        if earlier is not None:
            results = results.keeping_run_findings(earlier)
            kept = ", ".join(f"{name} {n}" for name, n in results.run_findings().items())
            if kept:
                print(f"splitbrain check: kept the run-level findings of the earlier "
                      f"{RESULTS_FILE} ({kept}): a re-check of the history cannot make them",
                      file=sys.stderr)  # fmt: skip
        try:
            results.write(path / RESULTS_FILE)
        except OSError as exc:
            print(
                f"splitbrain check: could not write {path / RESULTS_FILE}: {exc}", file=sys.stderr
            )
    if args.junit is not None:
        try:
            write_bytes(args.junit, run_junit(results, _facts(path)))
        except OSError as exc:
            print(f"splitbrain check: could not write {args.junit}: {exc}", file=sys.stderr)
            return UNREADABLE
    if args.json:
        sys.stdout.write(json_bytes(results.to_json()).decode())
    else:
        sys.stdout.write(format_summary(results))
    return results.exit_code


def _facts(path: Path) -> RunFacts:
    """The run's seed and reproduce command from its test.json, when it has a readable one."""
    try:
        stored = locate(path)
        test = stored.test()
    except RunUnreadable:
        return run_facts(path.name, {}, None)
    return run_facts(stored.name, test, None if stored.folder is None else str(stored.folder))
