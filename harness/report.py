"""The human report of a run: ``report.html``, one self-contained file (inline CSS and SVG, no JS).

Pure core, I/O at the edge:

- :func:`summarize` folds a history (any iterable of operation dicts, consumed once) into a
  :class:`HistorySummary`: fault intervals, time buckets of send outcomes and latencies, the drain,
  client failovers, the availability numbers and the few lines that anomalies cite (with context).
  Memory is bounded by the number of buckets (at most ``MAX_BUCKETS``), the capped listing, and
  8 bytes per acknowledged send (exact latency percentiles); a 10^6-line history is fine.
- :func:`availability_stats` and :func:`timeline_data` are the two halves of that summary.
- :func:`render_report` turns test.json, a summary (or the operations) and results.json into HTML.
  Everything taken from the history or the results is HTML-escaped: a history is untrusted input.
- :func:`write_report` reads a run directory or a bare ``history.jsonl`` and writes the file.

Anomalies are never re-derived here: counts, examples and their words come from results.json.
"""

from __future__ import annotations

import html
import math
import re
import shlex
from array import array
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson

from checkers import ANOMALIES

ANOMALY_NAMES: Final = ANOMALIES
FAULT_UNDO: Final = {
    "partition": "heal",
    "kill": "restart",
    "pause": "resume",
    "latency": "clear-latency",
}
UNDO_FAULT: Final = {undo: fault for fault, undo in FAULT_UNDO.items()}
MAX_BUCKETS: Final = 200
MAX_CITED_LISTED: Final = 300
CONTEXT_LINES: Final = 2
MAX_FAULTS_KEPT: Final = 2000
MAX_FAILOVERS_KEPT: Final = 300
MAX_EXAMPLES_SHOWN: Final = 20
EXAMPLES_OPEN: Final = 3
MAX_VALUE_CHARS: Final = 240

_NS_PER_S: Final = 1_000_000_000
_BASE_BUCKETS_PER_S: Final = 1024  # bucket widths are 2^k / 1024 s: ~1 ms, ..., 0.5 s, 1 s, 2 s
_OUTCOMES: Final = ("ok", "fail", "info")
_EXPLANATION_KEYS: Final = ("explanation", "why", "because", "description", "reason", "summary")


class ReportError(Exception):
    """A run's files cannot be read; the message names the file and says what to do next."""


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


