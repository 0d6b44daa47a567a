"""What a run has done so far, for its progress line and the line it ends with.

Each client driver counts its own sends, deliveries and connects (:class:`OpCounts`); the run
adds them up (:meth:`OpCounts.total`) and watches the nemesis's operations for the faults in
effect (:class:`FaultsInEffect`). Nothing else counts them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nemesis.faults import FAULT_KINDS


@dataclass
class OpCounts:
    """Sends by outcome (``ok``/``fail``/``info``), deliveries and connects."""

    ok: int = 0
    fail: int = 0
    info: int = 0
    delivered: int = 0
    connects: int = 0

    def ended(self, outcome: str) -> None:
        """Count a send that ended ``outcome`` (``ok``, ``fail`` or ``info``)."""
        if outcome not in ("ok", "fail", "info"):
            raise ValueError(f"a send ends ok, fail or info, not {outcome!r}")
        setattr(self, outcome, getattr(self, outcome) + 1)

    @classmethod
    def total(cls, counts: Iterable[OpCounts]) -> OpCounts:
        whole = cls()
        for c in counts:
            whole.ok += c.ok
            whole.fail += c.fail
            whole.info += c.info
            whole.delivered += c.delivered
            whole.connects += c.connects
        return whole


@dataclass
class FaultsInEffect:
    """The faults the nemesis has started and not yet undone, from its operations."""

    open: Counter[str] = field(default_factory=Counter)

    @property
    def words(self) -> str:
        """The faults in effect now, e.g. ``partition+latency``, or ``none``."""
        return "+".join(sorted(self.open.elements())) or "none"

    def observe(self, op: Mapping[str, Any]) -> None:
        if op.get("process") != "nemesis" or op.get("type") != "invoke":
            return
        f = str(op.get("f"))
        if f in FAULT_KINDS:
            self.open[f] += 1
            return
        for fault in (k for k in FAULT_KINDS.values() if k.undo_f == f):
            if self.open[fault.name]:
                self.open[fault.name] -= 1
                break
        self.open += Counter()  # drops kinds that reached 0
