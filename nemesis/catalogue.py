"""The nemesis's vocabulary: fault kinds, partition shapes and partition modes, each with a line
of description for ``--help`` and for error messages.

Pure data and parsing; no I/O. The mappings are read-only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

KINDS: Mapping[str, str] = MappingProxyType(
    {
        "partition": "cut the network into a shape below, then heal it",
        "kill": "kill -9 one node (the primary or a random one), then restart it",
        "pause": "SIGSTOP one node (the primary or a random one), then resume it",
        "latency": "add latency with jitter on every link of one node, then clear it",
        "power-loss": "kill -9 one node, a minority or all nodes and drop every write they did "
        "not fsync (data directories on lazyfs), then restart them",
    }
)

SHAPES: Mapping[str, str] = MappingProxyType(
    {
        "one-alone": "one node cut off from all the others",
        "primary-alone": "the node that is primary when the fault starts, cut off from the others",
        "halves": "the nodes split at random into two halves (the larger one a majority)",
        "majorities-ring": "every node sees a majority, and no two nodes see the same one",
        "bridge": "two halves that cannot talk, joined by one node that sees both",
    }
)

# Kinds that act on node processes, and shapes that need to know the primary: a system may not
# offer them (an external server; a system whose statuses name no primary).
PROCESS_KINDS: frozenset[str] = frozenset({"kill", "pause"})
PRIMARY_SHAPES: frozenset[str] = frozenset({"primary-alone"})

PARTITION_MODES: Mapping[str, str] = MappingProxyType(
    {
        "drop": "cut links stay connected but silent: data is dropped (timeout toxic at 0)",
        "refuse": "cut links refuse connections and close open ones (proxy disabled)",
    }
)

NODE_CHOICES: Mapping[str, str] = MappingProxyType(
    {
        "primary": "the node that is primary when the fault starts (the seeded node if none)",
        "random": "a node drawn from the seed",
    }
)


def _listing(options: Mapping[str, str]) -> str:
    return "; ".join(f"{name}: {text}" for name, text in options.items())


def _parse(text: str | Iterable[str], options: Mapping[str, str], what: str) -> tuple[str, ...]:
    names = text.split(",") if isinstance(text, str) else list(text)
    chosen: list[str] = []
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        if name not in options:
            raise ValueError(f"unknown {what} {name!r}; valid {what}s are: {_listing(options)}")
        if name not in chosen:
            chosen.append(name)
    return tuple(chosen)


def parse_kinds(text: str | Iterable[str]) -> tuple[str, ...]:
    """Parse ``--nemesis partition,kill`` into kind names, in order, without repeats.

    An empty string means no nemesis (``()``). An unknown name raises ``ValueError`` whose message
    lists every valid kind with its description.
    """
    return _parse(text, KINDS, "nemesis kind")


def parse_shapes(text: str | Iterable[str]) -> tuple[str, ...]:
    """As :func:`parse_kinds`, for partition shapes."""
    return _parse(text, SHAPES, "partition shape")


def check_partition_mode(mode: str) -> str:
    """Return ``mode`` if it is a partition mode; else raise ``ValueError`` listing the modes."""
    if mode not in PARTITION_MODES:
        raise ValueError(
            f"unknown partition mode {mode!r}; valid modes are: {_listing(PARTITION_MODES)}"
        )
    return mode


def describe() -> str:
    """A multi-line description of kinds, shapes and modes, for ``--help`` epilogs."""
    sections = (
        ("nemesis kinds", KINDS),
        ("partition shapes", SHAPES),
        ("partition modes", PARTITION_MODES),
    )
    lines: list[str] = []
    for title, options in sections:
        lines.append(f"{title}:")
        lines.extend(f"  {name:<16} {text}" for name, text in options.items())
    return "\n".join(lines)
