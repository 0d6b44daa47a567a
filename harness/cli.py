"""The `splitbrain` command line.

Each subcommand lives in its own module of :mod:`harness.commands`, all of one shape
(:class:`harness.commands.Command`: ``add_parser`` and ``main``); this module only wires them
together, so a subcommand's imports (the docker SDK, websockets, ...) are paid only when that
subcommand runs. A command module listed here that cannot be found is an error, never skipped.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from harness.commands import Command
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


class CommandMissing(SplitbrainError):
    """A command module of :data:`SUBCOMMAND_MODULES` is not there or not of the one shape."""


def command(name: str) -> Command:
    """The command module ``name``; :class:`CommandMissing` naming it when it cannot be found
    or lacks ``add_parser``/``main``."""
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise
        raise CommandMissing(
            f"command module {name} does not exist; fix its name in SUBCOMMAND_MODULES "
            "(harness/cli.py) or add the module"
        ) from None
    missing = [f for f in ("add_parser", "main") if not callable(getattr(module, f, None))]
    if missing:
        raise CommandMissing(
            f"command module {name} has no {' or '.join(missing)}; every command defines "
            "add_parser(subparsers) and main(args) (see harness/commands/__init__.py)"
        )
    return module  # type: ignore[return-value]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="splitbrain",
        description="Jepsen-style fault injection and history checking for messaging systems.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        module = command(name)
        module.add_parser(subparsers).set_defaults(func=module.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; a :class:`SplitbrainError` it lets through is printed, exit 2."""
    try:
        parser = build_parser()
    except CommandMissing as exc:
        print(f"splitbrain: {exc}", file=sys.stderr)
        return 2
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
