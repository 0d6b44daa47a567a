"""The human report of a run: ``report.html``, one self-contained file (inline CSS and SVG, no JS).

This module makes the page and does the report's I/O; the fold of the history is
:mod:`harness.present.history_summary` and the timeline drawing is
:mod:`harness.present.timeline_svg`.

- :func:`render_report` turns test.json, a summary (or the operations) and results.json into HTML.
  Everything taken from the history or the results is HTML-escaped: a history is untrusted input.
- :func:`write_report` reads a run (found by :mod:`harness.stored_run`) and writes the file;
  :class:`HistoryLines` reads its history. Every input that cannot be read is a
  :class:`ReportError` naming the file and what to do next.

Anomalies are never re-derived here: counts, examples and their words (each example's ``why``)
come from the results; what the run was comes from test.json through
:class:`harness.run_description.RunDescription`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import orjson

from checkers import (
    HistoryError,
    check_history,
    judge,
    kinds_of,
    parse_history,
    read_history,
)
from harness.present.history_summary import (
    CONTEXT_LINES,
    NS_PER_S,
    OUTCOMES,
    HistorySummary,
    ListedOp,
    child_key,
    cited_indexes,
    compact,
    interval_union,
    is_index_key,
    summarize,
)
from harness.present.timeline_svg import anomaly_colour, legend, timeline_svg
from harness.results import Results
from harness.run_description import RunDescription
from harness.stored_run import RunUnreadable, locate
from splitbrain.errors import SplitbrainError
from splitbrain.numbers import int_or, is_int
from systems.seam import show_value

MAX_EXAMPLES_SHOWN: Final = 20
EXAMPLES_OPEN: Final = 3
MAX_VALUE_CHARS: Final = 240


class ReportError(SplitbrainError):
    """A run's files cannot be read; the message names the file and says what to do next."""


# --- the page -------------------------------------------------------------------------------------

_e = html.escape
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


def _availability_words(stats: Mapping[str, Any]) -> str:
    sends, latency = stats["sends"], stats["latency_ms"]
    return (
        f"{_fmt_ratio(stats['availability'])} of {sum(sends.values())} sends ok "
        f"(during faults {_fmt_ratio(stats['availability_during_faults'])}, outside "
        f"{_fmt_ratio(stats['availability_outside_faults'])}); latency p50 "
        f"{_fmt_ms(latency['p50'])}, p99 {_fmt_ms(latency['p99'])}"
    )


def _system_facts(run: RunDescription, results: Results) -> list[tuple[str, Any]]:
    """The system, its version and every option that differs from its default."""
    system = run.system or results.system
    if system is None:
        return [("system", None)]
    changed = ", ".join(f"{k}={show_value(v)}" for k, v in system.options.items())
    return [
        ("system", f"{system.name} {system.version}"),
        ("options", changed or "defaults"),
    ]


def _header(
    test: Mapping[str, Any] | None, summary: HistorySummary, results: Results, title: str
) -> list[str]:
    test = test or {}
    run = RunDescription.from_json(test)
    name = run.name or title
    label, css = _VERDICTS.get(results.valid, ("not checked", "none"))  # type: ignore[arg-type]
    nodes = f"{len(run.nodes)}: " + ", ".join(run.nodes) if run.nodes else None
    kinds = dict.fromkeys([*run.nemesis, *summary.timeline.nemesis_kinds])
    limit = None if run.time_limit is None else f"{run.time_limit:g} s"
    facts: list[tuple[str, Any]] = [
        *_system_facts(run, results),
        ("seed", run.seed),
        ("nodes", nodes),
        ("nemesis", ", ".join(kinds) or "none"),
        ("time limit", limit),
        ("history", f"{summary.ops_total} lines, {_fmt_s(summary.timeline.duration_s)}"),
        ("availability", _availability_words(summary.availability)),
    ]
    out = [f'<h1>{_e(str(name))}<span class="verdict {css}">{_e(label)}</span></h1>']
    out.append('<dl class="facts">')
    for key, value in facts:
        shown = _DASH if value is None else value if isinstance(value, str) else compact(value, 200)
        out.append(f"<dt>{_e(key)}</dt><dd>{_e(shown)}</dd>")
    out.append("</dl>")
    out.append(
        '<p class="nav"><a href="#anomalies">anomalies</a> · <a href="#timeline">timeline</a> · '
        '<a href="#availability">availability</a> · <a href="#examples">examples</a> · '
        '<a href="#operations">cited operations</a></p>'
    )
    if run.command:
        out.append(f"<div>reproduce:</div><pre>{_e(run.command)}</pre>")
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
    if is_int(value) and is_index_key(key):
        return _index_link(value, listed)
    if isinstance(value, str):
        return _e(value if len(value) <= 2000 else value[:2000] + "…")
    if depth < 4 and isinstance(value, list | tuple):
        shown = [_value_html(key, item, listed, depth + 1) for item in value[:60]]
        more = f", … {len(value) - 60} more" if len(value) > 60 else ""
        return "[" + ", ".join(shown) + more + "]"
    if depth < 4 and isinstance(value, Mapping):
        inner = (
            f"{_e(str(k))}: {_value_html(child_key(key, k), v, listed, depth + 1)}"
            for k, v in value.items()
        )
        return "{" + ", ".join(inner) + "}"
    return _e(compact(value, MAX_VALUE_CHARS))


