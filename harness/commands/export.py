"""``splitbrain export RUN_DIR|history.jsonl --format jepsen-edn|jepsen-queue [--out FILE]``.

Writes a history for Jepsen's tools: ``jepsen-edn`` is every operation as a Jepsen op map
(:mod:`checkers.jepsen_edn`; ``splitbrain check`` reads it back), ``jepsen-queue`` the
kafka/queue shape Jepsen's kafka-style checkers read (:mod:`harness.jepsen_queue`). The history
is validated first: exit 0 written, 2 when the input cannot be read (nothing is written).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from checkers.jepsen_edn import op_to_edn
from harness.commands import Subparsers
from harness.jepsen_queue import consumer_base, queue_lines
from harness.runstore import write_bytes
from harness.stored_run import RunUnreadable, locate

FORMATS = ("jepsen-edn", "jepsen-queue")


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "export",
        help="write a history as Jepsen EDN (op maps, or the kafka/queue shape)",
        description=(
            "Export a run's history for Jepsen's tools. jepsen-edn: one Jepsen op map per line "
            "(`splitbrain check` reads it back); jepsen-queue: sends and deliveries as the "
            ":send/:poll ops of Jepsen's kafka workload. Exit 0, or 2 on unreadable input."
        ),
    )
    parser.add_argument("path", metavar="RUN_DIR|history.jsonl", type=Path)
    parser.add_argument("--format", required=True, choices=FORMATS, help="what to write")
    parser.add_argument(
        "--out", type=Path, metavar="FILE", help="write here instead of standard output"
    )
    return parser


def export_lines(ops: list[dict[str, Any]], fmt: str) -> Iterator[str]:
    """The EDN lines of ``ops`` in format ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "jepsen-queue":
        return queue_lines(ops, consumer_base(ops))
    return (op_to_edn(op) for op in ops)


def main(args: argparse.Namespace) -> int:
    try:
        stored = locate(args.path)
        stored.validate()
    except RunUnreadable as exc:
        print(f"splitbrain export: {exc} Nothing was written.", file=sys.stderr)
        return 2
    ops = list(stored.ops())
    data = "".join(line + "\n" for line in export_lines(ops, args.format)).encode()
    if args.out is None:
        sys.stdout.write(data.decode())
        return 0
    try:
        write_bytes(args.out, data)
    except OSError as exc:
        print(f"splitbrain export: could not write {args.out}: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(ops)} history operations as {args.format} to {args.out}", file=sys.stderr)
    return 0
