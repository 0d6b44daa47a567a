"""The fold of a history into what a report shows: pure, one pass, no HTML and no I/O.

- :func:`summarize` folds a history (any iterable of operation dicts, consumed once) into a
  :class:`HistorySummary`: fault intervals, time buckets of send outcomes and latencies, the drain,
  client failovers, the availability numbers and the few lines that anomalies cite (with context).
  Memory is bounded by the number of buckets (at most ``MAX_BUCKETS``), the capped listing, and
  8 bytes per acknowledged send (exact latency percentiles); a 10^6-line history is fine.
- :func:`availability_stats` and :func:`timeline_data` are the two halves of that summary.
- :func:`cited_indexes` reads which history lines a results.json's anomaly examples cite.

A caller may rely on: every record is a frozen dataclass; malformed lines and fields are tolerated
(counted, never raised on); the same history always folds to the same summary. Anomalies are never
derived here: the checkers find them, this module only keeps the lines they cite.
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from harness.results import Results
from nemesis.faults import FAULT_KINDS, UNDO_FS, kinds_ended_by
from splitbrain.numbers import int_or, is_int

FAULT_UNDO: Final = {kind.start_f: kind.undo_f for kind in FAULT_KINDS.values()}
UNDO_FAULT: Final = {undo: kinds_ended_by(undo) for undo in UNDO_FS}  # undo f -> fault fs
MAX_BUCKETS: Final = 200
MAX_CITED_LISTED: Final = 300
CONTEXT_LINES: Final = 2
MAX_FAULTS_KEPT: Final = 2000
MAX_FAILOVERS_KEPT: Final = 300

NS_PER_S: Final = 1_000_000_000
_BASE_BUCKETS_PER_S: Final = 1024  # bucket widths are 2^k / 1024 s: ~1 ms, ..., 0.5 s, 1 s, 2 s
OUTCOMES: Final = ("ok", "fail", "info")


# --- records -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FaultInterval:
    """One fault band: from the invoke of the fault to the completion of its undo.

    ``end_index`` is ``None`` when nothing undid the fault before the history ended; ``end_s`` is
    then the time of the last line. ``failed`` means the nemesis reported the fault itself as
    ``fail`` (the band then ends at that line).
    """

    kind: str
    label: str
    start_index: int
    start_s: float
    end_index: int | None
    end_s: float
    failed: bool = False

    @property
    def healed(self) -> bool:
        return self.end_index is not None


@dataclass(frozen=True)
class Bucket:
    """Sends invoked in ``[start_s, start_s + width)``: outcomes and latency of the ``ok`` ones."""

    start_s: float
    ok: int
    fail: int
    info: int
    p50_ms: float | None
    p99_ms: float | None


@dataclass(frozen=True)
class Drain:
    start_s: float
    end_s: float | None


@dataclass(frozen=True)
class Failover:
    """A user's client talked to ``to_node`` after last talking to ``from_node``."""

    index: int
    time_s: float
    user: str
    from_node: str
    to_node: str


@dataclass(frozen=True)
class Timeline:
    """What the timeline plots. ``faults`` and ``failovers`` are capped; the totals are not."""

    duration_s: float
    bucket_s: float
    buckets: tuple[Bucket, ...]
    faults: tuple[FaultInterval, ...]
    faults_total: int
    drain: Drain | None
    failovers: tuple[Failover, ...]
    failovers_total: int
    nemesis_kinds: tuple[str, ...]


@dataclass(frozen=True)
class ListedOp:
    """A history line kept for the listing; ``cited_by`` names the anomalies citing it, if any."""

    index: int
    op: Mapping[str, Any]
    cited_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class HistorySummary:
    """Everything the report needs from a history, small whatever the history's length."""

    timeline: Timeline
    availability: dict[str, Any]
    listing: tuple[ListedOp, ...]
    cited_total: int
    cited_listed: int
    ops_total: int

    @property
    def listed_indexes(self) -> frozenset[int]:
        return frozenset(item.index for item in self.listing)


