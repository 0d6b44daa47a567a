"""The timeline of a run as one inline SVG, drawn from a :class:`HistorySummary`: pure, no I/O.

- :func:`timeline_svg` draws, on a shared time axis: one band per fault (class ``fault-band``),
  the drain, send outcomes and latency (p50, p99) per bucket with fault time shaded, anomaly
  markers linking to ``#op-<index>``, client failovers and the seconds axis.
- :func:`legend` is the HTML legend for those colours; :func:`anomaly_colour` gives each anomaly
  its colour, so the page can use the same swatches.

A caller may rely on: the output is a self-contained ``<svg>`` element (no script, no external
reference) and every text taken from the history is HTML-escaped, since a history is untrusted.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from checkers import ANOMALIES
from harness.present.history_summary import (
    NS_PER_S,
    HistorySummary,
    Timeline,
    int_or,
    interval_union,
)
from nemesis import faults

_e = html.escape
_OUTCOME_COLOURS: Final = {"ok": "#2e7d32", "fail": "#c62828", "info": "#f9a825"}
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
    "#37474f",
)


def anomaly_colour(name: str) -> str:
    """The colour of an anomaly's markers and swatches: fixed per name."""
    if name in ANOMALIES:
        return _ANOMALY_COLOURS[ANOMALIES.index(name)]
    return _ANOMALY_COLOURS[sum(map(ord, name)) % len(_ANOMALY_COLOURS)]


def _nice_step(span: float, target: int) -> float:
    raw = max(span, 1e-9) / max(target, 1)
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


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
        colour = faults.colour(kind)
        out.append(_svg_lane_label(y + 14, faults.label(kind), frame))
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
        seconds = int_or(item.op.get("time"), 0) / NS_PER_S
        xx = frame.x(seconds)
        colour = anomaly_colour(item.cited_by[0])
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
    shade = interval_union((f.start_s, f.end_s) for f in timeline.faults)
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


def legend(timeline: Timeline) -> str:
    """The HTML ``<p class="legend">`` naming the colours of :func:`timeline_svg`."""
    items = [("send ok", _OUTCOME_COLOURS["ok"]), ("send fail", _OUTCOME_COLOURS["fail"])]
    items += [("send info", _OUTCOME_COLOURS["info"]), ("p50", "#1565c0"), ("p99", "#8e24aa")]
    items += [(faults.label(kind), faults.colour(kind)) for kind in timeline.nemesis_kinds]
    spans = "".join(
        f'<span><span class="swatch" style="background:{c}"></span>{_e(t)}</span>' for t, c in items
    )
    return (
        f'<p class="legend">{spans}<span>shaded: some fault active; dashed band: never undone; '
        "click an anomaly marker to jump to its line</span></p>"
    )
