"""The flags systems declare for their own options (:class:`systems.seam.Shortcut`), on the
harness's commands, without the harness naming any of them.

``run``, ``explore``, ``cluster up`` and ``compare`` take every registered system's flags; once
the chosen system is known, :func:`given_options` turns the flags given into its options and
refuses a flag it does not declare. ``compare`` takes the systems' vary flags too
(:func:`add_vary_flags`, :func:`varies_given`).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from harness.config import ConfigError
from systems import registry
from systems.seam import Shortcut


class FlagError(ConfigError):
    """A system's flag given for a system that does not declare it; says which system does."""


def _dest(flag: str, prefix: str = "shortcut") -> str:
    return f"{prefix}_{flag.lstrip('-').replace('-', '_')}"


def _owners() -> dict[str, list[tuple[str, Shortcut]]]:
    """Each run flag -> the systems that declare it, with their shortcut."""
    owners: dict[str, list[tuple[str, Shortcut]]] = {}
    for system, shortcut in registry.shortcuts():
        owners.setdefault(shortcut.run_flag, []).append((system, shortcut))
    return owners


def add_shortcut_flags(parser: Any, skip: tuple[str, ...] = ()) -> None:
    """One flag per distinct shortcut of every system (``skip``: flags the command uses
    otherwise, as compare's vary flags)."""
    for flag, declared in _owners().items():
        if flag in skip:
            continue
        systems = ", ".join(system for system, _ in declared)
        parser.add_argument(
            flag, dest=_dest(flag), metavar="VALUE", help=f"{declared[0][1].help} [{systems}]"
        )


def given_options(args: argparse.Namespace, system: str) -> dict[str, Any]:
    """The options of ``system`` its flags set in ``args``; :class:`FlagError` for a flag given
    that ``system`` does not declare."""
    options: dict[str, Any] = {}
    for flag, declared in _owners().items():
        value = getattr(args, _dest(flag), None)
        if value is None:
            continue
        mine = [shortcut for owner, shortcut in declared if owner == system]
        if not mine:
            owner, shortcut = declared[0]
            raise FlagError(
                f"{flag} is system {owner}'s flag for its option {shortcut.option}; system "
                f"{system} has no such flag (see `splitbrain run --system {system} --help`)"
            )
        options[mine[0].option] = value
    return options


@dataclass(frozen=True)
class VaryFlag:
    """A system's vary flag as given, with the values it was given."""

    system: str
    shortcut: Shortcut
    values: str


def vary_flags() -> Iterator[tuple[str, Shortcut]]:
    """(system, shortcut) of every system's shortcut that has a vary flag."""
    return ((system, s) for system, s in registry.shortcuts() if s.vary_flag)


def add_vary_flags(parser: Any) -> tuple[str, ...]:
    """Add every system's vary flag; returns the flags added."""
    added: list[str] = []
    for system, shortcut in vary_flags():
        flag = str(shortcut.vary_flag)
        if flag in added:
            continue
        added.append(flag)
        parser.add_argument(
            flag,
            dest=_dest(flag, "vary"),
            metavar=shortcut.vary_metavar,
            help=f"compare --vary {shortcut.option}={shortcut.vary_metavar} of system {system}"
            + (" (with --latency)" if shortcut.latency else ""),
        )
    return tuple(added)


def varies_given(args: argparse.Namespace) -> list[VaryFlag]:
    """The vary flags given in ``args``, in declaration order."""
    found: list[VaryFlag] = []
    seen: set[str] = set()
    for system, shortcut in vary_flags():
        flag = str(shortcut.vary_flag)
        value = getattr(args, _dest(flag, "vary"), None)
        if value is not None and flag not in seen:
            seen.add(flag)
            found.append(VaryFlag(system, shortcut, value))
    return found


def vary_examples() -> str:
    """The systems' vary flags with their example values (``--FLAG V1,V2, ...``), for a
    message."""
    return ", ".join(dict.fromkeys(f"{s.vary_flag} {s.vary_metavar}" for _, s in vary_flags()))