# --- the fold over a history -----------------------------------------------------------------


def _percentile(sorted_values: Sequence[int], q: float) -> int | None:
    """Nearest-rank percentile; ``None`` for no values."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def _ms(ns: int | None) -> float | None:
    return None if ns is None else ns / 1e6


def _ratio(ok: int, total: int) -> float | None:
    return ok / total if total else None


def _targets(value: Any) -> frozenset[str]:
    """The node names a nemesis value mentions (``nodes``, ``groups``, ``links``, ``node``)."""
    found: set[str] = set()

    def walk(item: Any) -> None:
        if isinstance(item, str):
            found.add(item)
        elif isinstance(item, list | tuple):
            for sub in item:
                walk(sub)

    if isinstance(value, dict):
        for key in ("nodes", "groups", "links", "node", "targets"):
            walk(value.get(key))
    return frozenset(found)


def fault_label(value: Any) -> str:
    """Short words for a nemesis value: ``n1 | n2 n3``, ``n2``, ``n1-n2 200±50 ms``."""
    if isinstance(value, dict):
        parts: list[str] = []
        groups = value.get("groups")
        if isinstance(groups, list):
            parts.append(
                " | ".join(" ".join(map(str, g)) if isinstance(g, list) else str(g) for g in groups)
            )
        nodes = value.get("nodes")
        if isinstance(nodes, list):
            parts.append(" ".join(map(str, nodes)))
        elif isinstance(value.get("node"), str):
            parts.append(value["node"])
        links = value.get("links")
        if isinstance(links, list):
            parts.append(
                " ".join("-".join(map(str, k)) if isinstance(k, list) else str(k) for k in links)
            )
        if "ms" in value:
            jitter = value.get("jitter")
            parts.append(f"{value['ms']}±{jitter} ms" if jitter else f"{value['ms']} ms")
        if parts:
            return " ".join(parts)
    if value is None:
        return ""
    return compact(value, 80)


def compact(value: Any, limit: int) -> str:
    """``value`` as one line of JSON (``repr`` if not JSON), cut to ``limit`` chars with ``…``."""
    try:
        text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass
class _OpenFault:
    kind: str
    label: str
    targets: frozenset[str]
    start_index: int
    start_ns: int
    groups: tuple[frozenset[str], ...] = ()


SIDES: Final = ("minority", "majority")


def partition_groups(value: Any) -> tuple[frozenset[str], ...]:
    """The node groups a partition's value names (``{"groups": [["n1"], ["n2", "n3"]]}``)."""
    groups = value.get("groups") if isinstance(value, Mapping) else None
    if not isinstance(groups, list):
        return ()
    return tuple(
        frozenset(n for n in group if isinstance(n, str))
        for group in groups
        if isinstance(group, list)
    )


def side_of(node: Any, groups: Sequence[frozenset[str]]) -> str:
    """Which side of a partition ``node`` is on: ``minority`` when its group holds fewer than half
    of the nodes the groups name, ``majority`` when more, ``even`` when exactly half,
    ``no-majority`` when no group holds a majority (a bridge recorded as single nodes: the groups
    define no sides), and ``unknown`` when the send names no node or a node in no group."""
    everyone = frozenset().union(*groups) if groups else frozenset()
    group = next((g for g in groups if node in g), None) if isinstance(node, str) else None
    if group is None or not everyone:
        return "unknown"
    if all(2 * len(g) < len(everyone) for g in groups):
        return "no-majority"
    if 2 * len(group) < len(everyone):
        return "minority"
    return "majority" if 2 * len(group) > len(everyone) else "even"