def _int_or(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


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
    return _compact(value, 80)


def _compact(value: Any, limit: int) -> str:
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
    pending: dict[Any, tuple[int, bool]] = field(default_factory=dict)
    totals: dict[bool, list[int]] = field(default_factory=lambda: {True: [0, 0, 0], False: [0] * 3})
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
        return time_ns * _BASE_BUCKETS_PER_S // (_NS_PER_S << self.k)

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
        index = _int_or(op.get("index"), line)
        time_ns = max(_int_or(op.get("time"), self.last_ns), self.last_ns)
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
            self.send(process, kind, time_ns)
        if f in ("send", "deliver"):
            self.track_node(op, index, time_ns)
        self.keep(op, index)

    def send(self, process: Any, kind: Any, time_ns: int) -> None:
        key = _hashable(process)
        if kind == "invoke":
            if key in self.pending:
                self.complete(self.pending.pop(key), "info", time_ns)
            self.pending[key] = (time_ns, bool(self.open_faults))
        elif kind in _OUTCOMES and key in self.pending:
            self.complete(self.pending.pop(key), kind, time_ns)

    def complete(self, invoked: tuple[int, bool], outcome: str, time_ns: int) -> None:
        invoke_ns, in_fault = invoked
        slot = _OUTCOMES.index(outcome)
        bucket = self.bucket_of(invoke_ns)
        self.counts.setdefault(bucket, [0, 0, 0])[slot] += 1
        self.totals[in_fault][slot] += 1
        if outcome == "ok":
            self.latencies.setdefault(bucket, array("q")).append(time_ns - invoke_ns)

    def nemesis(self, op: Mapping[str, Any], index: int, time_ns: int, kind: Any, f: str) -> None:
        value = op.get("value")
        if kind == "invoke":
            if f in UNDO_FAULT:
                self.closing[("undo", f)] = self.matching(UNDO_FAULT[f], _targets(value))
                return
            self.kinds.setdefault(f, None)
            fid = self.next_fault
            self.next_fault += 1
            self.open_faults[fid] = _OpenFault(
                f, fault_label(value), _targets(value), index, time_ns
            )
            self.closing.setdefault(("own", f), []).append(fid)
        elif kind in _OUTCOMES and f in UNDO_FAULT:
            if kind != "fail":
                for fid in self.closing.pop(("undo", f), []):
                    self.close(fid, index, time_ns)
            self.closing.pop(("undo", f), None)
        elif kind in _OUTCOMES:
            for fid in self.closing.pop(("own", f), []):
                if kind == "fail" or f not in FAULT_UNDO:
                    self.close(fid, index, time_ns, failed=kind == "fail")

    def matching(self, fault: str, wanted: frozenset[str]) -> list[int]:
        """Open bands of kind ``fault`` an undo naming ``wanted`` ends (all of them if unnamed)."""
        return [
            fid
            for fid, open_ in self.open_faults.items()
            if open_.kind == fault and (not wanted or not open_.targets or wanted & open_.targets)
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
                    open_.start_ns / _NS_PER_S,
                    index,
                    time_ns / _NS_PER_S,
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
                self.failovers.append(Failover(index, time_ns / _NS_PER_S, user, previous, node))

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
            end = None if self.drain_end is None else self.drain_end / _NS_PER_S
            drain = Drain(self.drain_start / _NS_PER_S, end)
        timeline = Timeline(
            duration_s=self.last_ns / _NS_PER_S,
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
            availability=_availability(self.totals, sorted(all_latencies)),
            listing=tuple(self.listing),
            cited_total=len(self.cited),
            cited_listed=self.cited_listed,
            ops_total=self.ops_total,
        )


def _hashable(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | None) else repr(value)


def _availability(totals: Mapping[bool, Sequence[int]], latencies: Sequence[int]) -> dict[str, Any]:
    during, outside = totals[True], totals[False]
    overall = [a + b for a, b in zip(during, outside, strict=True)]

    def counts(row: Sequence[int]) -> dict[str, int]:
        return dict(zip(_OUTCOMES, row, strict=True))

    return {
        "sends": counts(overall),
        "availability": _ratio(overall[0], sum(overall)),
        "sends_during_faults": counts(during),
        "availability_during_faults": _ratio(during[0], sum(during)),
        "sends_outside_faults": counts(outside),
        "availability_outside_faults": _ratio(outside[0], sum(outside)),
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
         "availability": float | None,                # ok / (ok + fail + info); None: no sends
         "sends_during_faults": {"ok", "fail", "info"},
         "availability_during_faults": float | None,
         "sends_outside_faults": {"ok", "fail", "info"},
         "availability_outside_faults": float | None,
         "latency_ms": {"p50": float | None, "p99": float | None}}

    A send is "during faults" when its invoke line comes after a fault's invoke line and before
    the completion of the undo of that fault (heal, restart, resume, clear-latency; a fault never
    undone lasts to the end). A send invoked and never completed counts as ``info``. Latency is
    invoke -> ``ok`` of acknowledged sends (same process), nearest-rank percentiles, in ms.
    """
    return summarize(ops, context=0, max_cited=0).availability


def timeline_data(ops: Iterable[Any], max_buckets: int = MAX_BUCKETS) -> Timeline:
    """The :class:`Timeline` of a history (fault bands, send buckets, drain, failovers)."""
    return summarize(ops, context=0, max_cited=0, max_buckets=max_buckets).timeline


# --- what the results cite ---------------------------------------------------------------------


def _is_index_key(key: str) -> bool:
    key = key.lower()
    return "index" in key or "indices" in key or key in ("line", "lines")


def _child_key(parent: str, key: Any) -> str:
    """Under an index key (``"indexes": {"send": 3}``) every nested int is an index too."""
    return parent if _is_index_key(parent) else str(key)


def _cited_in(value: Any, key: str, out: set[int]) -> None:
    if isinstance(value, Mapping):
        for sub_key, sub in value.items():
            _cited_in(sub, _child_key(key, sub_key), out)
    elif isinstance(value, list | tuple):
        for sub in value:
            _cited_in(sub, key, out)
    elif _is_index_key(key) and isinstance(value, int) and not isinstance(value, bool):
        out.add(value)


def _examples(results: Mapping[str, Any], name: str) -> list[Any]:
    anomalies = results.get("anomalies")
    found = anomalies.get(name) if isinstance(anomalies, Mapping) else None
    if isinstance(found, list):
        return found
    return [] if found is None else [found]


def cited_indexes(results: Mapping[str, Any]) -> dict[int, tuple[str, ...]]:
    """History indexes the results' examples cite, each with the anomaly names citing it.

    An index is any int under a key containing ``index``/``indices`` (or ``line``/``lines``),
    at any depth of an example.
    """
    cited: dict[int, list[str]] = {}
    anomalies = results.get("anomalies")
    names = list(anomalies) if isinstance(anomalies, Mapping) else []
    for name in names:
        found: set[int] = set()
        for example in _examples(results, name):
            _cited_in(example, "", found)
        for index in found:
            cited.setdefault(index, []).append(str(name))
    return {index: tuple(names) for index, names in sorted(cited.items())}


# --- rendering ---------------------------------------------------------------------------------

_e = html.escape
_OUTCOME_COLOURS: Final = {"ok": "#2e7d32", "fail": "#c62828", "info": "#f9a825"}
_FAULT_COLOURS: Final = {
    "partition": "#7e57c2",
    "kill": "#d84315",
    "pause": "#00838f",
    "latency": "#6d4c41",
}
_OTHER_FAULT_COLOUR: Final = "#546e7a"
_ANOMALY_COLOURS: Final = (
    "#b71c1c",
    "#e65100",
    "#6a1b9a",
    "#1565c0",
    "#00695c",
    "#ad1457",
    "#4e342e",
    "#283593",
    "#827717",
)
_DASH: Final = "\u2013"
_VERDICTS: Final = {
    True: ("valid", "ok"),
    False: ("INVALID", "bad"),
    "unknown": ("unknown", "unknown"),
}
_CSS: Final = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#212121;
background:#fafafa}
main{max-width:1180px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:22px;margin:8px 0}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:16px 0 6px}
.verdict{display:inline-block;padding:2px 10px;border-radius:4px;color:#fff;font-weight:600;
margin-left:8px;vertical-align:middle;font-size:15px}
.verdict.ok{background:#2e7d32}.verdict.bad{background:#c62828}
.verdict.unknown{background:#f9a825;color:#212121}.verdict.none{background:#757575}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;margin:8px 0}
dl.facts dt{color:#616161}dl.facts dd{margin:0}
pre,code{font:12px/1.4 ui-monospace,Menlo,Consolas,monospace}
pre{background:#eceff1;padding:8px;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
table{border-collapse:collapse;margin:6px 0}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#eeeeee}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.nonzero td{background:#ffebee;font-weight:600}
.note{color:#5d4037;background:#fff8e1;border-left:4px solid #f9a825;padding:4px 8px;margin:4px 0}
.example{background:#fff;border:1px solid #e0e0e0;border-radius:4px;padding:6px 10px;margin:6px 0}
.example p.why{margin:2px 0 6px;font-size:14px}
.example dl{display:grid;grid-template-columns:max-content 1fr;gap:0 12px;margin:0;font-size:13px}
.example dt{color:#616161}.example dd{margin:0;word-break:break-all}
span.unlisted{color:#9e9e9e}
svg{background:#fff;border:1px solid #e0e0e0}
svg text{font:11px system-ui,sans-serif;fill:#424242}
.legend span{display:inline-block;margin-right:14px}
.swatch{display:inline-block;width:12px;height:12px;vertical-align:-2px;margin-right:4px}
table.ops{font:12px/1.35 ui-monospace,Menlo,Consolas,monospace;width:100%}
table.ops td{border-color:#eee}table.ops tr.cited td{background:#ffebee}
table.ops tr.gap td{color:#9e9e9e;text-align:center;background:#f5f5f5}
table.ops tr:target td{outline:2px solid #1565c0;background:#e3f2fd}
table.ops td.v{word-break:break-all}
"""


def _fmt_ratio(value: float | None) -> str:
    return _DASH if value is None else f"{100 * value:.1f}%"


def _fmt_ms(value: float | None) -> str:
    return _DASH if value is None else f"{value:.1f} ms"


def _fmt_s(value: float) -> str:
    return f"{value:.3f} s" if value < 10 else f"{value:.1f} s"


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "_", name.lower())


def _anomaly_colour(name: str) -> str:
    if name in ANOMALY_NAMES:
        return _ANOMALY_COLOURS[ANOMALY_NAMES.index(name)]
    return _ANOMALY_COLOURS[sum(map(ord, name)) % len(_ANOMALY_COLOURS)]


def _first(mapping: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if mapping.get(key) not in (None, "", []):
            return mapping[key]
    return None


def _kinds_named(config: Any) -> list[str]:
    """Fault kinds a test.json nemesis entry names, whatever its shape."""
    if isinstance(config, str):
        return [config]
    if isinstance(config, list):
        return [kind for item in config for kind in _kinds_named(item)]
    if isinstance(config, Mapping):
        kind = _first(config, "f", "kind", "type", "fault")
        if isinstance(kind, str):
            return [kind]
        nested = _first(config, "kinds", "faults", "schedule", "ops")
        return _kinds_named(nested) if nested is not None else []
    return []


def _command(test: Mapping[str, Any]) -> tuple[str | None, bool]:
    """The command that reproduces the run, and whether it was rebuilt from config keys."""
    given = _first(test, "command", "argv", "cmd", "reproduce")
    if isinstance(given, str):
        return given, False
    if isinstance(given, list) and all(isinstance(part, str) for part in given):
        return shlex.join(given), False
    flags = [("--seed", "seed"), ("--mode", "mode"), ("--bug", "bug")]
    flags += [("--time-limit", "time_limit"), ("--nodes", "nodes")]
    parts = ["splitbrain", "run"]
    for flag, key in flags:
        value = _setting(test, key)
        if isinstance(value, list):
            value = len(value)
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            parts += [flag, str(value)]
    return (shlex.join(parts), True) if len(parts) > 2 else (None, True)


def _setting(test: Mapping[str, Any], *keys: str) -> Any:
    """A setting from test.json's top level, else from its ``config`` object."""
    found = _first(test, *keys)
    config = test.get("config")
    if found is None and isinstance(config, Mapping):
        found = _first(config, *keys)
    return found


def _seconds(value: Any) -> Any:
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    return f"{value:g} s" if is_number else value


def _availability_words(stats: Mapping[str, Any]) -> str:
    sends, latency = stats["sends"], stats["latency_ms"]
    return (
        f"{_fmt_ratio(stats['availability'])} of {sum(sends.values())} sends ok "
        f"(during faults {_fmt_ratio(stats['availability_during_faults'])}, outside "
        f"{_fmt_ratio(stats['availability_outside_faults'])}); latency p50 "
        f"{_fmt_ms(latency['p50'])}, p99 {_fmt_ms(latency['p99'])}"
    )


def _header(
    test: Mapping[str, Any] | None, summary: HistorySummary, results: Mapping[str, Any], title: str
) -> list[str]:
    test = test or {}
    name = _setting(test, "name", "test", "test_name") or title
    label, css = _VERDICTS.get(results.get("valid"), ("not checked", "none"))  # type: ignore[arg-type]
    nodes = _setting(test, "nodes")
    if isinstance(nodes, list):
        nodes = f"{len(nodes)}: " + ", ".join(map(str, nodes))
    configured = _kinds_named(_setting(test, "nemesis"))
    kinds = dict.fromkeys(configured + list(summary.timeline.nemesis_kinds))
    facts: list[tuple[str, Any]] = [
        ("seed", _setting(test, "seed")),
        ("mode", _setting(test, "mode")),
        ("nodes", nodes),
        ("nemesis", ", ".join(map(str, kinds)) or "none"),
        ("time limit", _seconds(_setting(test, "time_limit", "time-limit", "time_limit_s"))),
        ("bug", _setting(test, "bug") or "none"),
        ("history", f"{summary.ops_total} lines, {_fmt_s(summary.timeline.duration_s)}"),
        ("availability", _availability_words(summary.availability)),
    ]
    out = [f'<h1>{_e(str(name))}<span class="verdict {css}">{_e(label)}</span></h1>']
    out.append('<dl class="facts">')
    for key, value in facts:
        shown = (
            _DASH if value is None else value if isinstance(value, str) else _compact(value, 200)
        )
        out.append(f"<dt>{_e(key)}</dt><dd>{_e(shown)}</dd>")
    out.append("</dl>")
    out.append(
        '<p class="nav"><a href="#anomalies">anomalies</a> · <a href="#timeline">timeline</a> · '
        '<a href="#availability">availability</a> · <a href="#examples">examples</a> · '
        '<a href="#operations">cited operations</a></p>'
    )
    command, rebuilt = _command(test)
    if command:
        hint = " (rebuilt from test.json)" if rebuilt else ""
        out.append(f"<div>reproduce{_e(hint)}:</div><pre>{_e(command)}</pre>")
    if test:
        dump = orjson.dumps(test, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()
        if len(dump) > 20_000:
            dump = dump[:20_000] + "\n… (cut)"
        out.append(f"<details><summary>test.json</summary><pre>{_e(dump)}</pre></details>")
    else:
        out.append('<p class="note">No test.json: the configuration of this run is unknown.</p>')
    return out


def _index_link(value: int, listed: frozenset[int]) -> str:
    if value in listed:
        return f'<a href="#op-{value}">{value}</a>'
    return f'<span class="unlisted" title="not in the listing">{value}</span>'


def _value_html(key: str, value: Any, listed: frozenset[int], depth: int = 0) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and _is_index_key(key):
        return _index_link(value, listed)
    if isinstance(value, str):
        return _e(value if len(value) <= 2000 else value[:2000] + "…")
    if depth < 4 and isinstance(value, list | tuple):
        shown = [_value_html(key, item, listed, depth + 1) for item in value[:60]]
        more = f", … {len(value) - 60} more" if len(value) > 60 else ""
        return "[" + ", ".join(shown) + more + "]"
    if depth < 4 and isinstance(value, Mapping):
        inner = (
            f"{_e(str(k))}: {_value_html(_child_key(key, k), v, listed, depth + 1)}"
            for k, v in value.items()
        )
        return "{" + ", ".join(inner) + "}"
    return _e(_compact(value, MAX_VALUE_CHARS))


def _example_html(example: Any, listed: frozenset[int]) -> str:
    if not isinstance(example, Mapping):
        return f'<div class="example">{_value_html("", example, listed)}</div>'
    words = [
        f'<p class="why">{_e(value)}</p>'
        for key, value in example.items()
        if isinstance(value, str) and str(key).lower() in _EXPLANATION_KEYS
    ]
    rows = [
        f"<dt>{_e(str(key))}</dt><dd>{_value_html(str(key), value, listed)}</dd>"
        for key, value in example.items()
        if not (isinstance(value, str) and str(key).lower() in _EXPLANATION_KEYS)
    ]
    return f'<div class="example">{"".join(words)}<dl>{"".join(rows)}</dl></div>'


def _anomaly_names(results: Mapping[str, Any]) -> list[str]:
    names = dict.fromkeys(ANOMALY_NAMES)
    for key in ("anomaly_counts", "anomalies"):
        found = results.get(key)
        if isinstance(found, Mapping):
            names.update(dict.fromkeys(map(str, found)))
    return list(names)


def _anomaly_table(results: Mapping[str, Any]) -> list[str]:
    counts = results.get("anomaly_counts")
    counts = counts if isinstance(counts, Mapping) else {}
    out = ['<h2 id="anomalies">Anomalies</h2>']
    if not results:
        out.append('<p class="note">No results: this history was not checked.</p>')
    out.append('<table class="anomalies"><tr><th>anomaly</th><th>count</th><th>examples</th></tr>')
    for name in _anomaly_names(results):
        count = counts.get(name)
        examples = _examples(results, name)
        shown = _DASH if count is None else _e(str(count))
        nonzero = ' class="nonzero"' if isinstance(count, int) and count > 0 else ""
        link = f'<a href="#anomaly-{_slug(name)}">{len(examples)}</a>' if examples else "0"
        out.append(
            f'<tr{nonzero}><td>{_e(name)}</td><td class="n">{shown}</td><td>{link}</td></tr>'
        )
    unseen = results.get("unseen")
    if unseen is not None:
        out.append(
            f"<tr><td>unseen <small>(not an anomaly: no completed drain)</small></td>"
            f'<td class="n">{_e(str(unseen))}</td><td></td></tr>'
        )
    out.append("</table>")
    return out


def _anomaly_examples(results: Mapping[str, Any], summary: HistorySummary) -> list[str]:
    counts = results.get("anomaly_counts")
    counts = counts if isinstance(counts, Mapping) else {}
    listed = summary.listed_indexes
    out: list[str] = []
    for name in _anomaly_names(results):
        examples = _examples(results, name)
        if not examples:
            continue
        count = counts.get(name, len(examples))
        colour = _anomaly_colour(name)
        out.append(
            f'<h3 id="anomaly-{_slug(name)}"><span class="swatch" style="background:{colour}">'
            f"</span>{_e(name)} ({_e(str(count))})</h3>"
        )
        shown = [_example_html(ex, listed) for ex in examples[:MAX_EXAMPLES_SHOWN]]
        out += shown[:EXAMPLES_OPEN]
        if len(shown) > EXAMPLES_OPEN:
            out.append(
                f"<details><summary>{len(shown) - EXAMPLES_OPEN} more examples</summary>"
                f"{''.join(shown[EXAMPLES_OPEN:])}</details>"
            )
        if len(examples) > MAX_EXAMPLES_SHOWN:
            left = len(examples) - MAX_EXAMPLES_SHOWN
            out.append(f'<p class="note">{left} more examples in results.json.</p>')
    if out:
        out.insert(0, '<h2 id="examples">Anomaly examples</h2>')
    return out


def _nice_step(span: float, target: int) -> float:
    raw = max(span, 1e-9) / max(target, 1)
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def _union(intervals: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


@dataclass(frozen=True)
class _Frame:
    """The timeline's x scale: seconds to pixels."""

    left: float
    width: float
    duration_s: float

    def x(self, seconds: float) -> float:
        return self.left + self.width * min(max(seconds, 0.0), self.duration_s) / self.duration_s


def _svg_lane_label(y: float, text: str, frame: _Frame) -> str:
    return f'<text x="{frame.left - 6:.0f}" y="{y:.1f}" text-anchor="end">{_e(text)}</text>'


def _svg_faults(timeline: Timeline, frame: _Frame, y: float) -> tuple[list[str], float]:
    out: list[str] = []
    kinds = list(dict.fromkeys(f.kind for f in timeline.faults))
    for kind in kinds:
        colour = _FAULT_COLOURS.get(kind, _OTHER_FAULT_COLOUR)
        out.append(_svg_lane_label(y + 14, kind, frame))
        for fault in (f for f in timeline.faults if f.kind == kind):
            x0, x1 = frame.x(fault.start_s), frame.x(fault.end_s)
            end = f"{fault.end_s:.3f} s" if fault.healed else "end (never undone)"
            tip = f"{kind} {fault.label}: {fault.start_s:.3f} s → {end}, op {fault.start_index}"
            tip += " (failed)" if fault.failed else ""
            dash = ' stroke-dasharray="3 2" stroke="#000"' if not fault.healed else ""
            out.append(
                f'<g><title>{_e(tip)}</title><rect class="fault-band" data-kind="{_e(kind)}" '
                f'x="{x0:.1f}" y="{y:.1f}" width="{max(x1 - x0, 1.5):.1f}" height="20" '
                f'fill="{colour}" fill-opacity="{0.35 if fault.failed else 0.8}"{dash}/>'
            )
            chars = int((x1 - x0 - 6) / 6.2)
            if chars >= 3 and fault.label:
                label = fault.label if len(fault.label) <= chars else fault.label[: chars - 1] + "…"
                out.append(
                    f'<text x="{x0 + 3:.1f}" y="{y + 14:.1f}" style="fill:#fff">{_e(label)}</text>'
                )
            out.append("</g>")
        y += 24
    return out, y


def _svg_drain(timeline: Timeline, frame: _Frame, y: float) -> tuple[list[str], float]:
    drain = timeline.drain
    if drain is None:
        return [], y
    end = drain.end_s if drain.end_s is not None else timeline.duration_s
    x0, x1 = frame.x(drain.start_s), frame.x(end)
    tip = f"drain {drain.start_s:.3f} s → " + (
        f"{drain.end_s:.3f} s" if drain.end_s is not None else "never completed"
    )
    out = [
        _svg_lane_label(y + 12, "drain", frame),
        f'<g><title>{_e(tip)}</title><rect class="drain-band" x="{x0:.1f}" y="{y:.1f}" '
        f'width="{max(x1 - x0, 1.5):.1f}" height="16" fill="#455a64"/></g>',
    ]
    return out, y + 22


def _svg_y_axis(frame: _Frame, top: float, height: float, top_value: float, unit: str) -> list[str]:
    out = []
    for frac in (0.0, 0.5, 1.0):
        yy = top + height - frac * height
        label = f"{top_value * frac:.0f}" if top_value >= 10 else f"{top_value * frac:.2g}"
        out.append(
            f'<line x1="{frame.left:.0f}" x2="{frame.left + frame.width:.0f}" y1="{yy:.1f}" '
            f'y2="{yy:.1f}" stroke="#eee"/>'
            f'<text x="{frame.left - 6:.0f}" y="{yy + 4:.1f}" text-anchor="end">{label}</text>'
        )
    out.append(
        f'<text x="{frame.left:.0f}" y="{top - 5:.1f}" style="fill:#757575">{_e(unit)}</text>'
    )
    return out


def _svg_shade(shade: Sequence[tuple[float, float]], frame: _Frame, top: float, h: float) -> str:
    return "".join(
        f'<rect class="fault-shade" x="{frame.x(a):.1f}" y="{top:.1f}" '
        f'width="{max(frame.x(b) - frame.x(a), 1):.1f}" height="{h:.1f}" fill="#7e57c2" '
        f'fill-opacity="0.10"/>'
        for a, b in shade
    )


def _svg_sends(timeline: Timeline, frame: _Frame, y: float, shade: Any) -> tuple[list[str], float]:
    height, y = 150.0, y + 14
    peak = max((b.ok + b.fail + b.info for b in timeline.buckets), default=0) or 1
    out = [_svg_shade(shade, frame, y, height)]
    out += _svg_y_axis(frame, y, height, peak, f"sends per {timeline.bucket_s:g} s (by invoke)")
    for bucket in timeline.buckets:
        x0 = frame.x(bucket.start_s)
        width = max(frame.x(bucket.start_s + timeline.bucket_s) - x0 - 0.6, 0.6)
        base = y + height
        tip = f"{bucket.start_s:g} s: ok {bucket.ok}, fail {bucket.fail}, info {bucket.info}"
        parts = []
        for outcome, count in (("ok", bucket.ok), ("fail", bucket.fail), ("info", bucket.info)):
            if count:
                h = height * count / peak
                base -= h
                parts.append(
                    f'<rect x="{x0:.1f}" y="{base:.1f}" width="{width:.1f}" height="{h:.1f}" '
                    f'fill="{_OUTCOME_COLOURS[outcome]}"/>'
                )
        if parts:
            out.append(f"<g><title>{_e(tip)}</title>{''.join(parts)}</g>")
    return out, y + height + 10


def _svg_latency(
    timeline: Timeline, frame: _Frame, y: float, shade: Any
) -> tuple[list[str], float]:
    height, y = 110.0, y + 14
    peak = max((b.p99_ms or 0.0 for b in timeline.buckets), default=0.0) or 1.0
    out = [_svg_shade(shade, frame, y, height)]
    out += _svg_y_axis(frame, y, height, peak, "latency of ok sends, ms (p50, p99)")
    for attr, colour in (("p50_ms", "#1565c0"), ("p99_ms", "#8e24aa")):
        path, pen_down = [], False
        for bucket in timeline.buckets:
            value = getattr(bucket, attr)
            if value is None:
                pen_down = False
                continue
            xx = frame.x(bucket.start_s + timeline.bucket_s / 2)
            yy = y + height - height * value / peak
            path.append(f"{'L' if pen_down else 'M'}{xx:.1f} {yy:.1f}")
            pen_down = True
        if path:
            out.append(
                f'<path class="latency-{attr[:3]}" d="{" ".join(path)}" fill="none" '
                f'stroke="{colour}" stroke-width="1.5"/>'
            )
    return out, y + height + 10


def _svg_markers(summary: HistorySummary, frame: _Frame, y: float) -> tuple[list[str], float]:
    out = [_svg_lane_label(y + 13, "anomalies", frame)]
    for item in summary.listing:
        if not item.cited_by:
            continue
        seconds = _int_or(item.op.get("time"), 0) / _NS_PER_S
        xx = frame.x(seconds)
        colour = _anomaly_colour(item.cited_by[0])
        tip = f"op {item.index} at {seconds:.3f} s: " + ", ".join(item.cited_by)
        out.append(
            f'<a class="anomaly-marker" href="#op-{item.index}"><title>{_e(tip)}</title>'
            f'<rect x="{xx - 1.5:.1f}" y="{y:.1f}" width="3" height="18" fill="{colour}"/></a>'
        )
    return out, y + 24


def _svg_failovers(timeline: Timeline, frame: _Frame, y: float) -> tuple[list[str], float]:
    if not timeline.failovers:
        return [], y
    out = [_svg_lane_label(y + 11, "failovers", frame)]
    for move in timeline.failovers:
        xx = frame.x(move.time_s)
        tip = f"{move.user}: {move.from_node} → {move.to_node} at {move.time_s:.3f} s"
        tip += f" (op {move.index})"
        out.append(
            f'<g><title>{_e(tip)}</title><line x1="{xx:.1f}" x2="{xx:.1f}" y1="{y:.1f}" '
            f'y2="{y + 14:.1f}" stroke="#37474f" stroke-width="1"/></g>'
        )
    return out, y + 20


def _svg_x_axis(timeline: Timeline, frame: _Frame, y: float) -> tuple[list[str], float]:
    step = _nice_step(frame.duration_s, 10)
    out = [
        f'<line x1="{frame.left:.0f}" x2="{frame.left + frame.width:.0f}" y1="{y:.1f}" '
        f'y2="{y:.1f}" stroke="#9e9e9e"/>'
    ]
    ticks = int(frame.duration_s / step) + 1
    for i in range(ticks):
        xx = frame.x(i * step)
        out.append(
            f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{y:.1f}" y2="{y + 4:.1f}" stroke="#9e9e9e"/>'
            f'<text x="{xx:.1f}" y="{y + 16:.1f}" text-anchor="middle">{i * step:g}</text>'
        )
    out.append(
        f'<text x="{frame.left + frame.width:.0f}" y="{y + 30:.1f}" text-anchor="end">'
        "seconds since the run began</text>"
    )
    return out, y + 36


def timeline_svg(summary: HistorySummary) -> str:
    """The timeline as one inline ``<svg>``: fault bands (class ``fault-band``, one per fault),
    drain, send outcomes and latency per bucket, anomaly markers linking to ``#op-<index>``."""
    timeline = summary.timeline
    frame = _Frame(left=78.0, width=1000.0, duration_s=max(timeline.duration_s, 1e-3))
    shade = _union((f.start_s, f.end_s) for f in timeline.faults)
    parts: list[str] = []
    y = 8.0
    for lane in (_svg_faults, _svg_drain):
        drawn, y = lane(timeline, frame, y)
        parts += drawn
    y += 4
    for chart in (_svg_sends, _svg_latency):
        drawn, y = chart(timeline, frame, y, shade)
        parts += drawn
    drawn, y = _svg_markers(summary, frame, y)
    parts += drawn
    for lane in (_svg_failovers, _svg_x_axis):
        drawn, y = lane(timeline, frame, y)
        parts += drawn
    width = frame.left + frame.width + 20
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{y:.0f}" '
        f'viewBox="0 0 {width:.0f} {y:.0f}" role="img" aria-label="timeline">'
        + "".join(parts)
        + "</svg>"
    )


def _legend(timeline: Timeline) -> str:
    items = [("send ok", _OUTCOME_COLOURS["ok"]), ("send fail", _OUTCOME_COLOURS["fail"])]
    items += [("send info", _OUTCOME_COLOURS["info"]), ("p50", "#1565c0"), ("p99", "#8e24aa")]
    items += [
        (kind, _FAULT_COLOURS.get(kind, _OTHER_FAULT_COLOUR)) for kind in timeline.nemesis_kinds
    ]
    spans = "".join(
        f'<span><span class="swatch" style="background:{c}"></span>{_e(t)}</span>' for t, c in items
    )
    return (
        f'<p class="legend">{spans}<span>shaded: some fault active; dashed band: never undone; '
        "click an anomaly marker to jump to its line</span></p>"
    )


def _timeline(summary: HistorySummary) -> list[str]:
    timeline = summary.timeline
    out = ['<h2 id="timeline">Timeline</h2>', timeline_svg(summary), _legend(timeline)]
    if timeline.faults_total > len(timeline.faults):
        left = timeline.faults_total - len(timeline.faults)
        out.append(f'<p class="note">{left} later faults are not drawn.</p>')
    rows = [
        f"<tr><td>{_e(f.kind)}</td><td>{_e(f.label)}</td><td class='n'>{f.start_s:.3f}</td>"
        f"<td class='n'>{f.end_s:.3f}{'' if f.healed else ' (never undone)'}"
        f"{' (failed)' if f.failed else ''}</td>"
        f"<td class='n'>{f.end_s - f.start_s:.3f}</td>"
        f"<td class='n'>{f.start_index}</td>"
        f"<td class='n'>{f.end_index if f.healed else _DASH}</td></tr>"
        for f in timeline.faults[:500]
    ]
    out.append(
        f"<details><summary>faults ({timeline.faults_total})</summary><table><tr><th>fault</th>"
        "<th>targets</th><th>start s</th><th>end s</th><th>duration s</th><th>start op</th>"
        f"<th>end op</th></tr>{''.join(rows)}</table></details>"
    )
    moves = [
        f"<tr><td class='n'>{m.time_s:.3f}</td><td>{_e(m.user)}</td><td>{_e(m.from_node)}</td>"
        f"<td>{_e(m.to_node)}</td><td class='n'>{m.index}</td></tr>"
        for m in timeline.failovers
    ]
    more = timeline.failovers_total - len(timeline.failovers)
    out.append(
        f"<details><summary>client failovers ({timeline.failovers_total})</summary>"
        "<table><tr><th>time s</th><th>user</th><th>from</th><th>to</th><th>op</th></tr>"
        f"{''.join(moves)}</table>{f'<p>{more} more not shown.</p>' if more > 0 else ''}</details>"
    )
    return out


def _availability_section(summary: HistorySummary) -> list[str]:
    stats = summary.availability
    timeline = summary.timeline
    in_faults = sum(b - a for a, b in _union((f.start_s, f.end_s) for f in timeline.faults))
    share = in_faults / timeline.duration_s if timeline.duration_s else 0.0
    rows = []
    for label, counts_key, ratio_key in (
        ("overall", "sends", "availability"),
        ("during faults", "sends_during_faults", "availability_during_faults"),
        ("outside faults", "sends_outside_faults", "availability_outside_faults"),
    ):
        counts = stats[counts_key]
        cells = "".join(f'<td class="n">{counts[o]}</td>' for o in _OUTCOMES)
        rows.append(
            f'<tr class="avail-{_slug(label).replace("_", "-")}"><td>{label}</td>{cells}'
            f'<td class="n">{_fmt_ratio(stats[ratio_key])}</td></tr>'
        )
    latency = stats["latency_ms"]
    return [
        '<h2 id="availability">Availability</h2>',
        '<table class="availability"><tr><th>sends</th><th>ok</th><th>fail</th><th>info</th>'
        f"<th>availability (ok / all)</th></tr>{''.join(rows)}</table>",
        f"<p>Latency of ok sends (invoke → ok): p50 {_fmt_ms(latency['p50'])}, "
        f"p99 {_fmt_ms(latency['p99'])}. Faults were active {_fmt_s(in_faults)} of "
        f"{_fmt_s(timeline.duration_s)} ({100 * share:.0f}%). A send is during a fault when its "
        "invoke falls inside a fault band; a send never completed counts as info.</p>",
    ]


def _op_row(item: ListedOp) -> str:
    op = item.op
    seconds = _int_or(op.get("time"), 0) / _NS_PER_S
    cells = [
        str(item.index),
        f"{seconds:.6f}",
        _e(_compact(op.get("process"), 40)),
        _e(str(op.get("type", ""))[:20]),
        _e(str(op.get("f", ""))[:40]),
        _e(str(op.get("node", ""))[:40]),
    ]
    value = _e(_compact(op.get("value"), MAX_VALUE_CHARS))
    error = _e(_compact(op["error"], MAX_VALUE_CHARS)) if "error" in op else ""
    cited = _e(", ".join(item.cited_by))
    css = ' class="cited"' if item.cited_by else ""
    tds = "".join(f"<td>{c}</td>" for c in cells)
    return (
        f'<tr id="op-{item.index}"{css}>{tds}<td class="v">{value}</td>'
        f"<td>{error}</td><td>{cited}</td></tr>"
    )


def _listing(summary: HistorySummary) -> list[str]:
    out = ['<h2 id="operations">Cited operations</h2>']
    if not summary.listing:
        out.append("<p>No line is cited.</p>")
        return out
    out.append(
        f"<p>The lines anomalies cite, with {CONTEXT_LINES} lines of context either side; "
        f"{summary.ops_total} lines in the history.</p>"
    )
    left = summary.cited_total - summary.cited_listed
    if left > 0:
        out.append(
            f'<p class="note">{left} cited lines are not listed (the listing stops after '
            f"{summary.cited_listed}); see history.jsonl.</p>"
        )
    out.append(
        '<table class="ops"><tr><th>index</th><th>time s</th><th>process</th><th>type</th>'
        "<th>f</th><th>node</th><th>value</th><th>error</th><th>cited by</th></tr>"
    )
    previous: int | None = None
    for item in summary.listing:
        if previous is not None and item.index > previous + 1:
            out.append(
                f'<tr class="gap"><td colspan="9">… {item.index - previous - 1} lines</td></tr>'
            )
        out.append(_op_row(item))
        previous = item.index
    out.append("</table>")
    return out


def render_report(
    test: Mapping[str, Any] | None,
    history: HistorySummary | Iterable[Any],
    results: Mapping[str, Any] | None,
    *,
    title: str = "splitbrain run",
    notes: Sequence[str] = (),
) -> str:
    """The whole report as one HTML document (inline CSS and SVG, no script, no fetch).

    ``history`` is a :func:`summarize` result, or the operations themselves (summarized here,
    keeping the lines ``results`` cites). ``test`` (test.json) and ``results`` (results.json) may be
    ``None`` or incomplete; ``title`` names the run when test.json gives no name; ``notes`` are
    shown near the top (e.g. a truncated last line). Every line the results cite that is listed
    has an element with id ``op-<index>``.
    """
    results = results or {}
    summary = (
        history
        if isinstance(history, HistorySummary)
        else summarize(history, cited_indexes(results))
    )
    body = _header(test, summary, results, title)
    body += [f'<p class="note">{_e(note)}</p>' for note in notes]
    body += _anomaly_table(results)
    body += _timeline(summary)
    body += _availability_section(summary)
    body += _anomaly_examples(results, summary)
    body += _listing(summary)
    name = _setting(test or {}, "name", "test", "test_name") or title
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(str(name))}: splitbrain report</title><style>{_CSS}</style></head>"
        f"<body><main>{''.join(body)}</main></body></html>\n"
    )


# --- reading a run (the I/O edge) --------------------------------------------------------------


class HistoryLines:
    """Iterates the operations of a ``history.jsonl`` file, one parsed line at a time.

    A last line that is not valid JSON (a run killed mid-write) is skipped and described in
    ``truncated``; a bad line followed by more lines raises :class:`ReportError` naming the file
    and the line. Blank lines are skipped. Operations are yielded as parsed, unknown fields kept.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.truncated: str | None = None

    def __iter__(self) -> Iterator[Any]:
        bad: tuple[int, str] | None = None
        try:
            with self.path.open("rb") as lines:
                for number, raw in enumerate(lines, start=1):
                    if not raw.strip():
                        continue
                    if bad is not None:
                        raise ReportError(
                            f"{self.path}: line {bad[0]} is not a JSON object ({bad[1]}); "
                            "fix or remove that line, then run `splitbrain report` again"
                        )
                    try:
                        op = orjson.loads(raw)
                    except orjson.JSONDecodeError as exc:
                        bad = (number, str(exc))
                        continue
                    if not isinstance(op, dict):
                        bad = (number, f"found {type(op).__name__}")
                        continue
                    yield op
        except OSError as exc:
            raise ReportError(
                f"{self.path}: cannot read the history ({exc.strerror or exc}); "
                "give a run directory or a history.jsonl file"
            ) from exc
        if bad is not None:
            self.truncated = (
                f"The last line of the history (line {bad[0]}) is cut off or not JSON and was "
                "ignored: the run probably stopped while writing it."
            )


@dataclass(frozen=True)
class RunFiles:
    """Where the parts of one run are; ``test`` and ``results`` may not exist."""

    history: Path
    test: Path | None
    results: Path | None
    report: Path
    title: str


def _in_folder(history: Path, folder: Path) -> RunFiles:
    resolved = folder.resolve()
    return RunFiles(
        history=history,
        test=folder / "test.json",
        results=folder / "results.json",
        report=folder / "report.html",
        title=f"{resolved.parent.name}/{resolved.name}",
    )


def locate_run(path: Path) -> RunFiles:
    """The files of a run directory, or of a bare history file (siblings only if it is named
    ``history.jsonl``). Raises :class:`ReportError` when there is no history to read."""
    if path.is_dir():
        history = path / "history.jsonl"
        if not history.is_file():
            raise ReportError(
                f"{path}: no history.jsonl in this directory; give a run directory "
                "(histories/<test>/<time>/) or a history.jsonl file"
            )
        title = f"{path.resolve().parent.name}/{path.resolve().name}"
        return RunFiles(
            history, path / "test.json", path / "results.json", path / "report.html", title
        )
    if not path.is_file():
        raise ReportError(f"{path}: no such file or directory; give a run directory or a history")
    if path.name == "history.jsonl":
        folder = path.parent
        title = f"{folder.resolve().parent.name}/{folder.resolve().name}"
        return RunFiles(
            path, folder / "test.json", folder / "results.json", folder / "report.html", title
        )
    return RunFiles(path, None, None, path.with_suffix(".html"), path.stem)


def _read_json(path: Path | None, what: str) -> dict[str, Any] | None:
    if path is None or not path.is_file():
        return None
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ReportError(
            f"{path}: cannot read {what} ({exc}); fix or delete the file and run again"
        ) from exc
    if not isinstance(data, dict):
        raise ReportError(f"{path}: {what} is not a JSON object; fix or delete the file")
    return data


def _complete_lines(path: Path) -> Iterator[bytes]:
    """The raw lines of a history, without a last line that is not JSON (cut off mid-write)."""
    with path.open("rb") as lines:
        held: bytes | None = None
        for raw in lines:
            if held is not None:
                yield held
            held = raw
    if held is None:
        return
    try:
        orjson.loads(held)
    except orjson.JSONDecodeError:
        return
    yield held


def _check(history: Path) -> dict[str, Any]:
    """Results computed by the checkers, for a history that has no results.json beside it.

    A cut-off last line is left out, as the report leaves it out; any other problem the checkers
    find in the history is a :class:`ReportError` carrying their message.
    """
    try:
        import checkers
        import checkers.history
    except ImportError as exc:
        raise ReportError(
            f"{history}: no results.json beside it and the checkers are not installed; "
            "run `splitbrain check` on it first"
        ) from exc
    check_history = getattr(checkers, "check_history", None)
    parse_history = getattr(checkers.history, "parse_history", None)
    load_history = getattr(checkers.history, "load_history", None)
    if check_history is None or (parse_history is None and load_history is None):
        raise ReportError(
            f"{history}: no results.json beside it and this version of the checkers cannot "
            "check it; run `splitbrain check` on it first"
        )
    unreadable = (OSError, ValueError, getattr(checkers.history, "HistoryError", OSError))
    try:
        if parse_history is not None:
            loaded = parse_history(_complete_lines(history), str(history))
        else:
            loaded = load_history(history)
        return dict(check_history(loaded))
    except unreadable as exc:
        raise ReportError(f"{history}: the checkers cannot read this history: {exc}") from exc


def write_report(run: Path | str, out: Path | str | None = None) -> Path:
    """Read a run (directory or history file) and write its report; returns the path written.

    The report goes to ``out``, else beside the history (``report.html`` in a run directory,
    ``<name>.html`` for another history file). results.json is used when present, else the
    checkers compute the results (nothing is written but the report). Raises
    :class:`ReportError` with the file and what to do next when an input cannot be read.
    """
    files = locate_run(Path(run))
    test = _read_json(files.test, "test.json")
    results = _read_json(files.results, "results.json")
    if results is None:
        results = _check(files.history)
    lines = HistoryLines(files.history)
    summary = summarize(lines, cited_indexes(results))
    notes = [lines.truncated] if lines.truncated else []
    document = render_report(test, summary, results, title=files.title, notes=notes)
    target = Path(out) if out is not None else files.report
    try:
        target.write_text(document, encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"{target}: cannot write the report ({exc.strerror or exc})") from exc
    return target
