"""The `splitbrain` command line.

Each subcommand lives in its own module, which exposes ``add_parser(subparsers)`` and sets
``func`` on its parser; this module only wires them together, so a subcommand's imports (the docker
SDK, websockets, ...) are paid only when that subcommand runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from splitbrain.errors import SplitbrainError

SUBCOMMAND_MODULES = (
    "harness.commands.check",
    "harness.commands.run",
    "harness.commands.cluster",
    "harness.commands.clean",
    "harness.commands.report",
    "harness.commands.compare",
    "harness.commands.shrink",
    "harness.commands.explore",
    "harness.commands.export",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="splitbrain",
        description="Jepsen-style fault injection and history checking for messaging systems.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; a :class:`SplitbrainError` it lets through is printed, exit 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except SplitbrainError as exc:
        print(f"splitbrain {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