@dataclass
class _Fold:
    """The mutable state of one pass; only :func:`summarize` creates and finishes one."""

    cited: Mapping[int, tuple[str, ...]]
    max_buckets: int
    max_cited: int
    context: int
    k: int = 0
    counts: dict[int, list[int]] = field(default_factory=dict)
    latencies: dict[int, array] = field(default_factory=dict)
    pending: dict[Any, tuple[int, bool, str | None, str | None]] = field(default_factory=dict)
    totals: dict[bool, list[int]] = field(default_factory=lambda: {True: [0, 0, 0], False: [0] * 3})
    by_side: dict[str, list[int]] = field(default_factory=dict)
    by_node: dict[str, list[int]] = field(default_factory=dict)
    open_faults: dict[int, _OpenFault] = field(default_factory=dict)
    closing: dict[Any, list[int]] = field(default_factory=dict)
    next_fault: int = 0
    faults: list[FaultInterval] = field(default_factory=list)
    faults_total: int = 0
    kinds: dict[str, None] = field(default_factory=dict)
    drain_start: int | None = None
    drain_end: int | None = None
    last_node: dict[str, str] = field(default_factory=dict)
    failovers: list[Failover] = field(default_factory=list)
    failovers_total: int = 0
    before: deque = field(default_factory=deque)
    after_left: int = 0
    listing: list[ListedOp] = field(default_factory=list)
    cited_listed: int = 0
    ops_total: int = 0
    last_ns: int = 0

    def bucket_of(self, time_ns: int) -> int:
        return time_ns * _BASE_BUCKETS_PER_S // (NS_PER_S << self.k)

    def widen_to(self, time_ns: int) -> None:
        while self.bucket_of(time_ns) >= self.max_buckets:
            self.k += 1
            counts: dict[int, list[int]] = {}
            for key, row in self.counts.items():
                merged = counts.setdefault(key // 2, [0, 0, 0])
                for i in range(3):
                    merged[i] += row[i]
            latencies: dict[int, array] = {}
            for key, values in self.latencies.items():
                latencies.setdefault(key // 2, array("q")).extend(values)
            self.counts, self.latencies = counts, latencies

    def add(self, op: Any) -> None:
        line = self.ops_total
        self.ops_total += 1
        if not isinstance(op, Mapping):
            return
        index = int_or(op.get("index"), line)
        time_ns = max(int_or(op.get("time"), self.last_ns), self.last_ns)
        self.last_ns = time_ns
        self.widen_to(time_ns)
        process, kind, f = op.get("process"), op.get("type"), op.get("f")
        if process == "nemesis" and isinstance(f, str):
            self.nemesis(op, index, time_ns, kind, f)
        elif process == "harness" and f == "drain":
            if kind == "invoke" and self.drain_start is None:
                self.drain_start = time_ns
            elif kind == "ok" and self.drain_start is not None and self.drain_end is None:
                self.drain_end = time_ns
        elif f == "send":
            self.send(process, kind, time_ns, op.get("node"))
        if f in ("send", "deliver"):
            self.track_node(op, index, time_ns)
        self.keep(op, index)

    def send(self, process: Any, kind: Any, time_ns: int, node: Any) -> None:
        key = _hashable(process)
        if kind == "invoke":
            if key in self.pending:
                self.complete(self.pending.pop(key), "info", time_ns)
            partition = self.partition_in_effect()
            side = None if partition is None else side_of(node, partition)
            named = node if partition is not None and isinstance(node, str) else None
            self.pending[key] = (time_ns, bool(self.open_faults), side, named)
        elif kind in OUTCOMES and key in self.pending:
            self.complete(self.pending.pop(key), kind, time_ns)

    def partition_in_effect(self) -> tuple[frozenset[str], ...] | None:
        """The groups of the latest partition still in effect, if any (``()``: none named)."""
        for open_ in reversed(self.open_faults.values()):
            if open_.kind == "partition":
                return open_.groups
        return None

    def complete(
        self, invoked: tuple[int, bool, str | None, str | None], outcome: str, time_ns: int
    ) -> None:
        invoke_ns, in_fault, side, node = invoked
        slot = OUTCOMES.index(outcome)
        bucket = self.bucket_of(invoke_ns)
        self.counts.setdefault(bucket, [0, 0, 0])[slot] += 1
        self.totals[in_fault][slot] += 1
        if side is not None:
            self.by_side.setdefault(side, [0, 0, 0])[slot] += 1
        if node is not None:
            self.by_node.setdefault(node, [0, 0, 0])[slot] += 1
        if outcome == "ok":
            self.latencies.setdefault(bucket, array("q")).append(time_ns - invoke_ns)

    def nemesis(self, op: Mapping[str, Any], index: int, time_ns: int, kind: Any, f: str) -> None:
        value = op.get("value")
        step = op.get("step")  # tells apart the overlapping ops of one f (nemesis.runner)
        step = step if isinstance(step, int) else None
        if kind == "invoke":
            if f in UNDO_FAULT:
                self.closing[("undo", f, step)] = self.matching(UNDO_FAULT[f], _targets(value))
                return
            self.kinds.setdefault(f, None)
            fid = self.next_fault
            self.next_fault += 1
            self.open_faults[fid] = _OpenFault(
                f, fault_label(value), _targets(value), index, time_ns, partition_groups(value)
            )
            self.closing.setdefault(("own", f, step), []).append(fid)
        elif kind in OUTCOMES and f in UNDO_FAULT:
            if kind != "fail":
                for fid in self.closing.pop(("undo", f, step), []):
                    self.close(fid, index, time_ns)
            self.closing.pop(("undo", f, step), None)
        elif kind in OUTCOMES:
            for fid in self.closing.pop(("own", f, step), []):
                if kind == "fail" or f not in FAULT_UNDO:
                    self.close(fid, index, time_ns, failed=kind == "fail")

    def matching(self, faults: tuple[str, ...], wanted: frozenset[str]) -> list[int]:
        """Open bands of the kinds ``faults`` an undo naming ``wanted`` ends (all of them if
        unnamed)."""
        return [
            fid
            for fid, open_ in self.open_faults.items()
            if open_.kind in faults and (not wanted or not open_.targets or wanted & open_.targets)
        ]

    def close(self, fid: int, index: int | None, time_ns: int, failed: bool = False) -> None:
        open_ = self.open_faults.pop(fid, None)
        if open_ is None:
            return
        self.faults_total += 1
        if len(self.faults) < MAX_FAULTS_KEPT:
            self.faults.append(
                FaultInterval(
                    open_.kind,
                    open_.label,
                    open_.start_index,
                    open_.start_ns / NS_PER_S,
                    index,
                    time_ns / NS_PER_S,
                    failed,
                )
            )

    def track_node(self, op: Mapping[str, Any], index: int, time_ns: int) -> None:
        node, value = op.get("node"), op.get("value")
        if not isinstance(node, str) or not isinstance(value, Mapping):
            return
        user = value.get("from") if op.get("f") == "send" else value.get("user")
        if not isinstance(user, str):
            return
        previous = self.last_node.get(user)
        self.last_node[user] = node
        if previous is not None and previous != node:
            self.failovers_total += 1
            if len(self.failovers) < MAX_FAILOVERS_KEPT:
                self.failovers.append(Failover(index, time_ns / NS_PER_S, user, previous, node))

    def keep(self, op: Mapping[str, Any], index: int) -> None:
        names = self.cited.get(index)
        if names is not None and self.cited_listed < self.max_cited:
            self.cited_listed += 1
            self.listing.extend(self.before)
            self.before.clear()
            self.listing.append(ListedOp(index, op, names))
            self.after_left = self.context
        elif self.after_left > 0:
            self.after_left -= 1
            self.listing.append(ListedOp(index, op))
        elif self.context:
            self.before.append(ListedOp(index, op))
            if len(self.before) > self.context:
                self.before.popleft()

    def finish(self) -> HistorySummary:
        for invoked in self.pending.values():
            self.complete(invoked, "info", self.last_ns)
        self.pending.clear()
        for fid in list(self.open_faults):
            self.close(fid, None, self.last_ns)
        faults = tuple(sorted(self.faults, key=lambda f: (f.start_s, f.start_index)))
        width_s = (1 << self.k) / _BASE_BUCKETS_PER_S
        buckets: list[Bucket] = []
        all_latencies = array("q")
        for key in range(self.bucket_of(self.last_ns) + 1):
            ok, fail, info = self.counts.get(key, (0, 0, 0))
            values = sorted(self.latencies.get(key, ()))
            all_latencies.extend(values)
            p50, p99 = _percentile(values, 0.5), _percentile(values, 0.99)
            buckets.append(Bucket(key * width_s, ok, fail, info, _ms(p50), _ms(p99)))
        drain = None
        if self.drain_start is not None:
            end = None if self.drain_end is None else self.drain_end / NS_PER_S
            drain = Drain(self.drain_start / NS_PER_S, end)
        timeline = Timeline(
            duration_s=self.last_ns / NS_PER_S,
            bucket_s=width_s,
            buckets=tuple(buckets),
            faults=faults,
            faults_total=self.faults_total,
            drain=drain,
            failovers=tuple(self.failovers),
            failovers_total=self.failovers_total,
            nemesis_kinds=tuple(self.kinds),
        )
        return HistorySummary(
            timeline=timeline,
            availability=_availability(
                self.totals, sorted(all_latencies), self.by_side, self.by_node
            ),
            listing=tuple(self.listing),
            cited_total=len(self.cited),
            cited_listed=self.cited_listed,
            ops_total=self.ops_total,
        )


def _hashable(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | None) else repr(value)


def _availability(
    totals: Mapping[bool, Sequence[int]],
    latencies: Sequence[int],
    by_side: Mapping[str, Sequence[int]],
    by_node: Mapping[str, Sequence[int]],
) -> dict[str, Any]:
    during, outside = totals[True], totals[False]
    overall = [a + b for a, b in zip(during, outside, strict=True)]

    def counts(row: Sequence[int]) -> dict[str, int]:
        return dict(zip(OUTCOMES, row, strict=True))

    sides = {side: [0, 0, 0] for side in SIDES} | dict(by_side)
    return {
        "sends": counts(overall),
        "availability": overall[0] / sum(overall) if sum(overall) else 1.0,
        "sends_during_faults": counts(during),
        "availability_during_faults": _ratio(during[0], sum(during)),
        "sends_outside_faults": counts(outside),
        "availability_outside_faults": _ratio(outside[0], sum(outside)),
        "sends_during_partitions_by_side": {side: counts(row) for side, row in sides.items()},
        "sends_during_partitions_by_node": {
            node: counts(row) for node, row in sorted(by_node.items())
        },
        "latency_ms": {
            "p50": _ms(_percentile(latencies, 0.5)),
            "p99": _ms(_percentile(latencies, 0.99)),
        },
    }


def summarize(
    ops: Iterable[Any],
    cited: Mapping[int, Sequence[str]] | None = None,
    *,
    max_buckets: int = MAX_BUCKETS,
    max_cited: int = MAX_CITED_LISTED,
    context: int = CONTEXT_LINES,
) -> HistorySummary:
    """Fold a history into a :class:`HistorySummary` in one pass over ``ops``.

    ``cited`` maps history indexes to the anomaly names citing them; those lines (the first
    ``max_cited`` of them, in file order) are kept with ``context`` lines either side. Lines that
    are not objects, and fields that are missing or of the wrong type, are tolerated: such a line
    counts in ``ops_total`` and plays no other part. Bucket widths are 2^k/1024 s, the smallest
    that keeps fewer than ``max_buckets`` buckets; a send is bucketed by its invoke time.
    """
    fold = _Fold(
        cited={i: tuple(names) for i, names in (cited or {}).items()},
        max_buckets=max(2, max_buckets),
        max_cited=max_cited,
        context=max(0, context),
    )
    for op in ops:
        fold.add(op)
    return fold.finish()


def availability_stats(ops: Iterable[Any]) -> dict[str, Any]:
    """Send outcomes and availability of a history, overall and split by faults.

    Returns exactly::

        {"sends": {"ok": int, "fail": int, "info": int},
         "availability": float,                       # ok / (ok + fail + info); 1.0: no sends
         "sends_during_faults": {"ok", "fail", "info"},
         "availability_during_faults": float | None,  # None: no send during a fault
         "sends_outside_faults": {"ok", "fail", "info"},
         "availability_outside_faults": float | None,
         "sends_during_partitions_by_side": {"minority": {"ok", "fail", "info"},
                                             "majority": {...}, [other sides: {...}]},
         "sends_during_partitions_by_node": {node: {"ok", "fail", "info"}, ...},
         "latency_ms": {"p50": float | None, "p99": float | None}}

    ``fail`` is a send the system refused (it certainly did not take effect), ``info`` one whose
    fate nobody knows (the connection was cut or timed out): the two costs of unavailability are
    kept apart because CP and AP differ in the first and share the second.

    ``availability`` is by construction the figure the checkers write as
    ``stats.availability`` in results.json (:func:`checkers.stats.find_stats`): ok over every send
    attempt, retries counted, an invoke never completed counted as ``info``, 1.0 with no sends.
    It is that one figure, computed again here so a report can fold a history in one pass;
    ``tests/test_cap_split.py`` holds the two equal on generated histories.

    A send made while a partition is in effect (from its invoke to the completion of its heal)
    is counted by the side of the node it went to (the send's ``node``), from the partition's
    ``groups``: see :func:`side_of`; with several partitions in effect, the latest one decides.

    A send is "during faults" when its invoke line comes after a fault's invoke line and before
    the completion of the undo of that fault (heal, restart, resume, clear-latency; a fault never
    undone lasts to the end). A send invoked and never completed counts as ``info``. Latency is
    invoke -> ``ok`` of acknowledged sends (same process), nearest-rank percentiles, in ms.
    """
    return summarize(ops, context=0, max_cited=0).availability


def timeline_data(ops: Iterable[Any], max_buckets: int = MAX_BUCKETS) -> Timeline:
    """The :class:`Timeline` of a history (fault bands, send buckets, drain, failovers)."""
    return summarize(ops, context=0, max_cited=0, max_buckets=max_buckets).timeline


def interval_union(intervals: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """Sorted, disjoint intervals covering the same time as ``intervals``."""
    merged: list[tuple[float, float]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


# --- what the results cite ---------------------------------------------------------------------


def is_index_key(key: str) -> bool:
    """Whether an int under ``key`` in an anomaly example is a history index."""
    key = key.lower()
    return "index" in key or "indices" in key or key in ("line", "lines")


def child_key(parent: str, key: Any) -> str:
    """Under an index key (``"indexes": {"send": 3}``) every nested int is an index too."""
    return parent if is_index_key(parent) else str(key)


def _cited_in(value: Any, key: str, out: set[int]) -> None:
    if isinstance(value, Mapping):
        for sub_key, sub in value.items():
            _cited_in(sub, child_key(key, sub_key), out)
    elif isinstance(value, list | tuple):
        for sub in value:
            _cited_in(sub, key, out)
    elif is_index_key(key) and is_int(value):
        out.add(value)


def cited_indexes(results: Results | Mapping[str, Any]) -> dict[int, tuple[str, ...]]:
    """History indexes the results' examples cite, each with the anomaly names citing it.

    An index is any int under a key containing ``index``/``indices`` (or ``line``/``lines``),
    at any depth of an example.
    """
    cited: dict[int, list[str]] = {}
    judged = Results.of(results)
    for name in judged.anomalies:
        found: set[int] = set()
        for example in judged.examples(name):
            _cited_in(example, "", found)
        for index in found:
            cited.setdefault(index, []).append(str(name))
    return {index: tuple(names) for index, names in sorted(cited.items())}
