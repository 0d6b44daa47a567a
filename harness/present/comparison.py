"""Side-by-side figures of several runs: what each configuration gave up under faults.

For design reviews: the same workload and faults against several configurations (CP against
AP, a lazy fsync against an eager one; same seed), availability against anomalies in one table.
Every column names its system, the version and every option that differs from its default.
Pure: run records in, text out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from harness.present.history_summary import SIDES, HistorySummary
from harness.results import Results
from harness.run_description import RunDescription
from splitbrain.numbers import int_or
from systems import registry
from systems.seam import show_value

SIDES_SHOWN = (*SIDES, "even", "no-majority", "unknown")


@dataclass(frozen=True)
class RunRecord:
    """What a comparison needs of one run: its name, test.json (if any) and results."""

    label: str
    test: Mapping[str, Any]
    results: Results | Mapping[str, Any]
    figures: Mapping[str, Any]  # availability_stats of its history
    folder: str | None = None  # the run directory, if the run has one
    summary: HistorySummary | None = None  # the fold of its history, for the timeline

    @cached_property
    def run(self) -> RunDescription:
        return RunDescription.from_json(self.test)

    @cached_property
    def judged(self) -> Results:
        return Results.of(self.results)

    def option(self, name: str) -> Any:
        """The value of system option ``name`` in this run: as changed, else its declared
        default; None when the run names no system or its system does not declare it."""
        system = self.run.system
        if system is None:
            return None
        if name in system.options:
            return system.options[name]
        declared = {o.name: o.default for o in registry.declared_options(system.name)}
        return declared.get(name)


def compared_options(runs: Sequence[RunRecord]) -> list[str]:
    """Every option that differs from its default in some run, in the order first seen."""
    names: dict[str, None] = {}
    for run in runs:
        if run.run.system is not None:
            names.update(dict.fromkeys(run.run.system.options))
    return list(names)


def distinguishing_labels(runs: Sequence[RunRecord], names: Sequence[str]) -> list[str]:
    """A label per run saying what sets it apart: the value of the one option whose value
    differs between the runs (``always``, as ``compare --vary`` labels its runs), or the system
    and each such option (``nats, sync_interval=always, replicas=5``); ``names`` (e.g. the run
    folders') where nothing does, or to tell apart runs that would read the same."""
    systems = [r.run.system.name if r.run.system else "" for r in runs]
    differ = [n for n in compared_options(runs) if len({repr(r.option(n)) for r in runs}) > 1]
    several = len(set(systems)) > 1
    labels = []
    for run, system in zip(runs, systems, strict=True):
        if len(differ) == 1 and not several:
            labels.append(show_value(run.option(differ[0])))
            continue
        parts = [system] if several and system else []
        parts += [f"{n}={show_value(run.option(n))}" for n in differ]
        labels.append(", ".join(parts))
    if any(not label for label in labels) or len(set(labels)) < len(labels):
        return [f"{label} {name}".strip() for label, name in zip(labels, names, strict=True)]
    return labels


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
    return int_or(counts.get(name, 0), 0) if isinstance(counts, Mapping) else 0


def _names(runs: Sequence[RunRecord]) -> list[str]:
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
        found = run.judged.found()
        words = ", ".join(f"{v} {k}" for k, v in found.items()) if found else "none"
        anomalies.append(f"{name} {words}")
    return (
        f"{'; '.join(refused)}; lost to cut connections (indeterminate): "
        f"{', '.join(indeterminate)}; anomalies: {'; '.join(anomalies)}."
    )


def _verdict(valid: Any) -> str:
    return {True: "valid", False: "INVALID", "unknown": "unknown"}.get(valid, "?")


def _system(run: RunRecord) -> str:
    system = run.run.system
    return "?" if system is None else f"{system.name} {system.version}"


def _option(run: RunRecord, name: str) -> str:
    value = run.option(name)
    return "-" if value is None and run.run.system is None else show_value(value)


def comparison_rows(runs: Sequence[RunRecord]) -> list[tuple[str, list[str]]]:
    """(row name, one cell per run) for every figure, in reading order."""
    rows: list[tuple[str, list[str]]] = []

    def row(name: str, cells: list[str]) -> None:
        rows.append((name, cells))

    row("system", [_system(r) for r in runs])
    for name in compared_options(runs):
        row(f"  {name}", [_option(r, name) for r in runs])
    row("seed", [str(r.run.seed if r.run.seed is not None else "?") for r in runs])
    row("verdict", [_verdict(r.judged.valid) for r in runs])
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
    if any("deliver_ms" in r.figures for r in runs):  # compare --latency: send to deliver
        deliver = [r.figures.get("deliver_ms") or {} for r in runs]
        row("deliver p50 ms", [_ms(x.get("p50")) for x in deliver])
        row("deliver p99 ms", [_ms(x.get("p99")) for x in deliver])
        row("acked sends/s", [_ms(r.figures.get("acked_per_s")) for r in runs])
        row("deliveries/s", [_ms(r.figures.get("delivered_per_s")) for r in runs])
    names = dict.fromkeys(name for r in runs for name in r.judged.anomaly_counts)
    for name in names:
        row(name, [str(r.judged.anomaly_counts.get(name, "-")) for r in runs])
    row("unseen", [str(r.judged.unseen) if r.judged.valid is not None else "-" for r in runs])
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
    ``fail`` and ``info`` sends (the split by faults and sides is in the ``sends_*`` keys);
    ``system``, ``version`` and ``options`` (those that differ from their defaults) say what
    ran."""
    return [
        {
            "label": r.label,
            "system": r.run.system.name if r.run.system else None,
            "version": r.run.system.version if r.run.system else None,
            "options": dict(r.run.system.options) if r.run.system else {},
            "seed": r.run.seed,
            "valid": r.judged.valid,
            "anomaly_counts": dict(r.judged.anomaly_counts),
            "unseen": r.judged.unseen if r.judged.valid is not None else None,
            **dict(r.figures),
            "refused": _count(r.figures.get("sends"), "fail"),
            "indeterminate": _count(r.figures.get("sends"), "info"),
        }
        for r in runs
    ]
