"""The design's two trade-offs as run plans and figures: consistency against availability
(``compare --modes cp,ap``) and latency against security (``compare --e2e on,off
--payload-sizes 1k,64k``).

Pure: which configurations to run (same seed, so the same workload and fault schedule), and the
send-to-deliver figures of a history. :mod:`harness.commands.compare` runs them and prints the
table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.config import RunConfig


def size_label(size: int) -> str:
    for unit, factor in (("m", 1024 * 1024), ("k", 1024)):
        if size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


@dataclass(frozen=True)
class Variant:
    """One run of a comparison: its column label and configuration."""

    label: str
    config: RunConfig


def mode_variants(base: RunConfig, modes: Sequence[str]) -> list[Variant]:
    """The same seed, workload and schedule in each consistency mode."""
    return [Variant(mode, base.changed(mode=mode, name=f"{base.name}-{mode}")) for mode in modes]


def e2e_variants(
    base: RunConfig, switches: Sequence[bool], sizes: Sequence[int] | None
) -> list[Variant]:
    """Each payload size with end-to-end encryption on and off (same seed and schedule)."""
    variants = []
    for size in sizes or (None,):
        for on in switches:
            changes: dict[str, Any] = {"e2e": on}
            label = f"e2e {'on' if on else 'off'}"
            if size is not None:
                changes["payload_sizes"] = (size,)
                label += f" {size_label(size)}"
            name = f"{base.name}-{label.replace(' ', '-')}"
            variants.append(Variant(label, base.changed(name=name, **changes)))
    return variants


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def delivery_figures(ops: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Send-to-deliver latency (from a send's first invoke to each recipient's first sight of
    it) at p50 and p99 in ms, and throughput: acked sends and deliveries per second of the run."""
    invoked: dict[str, int] = {}
    seen: set[tuple[str, str]] = set()
    latencies: list[float] = []
    acked = delivered = 0
    first = last = None
    for op in ops:
        time = op.get("time")
        if isinstance(time, int):
            first = time if first is None else first
            last = time
        f, kind, value = op.get("f"), op.get("type"), op.get("value") or {}
        if f == "send" and kind == "invoke":
            invoked.setdefault(value.get("id"), time)
        elif f == "send" and kind == "ok":
            acked += 1
        elif f == "deliver":
            key = (value.get("id"), value.get("user"))
            if key not in seen and value.get("id") in invoked:
                seen.add(key)
                delivered += 1
                latencies.append((time - invoked[value["id"]]) / 1e6)
    seconds = (last - first) / 1e9 if first is not None and last != first else None
    return {
        "deliver_ms": {"p50": _percentile(latencies, 0.5), "p99": _percentile(latencies, 0.99)},
        "acked_per_s": acked / seconds if seconds else None,
        "delivered_per_s": delivered / seconds if seconds else None,
    }
