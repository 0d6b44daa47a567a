"""The verdict: every checker run on one history, merged into the results of history-format.md."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from checkers.causal import find_causal
from checkers.corrupt import find_corrupt
from checkers.divergence import find_divergence
from checkers.duplicated import find_duplicated
from checkers.failed_delivered import find_failed_delivered
from checkers.fifo import find_fifo
from checkers.findings import Finding
from checkers.history import History, collector_paused
from checkers.lost import find_missing
from checkers.observations import observe
from checkers.ordered import sweep_scope
from checkers.seq_conflict import find_seq_conflicts
from checkers.seq_order import find_seq_order
from checkers.source import Progress, no_progress
from checkers.stats import find_stats
from checkers.unexpected import find_unexpected

FORMAT_VERSION = 1
ANOMALIES = (
    "lost",
    "duplicated",
    "unexpected",
    "failed-delivered",
    "fifo-violation",
    "causal-violation",
    "order-divergence",
    "seq-order",
    "seq-conflict",
    "corrupt",
)
EXIT_CODES = {True: 0, False: 1, "unknown": 3}
"""``check``'s exit code for each ``valid`` value; 2 is for an unreadable input."""


def check_history(
    history: History, max_examples: int = 10, progress: Progress = no_progress
) -> dict[str, Any]:
    """Judge ``history`` and return the results of history-format.md.

    The caller may rely on: ``valid`` (``True``, ``False`` or ``"unknown"``); ``anomaly_counts``
    with every name of :data:`ANOMALIES`; ``anomalies`` with the same names, each a list of at most
    ``max_examples`` examples, each holding ``ids``, ``users``, ``indexes`` (history indexes) and
    ``why`` (one sentence); ``unseen`` (a count) and ``unseen_examples``; ``stats`` with
    ``sends`` (``ok``/``fail``/``info``) and ``availability``; ``format_version``; ``source``.
    """
    with collector_paused():
        return _check(history, max_examples, progress)


STEPS = 6


def _check(history: History, max_examples: int, progress: Progress) -> dict[str, Any]:
    progress("arranging what was seen", 0, STEPS)
    obs = observe(history)
    progress("lost, duplicated, unexpected", 1, STEPS)
    lost, unseen = find_missing(obs)
    findings: dict[str, Sequence[Finding]] = {
        "lost": lost,
        "duplicated": find_duplicated(obs),
        "unexpected": find_unexpected(obs),
        "failed-delivered": find_failed_delivered(obs),
    }
    progress("fifo and causal order", 2, STEPS)
    scope = sweep_scope(obs)
    fifo = find_fifo(obs, scope)
    causal = find_causal(obs, (v.pair for v in fifo), scope)
    findings["fifo-violation"] = fifo
    findings["causal-violation"] = causal
    progress("order-divergence and seq-order", 3, STEPS)
    findings["order-divergence"] = find_divergence(obs)
    findings["seq-order"] = find_seq_order(obs, [v.pair for v in fifo] + [v.pair for v in causal])
    progress("seq-conflict and corrupt", 4, STEPS)
    findings["seq-conflict"] = find_seq_conflicts(obs)
    findings["corrupt"] = find_corrupt(obs)
    progress("stats", 5, STEPS)
    counts = {name: len(findings[name]) for name in ANOMALIES}
    limit = max(0, max_examples)
    if any(counts.values()):
        valid: bool | str = False
    else:
        valid = "unknown" if unseen else True
    return {
        "valid": valid,
        "anomaly_counts": counts,
        "anomalies": {
            name: [finding.example() for finding in findings[name][:limit]] for name in ANOMALIES
        },
        "unseen": len(unseen),
        "unseen_examples": [finding.example() for finding in unseen[:limit]],
        "stats": find_stats(obs),
        "format_version": FORMAT_VERSION,
        "source": history.source,
    }


def exit_code(results: dict[str, Any]) -> int:
    """``check``'s exit code for ``results``: 0 valid, 1 anomalies, 3 unknown."""
    return EXIT_CODES[results["valid"]]
