"""The registry of fault kinds: every kind the nemesis can run, by name, in ``--help`` order.

Each kind is one unit in :mod:`nemesis.kinds` (a :class:`~nemesis.kind.FaultKind`: what it needs,
how it is drawn, checked, said, started and undone); this module only lists them, so every
reader (the catalogue for ``--help`` and parsing, the schedule, the runner, the harness's
report, timeline and progress line) takes kinds from :data:`FAULT_KINDS`. Adding a kind is its
module plus one line in :data:`_KINDS` (see the :mod:`nemesis` package docstring).

Pure data; no I/O. The mappings are read-only.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from nemesis.kind import Effect, FaultKind
from nemesis.kinds.kill import Kill
from nemesis.kinds.latency import Latency
from nemesis.kinds.partition import Partition
from nemesis.kinds.pause import Pause
from nemesis.kinds.power_loss import PowerLoss

__all__ = [
    "EFFECTS",
    "FAULT_KINDS",
    "OTHER_COLOUR",
    "UNDO_FS",
    "FaultKind",
    "colour",
    "kind",
    "kinds_ended_by",
    "label",
]

_KINDS: tuple[FaultKind, ...] = (Partition(), Kill(), Pause(), Latency(), PowerLoss())

FAULT_KINDS: Mapping[str, FaultKind] = MappingProxyType({k.name: k for k in _KINDS})
"""Every fault kind by name, in the order ``--help`` lists them."""

EFFECTS: tuple[Effect, ...] = tuple(
    sorted({k.effect.name: k.effect for k in _KINDS}.values(), key=lambda e: e.heal_rank)
)
"""Every effect a kind leaves, in the order the final heal undoes them."""

OTHER_COLOUR = "#546e7a"
"""The report's colour of a nemesis op no kind here names (a history from another version)."""

UNDO_FS: frozenset[str] = frozenset(k.undo_f for k in _KINDS)
"""Every history ``f`` that ends a fault (``heal``, ``restart``, ``resume``, ``clear-latency``)."""


def kind(name: str) -> FaultKind:
    """The kind named ``name``; ``ValueError`` listing every kind when there is none."""
    try:
        return FAULT_KINDS[name]
    except KeyError:
        raise ValueError(
            f"unknown nemesis kind {name!r}; valid kinds are: {', '.join(FAULT_KINDS)}"
        ) from None


def kinds_ended_by(undo_f: str) -> tuple[str, ...]:
    """The kinds (by start ``f``) whose faults an op ``undo_f`` ends; ``()`` if it ends none."""
    return tuple(k.start_f for k in _KINDS if k.undo_f == undo_f)


def colour(f: str) -> str:
    """The report colour of the fault whose start op is ``f``."""
    known = FAULT_KINDS.get(f)
    return known.colour if known else OTHER_COLOUR


def label(f: str) -> str:
    """The report's label of the fault whose start op is ``f`` (``f`` itself if unknown)."""
    known = FAULT_KINDS.get(f)
    return known.label if known else f
