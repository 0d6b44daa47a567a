"""The subcommands of ``splitbrain``, one module each, all of one shape (:class:`Command`).

A command module defines ``add_parser(subparsers) -> ArgumentParser``, which adds its parser
and returns it, and ``main(args) -> int``, which runs it and returns the exit code; the CLI
(:mod:`harness.cli`) wires ``main`` to the parser. Errors the user can fix are one line and
exit 2.
"""

from __future__ import annotations

import argparse
from typing import Any, Protocol

Subparsers = Any  # argparse's _SubParsersAction, whose class is private


class Command(Protocol):
    """What :mod:`harness.cli` needs of a command module."""

    def add_parser(self, subparsers: Subparsers) -> argparse.ArgumentParser: ...

    def main(self, args: argparse.Namespace) -> int: ...
