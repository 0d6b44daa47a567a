"""Side-by-side figures of several runs: what each configuration gave up under faults.

For design reviews of CAP choices: run the same workload and faults in CP and AP mode (same seed)
and read availability against anomalies in one table. Pure: run records in, text out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from checkers import ANOMALIES
from harness.present.history_summary import SIDES, HistorySummary

SIDES_SHOWN = (*SIDES, "even", "no-majority", "unknown")


@dataclass(frozen=True)
class RunRecord:
    """What a comparison needs of one run: its name, test.json (if any) and results."""

    label: str
    test: Mapping[str, Any]
    results: Mapping[str, Any]
    figures: Mapping[str, Any]  # availability_stats of its history
    folder: str | None = None  # the run directory, if the run has one
    summary: HistorySummary | None = None  # the fold of its history, for the timeline


def _pct(value: Any) -> str:
    return "n/a" if not isinstance(value, int | float) else f"{100 * value:.1f}%"


def _ms(value: Any) -> str:
    return "n/a" if not isinstance(value, int | float) else f"{value:.1f}"


def _split(counts: Any) -> str:
    """``ok/refused/indeterminate`` of a send-outcome count, ``-`` when there is none."""
    if not isinstance(counts, Mapping):
        return "-"
    return "/".join(str(counts.get(name, 0)) for name in ("ok", "fail", "info"))


def _sides(run: RunRecord) -> Mapping[str, Any]:
    sides = run.figures.get("sends_during_partitions_by_side")
    return sides if isinstance(sides, Mapping) else {}


def _by_node(run: RunRecord) -> Mapping[str, Any]:
    nodes = run.figures.get("sends_during_partitions_by_node")
    return nodes if isinstance(nodes, Mapping) else {}


def _count(counts: Any, name: str) -> int:
    value = counts.get(name, 0) if isinstance(counts, Mapping) else 0
    return value if isinstance(value, int) else 0


def _names(runs: Sequence[RunRecord]) -> list[str]:
    """Each run's mode (``CP``, ``AP``) when that tells the runs apart, else its label."""
    modes = [str(r.test.get("mode", "")).upper() for r in runs]
    if all(modes) and len(set(modes)) == len(modes):
        return modes
    return [r.label for r in runs]


def tradeoff_reading(runs: Sequence[RunRecord]) -> str:
    """One sentence on what each run gave up: sends it refused (``fail``: the consistent
    choice), sends lost to cut connections (``info``: the network's cost, paid by every design),
    and anomalies (the available choice's cost). Words are made from the figures only."""
    names = _names(runs)
    refused, indeterminate, anomalies = [], [], []
    for name, run in zip(names, runs, strict=True):
        fail = _count(run.figures.get("sends"), "fail")
        minority = _count(_sides(run).get("minority"), "fail")
        where = f" ({minority} on the minority side)" if minority else ""
        refused.append(f"{name} refused {fail or 'no'} sends{where}")
        indeterminate.append(f"{name} {_count(run.figures.get('sends'), 'info')}")
        counts = run.results.get("anomaly_counts")
        found = {k: v for k, v in counts.items() if v} if isinstance(counts, Mapping) else {}
        words = ", ".join(f"{v} {k}" for k, v in found.items()) if found else "none"
        anomalies.append(f"{name} {words}")
    return (
        f"{'; '.join(refused)}; lost to cut connections (indeterminate): "
        f"{', '.join(indeterminate)}; anomalies: {'; '.join(anomalies)}."
    )


def _verdict(valid: Any) -> str:
    return {True: "valid", False: "INVALID", "unknown": "unknown"}.get(valid, "?")


def comparison_rows(runs: Sequence[RunRecord]) -> list[tuple[str, list[str]]]:
    """(row name, one cell per run) for every figure, in reading order."""
    rows: list[tuple[str, list[str]]] = []

    def row(name: str, cells: list[str]) -> None:
        rows.append((name, cells))

    row("mode", [str(r.test.get("mode", "?")) for r in runs])
    row("bug", [str(r.test.get("bug") or "-") for r in runs])
    row("seed", [str(r.test.get("seed", "?")) for r in runs])
    row("verdict", [_verdict(r.results.get("valid")) for r in runs])
    row("sends ok/refused/indet.", [_split(r.figures.get("sends")) for r in runs])
    row("  sent during faults", [_split(r.figures.get("sends_during_faults")) for r in runs])
    row("  sent outside faults", [_split(r.figures.get("sends_outside_faults")) for r in runs])
    for side in SIDES_SHOWN:
        cells = [_split(_sides(r).get(side)) for r in runs]
        if side in SIDES or any(cell != "-" for cell in cells):
            row(f"  {side} side (partitions)", cells)
    nodes = sorted({node for r in runs for node in _by_node(r)})
    for node in nodes:
        row(f"  on {node} (partitions)", [_split(_by_node(r).get(node)) for r in runs])
    row("availability", [_pct(r.figures.get("availability")) for r in runs])
    row("  during faults", [_pct(r.figures.get("availability_during_faults")) for r in runs])
    row("  outside faults", [_pct(r.figures.get("availability_outside_faults")) for r in runs])
    latency = [r.figures.get("latency_ms") or {} for r in runs]
    row("latency p50 ms", [_ms(x.get("p50")) for x in latency])
    row("latency p99 ms", [_ms(x.get("p99")) for x in latency])
    if any("deliver_ms" in r.figures for r in runs):  # compare --e2e: send to deliver
        deliver = [r.figures.get("deliver_ms") or {} for r in runs]
        row("deliver p50 ms", [_ms(x.get("p50")) for x in deliver])
        row("deliver p99 ms", [_ms(x.get("p99")) for x in deliver])
        row("acked sends/s", [_ms(r.figures.get("acked_per_s")) for r in runs])
        row("deliveries/s", [_ms(r.figures.get("delivered_per_s")) for r in runs])
    for name in ANOMALIES:
        row(name, [str((r.results.get("anomaly_counts") or {}).get(name, "-")) for r in runs])
    row("unseen", [str(r.results.get("unseen", "-")) for r in runs])
    return rows


def format_comparison(runs: Sequence[RunRecord]) -> str:
    """A plain-text table: one column per run, headed by its label."""
    rows = comparison_rows(runs)
    first = max(len(name) for name, _ in rows)
    widths = [
        max(len(run.label), *(len(cells[i]) for _, cells in rows)) for i, run in enumerate(runs)
    ]
    head = (
        " " * first + "  " + "  ".join(r.label.rjust(w) for r, w in zip(runs, widths, strict=True))
    )
    lines = [head]
    for name, cells in rows:
        lines.append(
            name.ljust(first)
            + "  "
            + "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))
        )
    lines += ["", "reading: " + tradeoff_reading(runs)]
    return "\n".join(lines) + "\n"


def comparison_json(runs: Sequence[RunRecord]) -> list[dict[str, Any]]:
    """The same figures as data, one object per run; ``refused`` and ``indeterminate`` are the
    ``fail`` and ``info`` sends (the split by faults and sides is in the ``sends_*`` keys)."""
    return [
        {
            "label": r.label,
            "mode": r.test.get("mode"),
            "bug": r.test.get("bug"),
            "seed": r.test.get("seed"),
            "valid": r.results.get("valid"),
            "anomaly_counts": dict(r.results.get("anomaly_counts") or {}),
            "unseen": r.results.get("unseen"),
            **dict(r.figures),
            "refused": _count(r.figures.get("sends"), "fail"),
            "indeterminate": _count(r.figures.get("sends"), "info"),
        }
        for r in runs
    ]
