"""The readable verdict table printed by ``splitbrain check`` (and reused by ``splitbrain run``).

:func:`format_summary` is pure: results in, text out. It shows every anomaly the results count,
in their order (whatever names the checkers and run-level checks gave), the send outcomes, and
every example's ``why``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from checkers import kinds_of
from harness.results import Results
from splitbrain.numbers import int_or, number_or


def format_summary(given: Results | Mapping[str, Any]) -> str:
    """A few lines for a terminal: the verdict, one row per anomaly, send outcomes, examples."""
    results = Results.of(given)
    names = kinds_of(results)
    lines = [_verdict_line(results)]
    about = _history_line(results)
    if about:
        lines.append(about)
    width = max(len(name) for name in [*names, "unseen"])
    lines += ["", f"{'anomaly':<{width}}  count"]
    for name in names:
        count = results.anomaly_counts.get(name)
        lines.append(f"{name:<{width}}  {'-' if count is None else count:>5}")
    if results.get("checker") is None:  # the queue checker counts its own unseen
        lines.append(
            f"{'unseen':<{width}}  {results.unseen:>5}  (not an anomaly: no drain proves loss)"
        )
    sends = _send_line(results)
    if sends:
        lines += ["", sends]
    faults = results.stats.get("faults")
    if isinstance(faults, Mapping) and faults:
        lines.append("faults: " + ", ".join(f"{kind} {n}" for kind, n in faults.items()))
    ran = results.nemesis or {}
    if ran.get("summary"):
        lines.append(str(ran["summary"]))
        lines += [f"  {line}" for line in list(ran.get("differences") or ())[:10]]
    examples = _examples(results, names)
    if examples:
        lines += ["", "examples (indexes are history line indexes, from 0):", *examples]
    return "\n".join(lines) + "\n"


def _verdict_line(results: Results) -> str:
    found = results.found()
    total, kinds = sum(found.values()), len(found)
    if results.valid is True:
        return "verdict: VALID (no anomaly found)"
    if results.valid is False:
        what = "1 anomaly" if total == 1 else f"{total} anomalies"
        return f"verdict: INVALID ({what} of {kinds} kind{'' if kinds == 1 else 's'})"
    if results.valid == "unknown":
        return (
            f"verdict: UNKNOWN (no anomaly found, but {results.unseen} acknowledged deliveries "
            "were not seen and no completed drain proves them lost)"
        )
    return f"verdict: {results.valid!r}"


def _history_line(results: Results) -> str:
    parts = [results.source] if results.source else []
    for key, word in (("operations", "operation"), ("messages", "message")):
        count = int_or(results.stats.get(key), None)
        if count is not None:
            parts.append(f"{count} {word}{'' if count == 1 else 's'}")
    if results.stats.get("drain"):
        parts.append(f"drain {results.stats['drain']}")
    return "history: " + ", ".join(parts) if parts else ""


def _send_line(results: Results) -> str:
    sends = results.stats.get("sends")
    if not isinstance(sends, Mapping) or not sends:
        return ""
    counts = ", ".join(f"{int_or(sends.get(k), 0)} {k}" for k in ("ok", "fail", "info"))
    text = "sends: " + counts
    availability = number_or(results.stats.get("availability"), None)
    if availability is not None:
        text += f"; availability {availability:.1%} (ok / all sends)"
    return text


def _examples(results: Results, names: list[str]) -> list[str]:
    groups = [(name, results.examples(name)) for name in names]
    groups.append(("unseen", results.unseen_examples))
    lines = []
    for name, examples in groups:
        for item in examples:
            why = item.get("why") if isinstance(item, Mapping) else None
            lines.append(f"  {name}: {why if why else item}")
    return lines
