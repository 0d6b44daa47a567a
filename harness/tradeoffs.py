"""Comparisons as run plans, and the figures of a latency trade-off.

``compare --vary NAME=V1,V2`` runs the same seed (so the same workload and fault schedule) once
per value of one setting or system option; the vary flags systems declare for their options
are that too. Pure: which configurations to run and how
each column is labelled (:func:`vary_variants`), and the send-to-deliver figures of a history
(:func:`delivery_figures`). :mod:`harness.commands.compare` runs them and prints the table.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.config import SETTINGS, ConfigError, RunConfig
from splitbrain.numbers import int_or
from systems import registry


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


def parse_vary(text: str) -> tuple[str, tuple[str, ...]]:
    """``NAME=V1,V2[,...]`` as the name and its values; ConfigError saying the form."""
    name, sep, values = text.partition("=")
    items = tuple(v.strip() for v in values.split(",") if v.strip())
    if not sep or not name.strip() or len(items) < 1:
        raise ConfigError(f"--vary {text!r}: write it as NAME=V1,V2 (e.g. --vary rate=10,50)")
    return name.strip().replace("-", "_"), items


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "value"


def _changes(base: RunConfig, name: str, value: str) -> dict[str, Any]:
    """The settings that give ``name`` the value ``value``: a setting of the run, else an
    option of its system; ConfigError listing both when ``name`` is neither."""
    if name in SETTINGS and name != "system_options":
        return {name: value}
    options = [o.name for o in registry.declared_options(base.system)]
    if name in options:
        return {"system_options": {**dict(base.system_options), name: value}}
    raise ConfigError(
        f"--vary {name}: not a setting nor an option of system {base.system}; settings: "
        f"{', '.join(k for k in SETTINGS if k != 'system_options')}; options of "
        f"{base.system}: {', '.join(options) or 'none'}"
    )


def vary_variants(
    base: RunConfig, name: str, values: Sequence[str], sizes: Sequence[int] | None = None
) -> list[Variant]:
    """One run per value of ``name`` (a setting or a system option), labelled by the value;
    with ``sizes``, one per value per payload size. Everything else, the seed first, is the
    base's, so the workload and the fault schedule are the same (unless ``name`` changes them).
    Raises ConfigError for a name or value that is not valid, before anything runs."""
    variants = []
    for size in sizes or (None,):
        for value in values:
            changes = _changes(base, name, value)
            label = value
            if size is not None:
                changes["payload_sizes"] = (size,)
                label += f" {size_label(size)}"
            config = base.changed(name=f"{base.name}-{_slug(label)}", **changes)
            variants.append(Variant(label, config))
    return variants


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def delivery_figures(ops: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Send-to-deliver latency (from a send's first invoke to each recipient's first sight of
    it) at p50 and p99 in ms, and throughput: acked sends and deliveries per second of the run."""
    invoked: dict[Any, int] = {}
    seen: set[tuple[Any, Any]] = set()
    latencies: list[float] = []
    acked = delivered = 0
    first: int | None = None
    last: int | None = None
    for op in ops:
        time = int_or(op.get("time"), None)
        if time is None:
            continue
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
    seconds = (last - first) / 1e9 if first is not None and last is not None else None
    return {
        "deliver_ms": {"p50": _percentile(latencies, 0.5), "p99": _percentile(latencies, 0.99)},
        "acked_per_s": acked / seconds if seconds else None,
        "delivered_per_s": delivered / seconds if seconds else None,
    }
