"""The comparison page: several runs side by side in one self-contained HTML file.

For a design review: the figures of :func:`harness.present.comparison.comparison_rows` in one
table, the one-line reading of the trade-off, then one column per run with its send outcomes split
into ok, refused and indeterminate (during and outside faults, per partition side) and its
timeline.
Pure: run records in, HTML out; inline CSS and SVG, no script and nothing fetched. Everything
taken from a run (labels, paths, node names, the history) is HTML-escaped. An anomaly marker in
a timeline links to that run's own ``report.html`` when the run has a directory.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from harness.present.comparison import RunRecord, comparison_rows, tradeoff_reading
from harness.present.history_summary import OUTCOMES, HistorySummary
from harness.present.timeline_svg import legend, timeline_svg

_e = html.escape
_CSS: Final = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#212121;
background:#fafafa}
main{margin:0 auto;padding:16px 24px 48px}
h1{font-size:22px;margin:8px 0}h2{font-size:17px;margin:20px 0 8px}
p.reading{background:#e3f2fd;border-left:4px solid #1565c0;padding:6px 10px}
table{border-collapse:collapse;margin:6px 0}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#eee}td.n{text-align:right;font-variant-numeric:tabular-nums}
.runs{display:grid;gap:16px;align-items:start}
section.run{background:#fff;border:1px solid #e0e0e0;border-radius:4px;padding:8px 12px;
min-width:0}
.verdict{display:inline-block;padding:1px 8px;border-radius:4px;color:#fff;font-weight:600}
.verdict.ok{background:#2e7d32}.verdict.bad{background:#c62828}
.verdict.unknown{background:#f9a825;color:#212121}
svg{background:#fff;border:1px solid #e0e0e0;max-width:100%;height:auto}
svg text{font:11px system-ui,sans-serif;fill:#424242}
.legend span{display:inline-block;margin-right:10px;font-size:12px}
.swatch{display:inline-block;width:12px;height:12px;vertical-align:-2px;margin-right:4px}
"""
_VERDICTS: Final = {
    True: ("valid", "ok"),
    False: ("INVALID", "bad"),
    "unknown": ("unknown", "unknown"),
}
_WORDS: Final = {"ok": "ok", "fail": "refused", "info": "indeterminate"}


def _counts_row(name: str, counts: Any) -> str:
    counts = counts if isinstance(counts, Mapping) else {}
    cells = "".join(f"<td class='n'>{_e(str(counts.get(o, 0)))}</td>" for o in OUTCOMES)
    return f"<tr><th>{_e(name)}</th>{cells}</tr>"


def _split_table(figures: Mapping[str, Any]) -> str:
    rows = [
        _counts_row("all sends", figures.get("sends")),
        _counts_row("during faults", figures.get("sends_during_faults")),
        _counts_row("outside faults", figures.get("sends_outside_faults")),
    ]
    for label, key in (
        ("side", "sends_during_partitions_by_side"),
        ("node", "sends_during_partitions_by_node"),
    ):
        groups = figures.get(key)
        if isinstance(groups, Mapping):
            rows += [
                _counts_row(f"partitioned: {label} {name}", counts)
                for name, counts in groups.items()
            ]
    head = "".join(f"<th>{_WORDS[o]}</th>" for o in OUTCOMES)
    return f"<table class='split'><tr><th>sends</th>{head}</tr>{''.join(rows)}</table>"


def _timeline(summary: HistorySummary | None, folder: str | None) -> str:
    if summary is None:
        return "<p>no timeline (the history could not be folded)</p>"
    svg = timeline_svg(summary)
    report = _e((Path(folder) / "report.html").resolve().as_uri()) if folder else ""
    svg = svg.replace('href="#op-', f'href="{report}#op-')
    return svg + legend(summary.timeline)


def _column(index: int, run: RunRecord) -> str:
    words, css = _VERDICTS.get(run.judged.valid, ("?", "unknown"))  # type: ignore[arg-type]
    system = run.run.system
    about = f"<p class='system'>{_e(system.words())}</p>" if system else ""
    where = about + (f"<p><code>{_e(run.folder)}</code></p>" if run.folder else "")
    return (
        f'<section class="run" id="run-{index}" data-label="{_e(run.label)}">'
        f"<h2>{_e(run.label)} <span class='verdict {css}'>{_e(words)}</span></h2>{where}"
        f"{_split_table(run.figures)}{_timeline(run.summary, run.folder)}</section>"
    )


def comparison_html(runs: Sequence[RunRecord], title: str = "splitbrain comparison") -> str:
    """The whole page for ``runs`` (each with its ``summary`` for the timeline), one column each."""
    rows = comparison_rows(runs)
    head = "".join(f"<th>{_e(r.label)}</th>" for r in runs)
    body = "".join(
        f"<tr><th>{_e(name.strip())}</th>"
        + "".join(f"<td class='n'>{_e(cell)}</td>" for cell in cells)
        + "</tr>"
        for name, cells in rows
    )
    columns = "".join(_column(i, run) for i, run in enumerate(runs))
    grid = f"grid-template-columns:repeat({max(1, len(runs))},minmax(0,1fr))"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>"
        f"<h1>{_e(title)}</h1>"
        f'<p class="reading">{_e(tradeoff_reading(runs))}</p>'
        f'<table class="figures"><tr><th></th>{head}</tr>{body}</table>'
        f'<div class="runs" style="{grid}">{columns}</div>'
        "</main></body></html>\n"
    )
