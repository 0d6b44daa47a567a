"""The readable verdict table printed by ``splitbrain check`` (and reused by ``splitbrain run``).

:func:`format_summary` is pure: results in, text out. It reads only the keys of history-format.md
(plus ``stats`` details and ``unseen_examples`` when present), ignores keys it does not know,
and copes with keys that are missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from checkers import kinds_of


def format_summary(results: Mapping[str, Any]) -> str:
    """A few lines for a terminal: the verdict, one row per anomaly, send outcomes, examples."""
    counts = _mapping(results.get("anomaly_counts"))
    names = kinds_of(results)
    unseen = _int(results.get("unseen"))
    stats = _mapping(results.get("stats"))
    lines = [_verdict_line(results.get("valid"), counts, unseen)]
    about = _history_line(results, stats)
    if about:
        lines.append(about)
    width = max(len(name) for name in [*names, "unseen"])
    lines += ["", f"{'anomaly':<{width}}  count"]
    for name in names:
        count = counts.get(name)
        lines.append(f"{name:<{width}}  {'-' if count is None else count:>5}")
    if "unseen" in results or "checker" not in results:
        lines.append(f"{'unseen':<{width}}  {unseen:>5}  (not an anomaly: no drain proves loss)")
    sends = _send_line(stats)
    if sends:
        lines += ["", sends]
    faults = _mapping(stats.get("faults"))
    if faults:
        lines.append("faults: " + ", ".join(f"{kind} {n}" for kind, n in faults.items()))
    examples = _examples(results, names)
    if examples:
        lines += ["", "examples (indexes are history line indexes, from 0):", *examples]
    return "\n".join(lines) + "\n"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _verdict_line(valid: Any, counts: Mapping[str, Any], unseen: int) -> str:
    total = sum(_int(n) for n in counts.values())
    kinds = sum(1 for n in counts.values() if _int(n) > 0)
    if valid is True:
        return "verdict: VALID (no anomaly found)"
    if valid is False:
        found = "1 anomaly" if total == 1 else f"{total} anomalies"
        return f"verdict: INVALID ({found} of {kinds} kind{'' if kinds == 1 else 's'})"
    if valid == "unknown":
        return (
            f"verdict: UNKNOWN (no anomaly found, but {unseen} acknowledged deliveries were not "
            "seen and no completed drain proves them lost)"
        )
    return f"verdict: {valid!r}"


def _history_line(results: Mapping[str, Any], stats: Mapping[str, Any]) -> str:
    parts = []
    if results.get("source"):
        parts.append(str(results["source"]))
    for key, word in (("operations", "operation"), ("messages", "message")):
        count = stats.get(key)
        if isinstance(count, int):
            parts.append(f"{count} {word}{'' if count == 1 else 's'}")
    if stats.get("drain"):
        parts.append(f"drain {stats['drain']}")
    return "history: " + ", ".join(parts) if parts else ""


def _send_line(stats: Mapping[str, Any]) -> str:
    sends = _mapping(stats.get("sends"))
    if not sends:
        return ""
    text = "sends: " + ", ".join(f"{_int(sends.get(k))} {k}" for k in ("ok", "fail", "info"))
    availability = stats.get("availability")
    if isinstance(availability, int | float) and not isinstance(availability, bool):
        text += f"; availability {availability:.1%} (ok / all sends)"
    return text


def _examples(results: Mapping[str, Any], names: list[str]) -> list[str]:
    anomalies = _mapping(results.get("anomalies"))
    groups = [(name, anomalies.get(name)) for name in names]
    groups.append(("unseen", results.get("unseen_examples")))
    lines = []
    for name, examples in groups:
        if not isinstance(examples, list):
            continue
        for item in examples:
            why = item.get("why") if isinstance(item, Mapping) else None
            lines.append(f"  {name}: {why if why else item}")
    return lines