def _example_html(example: Any, listed: frozenset[int]) -> str:
    """One example: its ``why`` (the checkers' one sentence) as words, every other key a row."""
    if not isinstance(example, Mapping):
        return f'<div class="example">{_value_html("", example, listed)}</div>'
    why = example.get("why")
    words = [f'<p class="why">{_e(why)}</p>'] if isinstance(why, str) else []
    rows = [
        f"<dt>{_e(str(key))}</dt><dd>{_value_html(str(key), value, listed)}</dd>"
        for key, value in example.items()
        if not (key == "why" and isinstance(value, str))
    ]
    return f'<div class="example">{"".join(words)}<dl>{"".join(rows)}</dl></div>'


def _anomaly_names(results: Results) -> list[str]:
    """What the checkers check (all of them, also for a history not checked: Jepsen's queue
    kinds for a queue history), then any other anomaly the results name (run-level findings)."""
    return list(dict.fromkeys([*kinds_of(results), *results.anomaly_names()]))


def _anomaly_table(results: Results) -> list[str]:
    counts = results.anomaly_counts
    out = ['<h2 id="anomalies">Anomalies</h2>']
    if results.valid is None:
        out.append('<p class="note">No results: this history was not checked.</p>')
    out.append('<table class="anomalies"><tr><th>anomaly</th><th>count</th><th>examples</th></tr>')
    for name in _anomaly_names(results):
        count = counts.get(name)
        examples = results.examples(name)
        shown = _DASH if count is None else _e(str(count))
        nonzero = ' class="nonzero"' if count else ""
        link = f'<a href="#anomaly-{_slug(name)}">{len(examples)}</a>' if examples else "0"
        out.append(
            f'<tr{nonzero}><td>{_e(name)}</td><td class="n">{shown}</td><td>{link}</td></tr>'
        )
    if results.valid is not None:
        out.append(
            f"<tr><td>unseen <small>(not an anomaly: no completed drain)</small></td>"
            f'<td class="n">{results.unseen}</td><td></td></tr>'
        )
    out.append("</table>")
    return out


def _anomaly_examples(results: Results, summary: HistorySummary) -> list[str]:
    counts = results.anomaly_counts
    listed = summary.listed_indexes
    out: list[str] = []
    for name in _anomaly_names(results):
        examples = results.examples(name)
        if not examples:
            continue
        count = counts.get(name, len(examples))
        colour = anomaly_colour(name)
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


def _timeline(summary: HistorySummary) -> list[str]:
    timeline = summary.timeline
    out = ['<h2 id="timeline">Timeline</h2>', timeline_svg(summary), legend(timeline)]
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


def _schedule_section(results: Results) -> list[str]:
    """The planned fault schedule beside what ran (results.json's ``nemesis``, from
    :mod:`nemesis.ran`): a line when the two agree, every difference and its reason otherwise."""
    ran = results.nemesis
    if not ran or not ran.get("summary"):
        return []
    out = [
        '<h2 id="schedule">Fault schedule: planned and ran</h2>',
        f"<p>{_e(str(ran['summary']))}</p>",
    ]
    differences = [str(d) for d in ran.get("differences") or ()]
    if differences:
        out.append("<ul>" + "".join(f"<li>{_e(d)}</li>" for d in differences[:200]) + "</ul>")

    def cells(op: Any) -> str:
        if not isinstance(op, Mapping):
            return f"<td class='n'>{_DASH}</td>" * 3 + f"<td>{_DASH}</td>"
        late = op.get("late_ms")
        return (
            f"<td class='n'>{_e(str(op.get('planned_s', _DASH)))}</td>"
            f"<td class='n'>{_e(str(op.get('invoked_s', _DASH)))}</td>"
            f"<td class='n'>{_DASH if late is None else f'{late:+.1f}'}</td>"
            f"<td>{_e(str(op.get('outcome') or 'no completion'))}</td>"
        )

    rows = [
        f"<tr><td class='n'>{_e(str(step.get('step')))}</td><td>{_e(str(step.get('kind')))}</td>"
        f"{cells(step.get('start'))}{cells(step.get('undo'))}</tr>"
        for step in ran.get("steps") or ()
        if isinstance(step, Mapping)
    ]
    if rows:
        head = "<th>planned s</th><th>invoked s</th><th>late ms</th><th>outcome</th>"
        out.append(
            f"<details><summary>every step ({len(rows)})</summary><table><tr><th>step</th>"
            f"<th>kind</th>{head.replace('<th>', '<th>start ')}{head.replace('<th>', '<th>undo ')}"
            f"</tr>{''.join(rows)}</table></details>"
        )
    return out


