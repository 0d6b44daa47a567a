"""``splitbrain report RUN_DIR|history.jsonl [--out PATH]``: write a run's ``report.html``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.commands import Subparsers


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "report",
        help="write the HTML report of a run (timeline, anomalies, availability)",
        description=(
            "Write one self-contained report.html for a run directory or a bare history.jsonl. "
            "Uses results.json beside the history, or runs the checkers when it is missing. "
            "Exits 0 when written, 2 when an input cannot be read."
        ),
    )
    parser.add_argument("run", type=Path, metavar="RUN_DIR|history.jsonl")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="PATH",
        help="where to write (default: report.html beside the history)",
    )
    return parser


def main(args: argparse.Namespace) -> int:
    from harness.present.report import ReportError, write_report

    try:
        written = write_report(args.run, args.out)
    except ReportError as exc:
        print(f"splitbrain report: {exc}", file=sys.stderr)
        return 2
    print(written)
    return 0
