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
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from checkers import HistoryError, check_history, load_history
from checkers.history import looks_like_edn
from checkers.jepsen_edn import edn_history_lines
from harness.compare import RunRecord, comparison_json, format_comparison
from harness.compare_html import comparison_html
from harness.history_summary import cited_indexes, summarize
from harness.junit import junit_xml, run_facts
from harness.runstore import write_bytes
from splitbrain.errors import SplitbrainError


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


class RunUnreadable(SplitbrainError):
    """A run directory without a readable history; the message says which and what to do."""


def json_file(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; ``{}`` when absent; raises :class:`RunUnreadable`."""
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, orjson.JSONDecodeError) as exc:
        raise RunUnreadable(
            f"{path}: not readable JSON ({exc}); re-run `splitbrain check`"
        ) from None
    return data if isinstance(data, dict) else {}


def run_files(run: Path) -> tuple[Path, Path | None, str]:
    """(history, folder of its test.json and results.json or None, name) of a run argument.

    A run directory, or its history.jsonl, has both; any other history file stands alone.
    """
    if run.is_dir():
        return run / "history.jsonl", run, run.name
    if run.name == "history.jsonl":
        return run, run.parent, run.parent.name
    return run, None, run.stem


def history_ops(path: Path) -> Iterator[dict[str, Any]]:
    """The operations of a history file (JSON lines, or Jepsen EDN by name or content) as dicts,
    in order. Lines are not validated: load the file with :func:`load_history` first."""
    data = path.read_bytes()
    lines: Iterable[bytes]
    if path.suffix == ".edn" or looks_like_edn(data[:256]):
        lines = edn_history_lines(data.decode(), str(path))
    else:
        lines = data.splitlines()
    for line in lines:
        if line.strip():
            yield orjson.loads(line)


def load_run(run: Path) -> RunRecord:
    """The record of a run directory or a history file; raises :class:`RunUnreadable`."""
    history, folder, name = run_files(run)
    if not history.is_file():
        raise RunUnreadable(
            f"{run}: no history.jsonl; give run directories (histories/<test>/<time>/) "
            "or history files"
        )
    results = json_file(folder / "results.json") if folder else {}
    if not results:
        try:
            results = check_history(load_history(history))
        except HistoryError as exc:
            raise RunUnreadable(str(exc)) from None
    # folded from the history, not results.json's "run": older runs lack the outcome split
    summary = summarize(history_ops(history), cited_indexes(results), context=0)
    test = json_file(folder / "test.json") if folder else {}
    label = f"{test.get('mode', '?')}{'+' + test['bug'] if test.get('bug') else ''}"
    return RunRecord(
        label=f"{label} {name}",
        test=test,
        results=results,
        figures=summary.availability,
        folder=None if folder is None else str(folder),
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
