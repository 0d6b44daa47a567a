"""The nemesis's vocabulary for users: fault kinds (read from :mod:`nemesis.faults`), partition
shapes and partition modes (from :mod:`nemesis.partitions`) and profiles, each with a line of
description for ``--help`` and error messages.

Pure data and parsing; no I/O. The mappings are read-only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from nemesis.choices import parse_names
from nemesis.faults import FAULT_KINDS
from nemesis.partitions import PARTITION_MODES, SHAPES, check_partition_mode, parse_shapes
from nemesis.profiles import PROFILES

__all__ = [
    "KINDS",
    "PARTITION_MODES",
    "SHAPES",
    "check_partition_mode",
    "describe",
    "parse_kinds",
    "parse_shapes",
]

KINDS: Mapping[str, str] = MappingProxyType(
    {name: kind.description for name, kind in FAULT_KINDS.items()}
)
"""Kind name -> its description, read from :data:`nemesis.faults.FAULT_KINDS`."""


def parse_kinds(text: str | Iterable[str]) -> tuple[str, ...]:
    """Parse ``--nemesis partition,kill`` into kind names, in order, without repeats.

    An empty string means no nemesis (``()``). An unknown name raises ``ValueError`` whose message
    lists every valid kind with its description.
    """
    return parse_names(text, KINDS, "nemesis kind")


def describe() -> str:
    """A multi-line description of profiles, kinds, shapes and modes, for ``--help`` epilogs."""
    sections = (
        ("nemesis profiles", {name: p.description for name, p in PROFILES.items()}),
        ("nemesis kinds", KINDS),
        ("partition shapes", SHAPES),
        ("partition modes", PARTITION_MODES),
    )
    lines: list[str] = []
    for title, options in sections:
        lines.append(f"{title}:")
        lines.extend(f"  {name:<16} {text}" for name, text in options.items())
    return "\n".join(lines)