def _availability_section(summary: HistorySummary) -> list[str]:
    stats = summary.availability
    timeline = summary.timeline
    in_faults = sum(b - a for a, b in interval_union((f.start_s, f.end_s) for f in timeline.faults))
    share = in_faults / timeline.duration_s if timeline.duration_s else 0.0
    rows = []
    for label, counts_key, ratio_key in (
        ("overall", "sends", "availability"),
        ("during faults", "sends_during_faults", "availability_during_faults"),
        ("outside faults", "sends_outside_faults", "availability_outside_faults"),
    ):
        counts = stats[counts_key]
        cells = "".join(f'<td class="n">{counts[o]}</td>' for o in OUTCOMES)
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
    seconds = int_or(op.get("time"), 0) / NS_PER_S
    cells = [
        str(item.index),
        f"{seconds:.6f}",
        _e(compact(op.get("process"), 40)),
        _e(str(op.get("type", ""))[:20]),
        _e(str(op.get("f", ""))[:40]),
        _e(str(op.get("node", ""))[:40]),
    ]
    value = _e(compact(op.get("value"), MAX_VALUE_CHARS))
    error = _e(compact(op["error"], MAX_VALUE_CHARS)) if "error" in op else ""
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
    results: Results | Mapping[str, Any] | None,
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
    judged = Results.of(results)
    summary = (
        history
        if isinstance(history, HistorySummary)
        else summarize(history, cited_indexes(judged))
    )
    body = _header(test, summary, judged, title)
    body += [f'<p class="note">{_e(note)}</p>' for note in notes]
    body += _anomaly_table(judged)
    body += _timeline(summary)
    body += _schedule_section(judged)
    body += _availability_section(summary)
    body += _anomaly_examples(judged, summary)
    body += _listing(summary)
    name = RunDescription.from_json(test or {}).name or title
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
        if _is_edn(self.path):
            yield from _edn_ops(self.path)
            return
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


def _is_edn(path: Path) -> bool:
    from checkers.reading import is_edn_file

    try:
        return is_edn_file(path)
    except (OSError, SplitbrainError):
        return False


def _edn_ops(path: Path) -> Iterator[dict[str, Any]]:
    """A Jepsen EDN history's operations (op maps or the queue shape), read by the checkers."""
    from checkers.reading import edn_file_ops

    try:
        yield from edn_file_ops(path)
    except SplitbrainError as exc:
        raise ReportError(f"{exc} Then run `splitbrain report` again.") from exc


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


def _check(history: Path) -> Results:
    """The checkers' results, for a history that has no results.json beside it; a cut-off last
    line is left out, as the report leaves it out."""
    try:
        if _is_edn(history):
            return Results.of(judge(read_history(history)))
        return Results.of(check_history(parse_history(_complete_lines(history), str(history))))
    except (OSError, ValueError, HistoryError) as exc:
        raise ReportError(f"{history}: the checkers cannot read this history: {exc}") from exc


def write_report(run: Path | str, out: Path | str | None = None) -> Path:
    """Read a run (directory or history file) and write its report; returns the path written.

    The report goes to ``out``, else beside the history (``report.html`` in a run directory,
    ``<name>.html`` for another history file). results.json is used when present, else the
    checkers compute the results (nothing is written but the report). Raises
    :class:`ReportError` with the file and what to do next when an input cannot be read.
    """
    try:
        stored = locate(Path(run))
        test = stored.test() or None
        results = stored.stored_results()
        if results is None:
            results = _check(stored.history)
    except RunUnreadable as exc:
        raise ReportError(str(exc)) from None
    lines = HistoryLines(stored.history)
    summary = summarize(lines, cited_indexes(results))
    notes = [lines.truncated] if lines.truncated else []
    document = render_report(test, summary, results, title=stored.title, notes=notes)
    target = Path(out) if out is not None else stored.report_path
    try:
        target.write_text(document, encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"{target}: cannot write the report ({exc.strerror or exc})") from exc
    return target
