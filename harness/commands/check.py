"""``splitbrain check RUN_DIR|history.jsonl|history.edn [--json] [--max-examples N] [--junit F]``.

Prints the verdict table (or the results as JSON with ``--json``); on a run directory it also
writes ``results.json`` there, replacing it atomically and keeping the run-level findings of the
one it replaces (the confidentiality scan's ``leaked``: the history alone cannot give them), and
says which it kept. Exits 0 valid, 1 anomalies, 3 unknown,
and 2 when the input cannot be read, in which case nothing is written. ``--junit FILE`` also
writes the verdict as JUnit XML (see :mod:`harness.present.junit`) for a CI's test report. A
Jepsen queue history is judged by Jepsen's own queue checks (:mod:`checkers.queue_checks`).

A history is untrusted input: every character of it that a terminal would act on (control
characters, C1 controls, bidirectional overrides) is printed escaped, on stdout and stderr
alike. A check that runs long tells how far it is on stderr, never on stdout.
"""

from __future__ import annotations

import argparse
import re
import resource
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from checkers import HistoryError, judge, read_history
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
            "Check a run directory, a bare history.jsonl, or a Jepsen EDN history (op maps, or "
            "the kafka/queue workload's, judged by Jepsen's queue checks). Exit status: 0 valid, "
            "1 anomalies, 3 unknown (no completed drain to prove loss), 2 unreadable input."
        ),
    )
    parser.add_argument("path", metavar="RUN_DIR|history.jsonl|history.edn", type=Path)
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


_UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def printable(text: str) -> str:
    """``text`` with every character a terminal acts on (but the newline) shown as an escape."""
    return _UNSAFE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable_json(text: str) -> str:
    """JSON text with the characters :func:`printable` escapes written as JSON escapes (the
    same data; JSON encoders leave DEL, C1 controls and bidirectional marks raw)."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


class Progress:
    """How far a long check is, on ``stream`` (stderr): nothing for the first ``after_s``
    seconds, then a line that rewrites itself on a terminal, or one line every ``every_s``
    seconds elsewhere (a CI log)."""

    def __init__(self, stream: TextIO, after_s: float = 2.0, every_s: float = 10.0) -> None:
        self.stream = stream
        self.start = time.monotonic()
        self.after_s = after_s
        self.every_s = every_s
        self.last = 0.0
        self.tty = stream.isatty()
        self.shown = False

    def __call__(self, phase: str, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.start < self.after_s or (not self.tty and now - self.last < self.every_s):
            return
        self.last = now
        if phase == "read":
            share = f" ({done / total:.0%})" if total else ""
            what = f"reading: {done / 2**20:,.0f} of {total / 2**20:,.0f} MiB{share}"
        else:
            what = f"checking: {phase} ({done} of {total} checks done)"
        self.say(f"{what}, {now - self.start:.0f} s")

    def say(self, text: str) -> None:
        end = "" if self.tty else "\n"
        self.stream.write(("\r\x1b[K" if self.tty else "") + f"splitbrain check: {text}{end}")
        self.stream.flush()
        self.shown = True

    def done(self, operations: int) -> None:
        """The closing line of a check that showed progress: time and peak memory."""
        if not self.shown:
            return
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        took = time.monotonic() - self.start
        self.say(f"{operations:,} operations checked in {took:.0f} s, peak memory {peak:.2f} GiB")
        if self.tty:
            self.stream.write("\n")


def main(args: argparse.Namespace) -> int:
    path: Path = args.path
    progress = Progress(sys.stderr)
    try:
        history = read_history(path, progress)
    except HistoryError as exc:
        print(f"splitbrain check: {printable(str(exc))} Nothing was written.", file=sys.stderr)
        return UNREADABLE
    results = Results.from_json(judge(history, max_examples=args.max_examples, progress=progress))
    progress.done(history.operations)
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
                printable(f"splitbrain check: could not write {path / RESULTS_FILE}: {exc}"),
                file=sys.stderr,
            )
    if args.junit is not None:
        try:
            write_bytes(args.junit, run_junit(results, _facts(path)))
        except OSError as exc:
            print(f"splitbrain check: could not write {args.junit}: {exc}", file=sys.stderr)
            return UNREADABLE
    if args.json:
        sys.stdout.write(printable_json(json_bytes(results.to_json()).decode()))
    else:
        sys.stdout.write(printable(format_summary(results) + _allowed_line(results)))
    return results.exit_code


def _allowed_line(results: Mapping[str, Any]) -> str:
    """For Jepsen's queue checks: the kinds found that Jepsen's defaults allow."""
    counts = results.get("anomaly_counts", {})
    found = [f"{kind} {counts[kind]}" for kind in results.get("allowed", ()) if counts.get(kind)]
    if not found:
        return ""
    via = ", ".join(results.get("sub_via", ()))
    return f"\nallowed by Jepsen's defaults (consumers {via}): {', '.join(found)}\n"


def _facts(path: Path) -> RunFacts:
    """The run's seed and reproduce command from its test.json, when it has a readable one."""
    try:
        stored = locate(path)
        test = stored.test()
    except RunUnreadable:
        return run_facts(path.name, {}, None)
    return run_facts(stored.name, test, None if stored.folder is None else str(stored.folder))
