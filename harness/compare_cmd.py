"""``splitbrain compare RUN_DIR RUN_DIR ... [--json]``: runs side by side (e.g. CP against AP).

Reads each run's test.json and results.json (checking the history when results.json is missing)
and the availability of its history. Exit 0, or 2 when a run cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson

from checkers import HistoryError, check_history, load_history
from harness.compare import RunRecord, comparison_json, format_comparison
from harness.history_summary import availability_stats


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="show several runs side by side (availability against anomalies)",
        description=(
            "Compare runs, e.g. the same seed in --mode cp and --mode ap: availability during "
            "and outside faults, latency and every anomaly count, one column per run."
        ),
    )
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.set_defaults(func=main)


class RunUnreadable(Exception):
    """A run directory without a readable history; the message says which and what to do."""


def _json_file(path: Path) -> dict[str, Any]:
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, orjson.JSONDecodeError) as exc:
        raise RunUnreadable(
            f"{path}: not readable JSON ({exc}); re-run `splitbrain check`"
        ) from None
    return data if isinstance(data, dict) else {}


def load_run(run_dir: Path) -> RunRecord:
    """The record of one run directory; raises :class:`RunUnreadable`."""
    history = run_dir / "history.jsonl"
    if not history.is_file():
        raise RunUnreadable(
            f"{run_dir}: no history.jsonl; give run directories (histories/<test>/<time>/)"
        )
    results = _json_file(run_dir / "results.json")
    if not results:
        try:
            results = check_history(load_history(history))
        except HistoryError as exc:
            raise RunUnreadable(str(exc)) from None
    figures = results.get("run")
    if not isinstance(figures, dict):
        with open(history, "rb") as fh:
            figures = availability_stats(orjson.loads(line) for line in fh if line.strip())
    test = _json_file(run_dir / "test.json")
    label = f"{test.get('mode', '?')}{'+' + test['bug'] if test.get('bug') else ''}"
    return RunRecord(label=f"{label} {run_dir.name}", test=test, results=results, figures=figures)


def main(args: argparse.Namespace) -> int:
    try:
        runs = [load_run(path) for path in args.runs]
    except RunUnreadable as exc:
        print(f"splitbrain compare: {exc}", file=sys.stderr)
        return 2
    if args.json:
        sys.stdout.write(orjson.dumps(comparison_json(runs), option=orjson.OPT_INDENT_2).decode())
        sys.stdout.write("\n")
    else:
        sys.stdout.write(format_comparison(runs))
    return 0
