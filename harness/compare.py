"""Side-by-side figures of several runs: what each configuration gave up under faults.

For design reviews of CAP choices: run the same workload and faults in CP and AP mode (same seed)
and read availability against anomalies in one table. Pure: run records in, text out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from checkers import ANOMALIES


@dataclass(frozen=True)
class RunRecord:
    """What a comparison needs of one run: its name, test.json (if any) and results."""

    label: str
    test: Mapping[str, Any]
    results: Mapping[str, Any]
    figures: Mapping[str, Any]  # availability_stats of its history
    folder: str | None = None  # the run directory, if the run has one


def _pct(value: Any) -> str:
    return "n/a" if not isinstance(value, int | float) else f"{100 * value:.1f}%"


def _ms(value: Any) -> str:
    return "n/a" if not isinstance(value, int | float) else f"{value:.1f}"


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
    sends = [r.figures.get("sends") or {} for r in runs]
    row(
        "sends ok/fail/info",
        [f"{s.get('ok', 0)}/{s.get('fail', 0)}/{s.get('info', 0)}" for s in sends],
    )
    row("availability", [_pct(r.figures.get("availability")) for r in runs])
    row("  during faults", [_pct(r.figures.get("availability_during_faults")) for r in runs])
    row("  outside faults", [_pct(r.figures.get("availability_outside_faults")) for r in runs])
    latency = [r.figures.get("latency_ms") or {} for r in runs]
    row("latency p50 ms", [_ms(x.get("p50")) for x in latency])
    row("latency p99 ms", [_ms(x.get("p99")) for x in latency])
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
    return "\n".join(lines) + "\n"


def comparison_json(runs: Sequence[RunRecord]) -> list[dict[str, Any]]:
    """The same figures as data, one object per run."""
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
        }
        for r in runs
    ]
