"""Any history file in, the right checkers' results out: what ``splitbrain check`` runs.

:func:`read_history` reads a run directory, a ``history.jsonl``, a Jepsen EDN file of
history-format op maps, or a Jepsen queue history (``jepsen.tests.kafka``: ``:send``/``:poll``
micro-operations), telling the two EDN shapes apart by their first client operation that says
which it is. :func:`judge` runs splitbrain's checkers on the first kinds and Jepsen's queue checks
on the last; both give the results shape of history-format.md.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from itertools import chain
from pathlib import Path
from typing import Any

from checkers.errors import HistoryError
from checkers.history import (
    History,
    collector_paused,
    history_file,
    json_ops,
    looks_like_edn,
    open_regular,
    parse_ops,
)
from checkers.jepsen_edn import edn_ops, is_queue_op
from checkers.queue_checks import CHECKER, KINDS, judge_queue
from checkers.queue_history import QueueHistory, parse_queue_ops
from checkers.source import Progress, chunks, no_progress
from checkers.verdict import ANOMALIES, check_history

SHAPE_FS = frozenset({"send", "deliver", "poll", "txn", "assign", "subscribe"})


def read_history(path: str | Path, progress: Progress = no_progress) -> History | QueueHistory:
    """Read and validate the history at ``path`` (see the module's description).

    Raises :class:`~checkers.errors.HistoryError` as :func:`checkers.load_history` does.
    """
    path = history_file(path)
    source = str(path)
    try:
        with open_regular(path) as stream, collector_paused():
            size = os.fstat(stream.fileno()).st_size
            lines = chunks(stream, source, size, progress)
            if path.suffix != ".edn" and not looks_like_edn(stream.peek(256)):
                return parse_ops(json_ops(lines, source), source)
            ops = edn_ops(lines, source)
            head: list[tuple[int, Any]] = []
            queue = _shape(ops, head)
            everything: Iterator[tuple[int, Any]] = chain(head, ops)
            if queue:
                return parse_queue_ops(everything, source)
            return parse_ops(everything, source)
    except OSError as exc:
        raise HistoryError(
            source, None, f"cannot be read ({exc.strerror or exc})", "Check the path."
        ) from exc


def _shape(ops: Iterator[tuple[int, Any]], head: list[tuple[int, Any]]) -> bool:
    """Whether the ops are a Jepsen queue history; the ops looked at are kept in ``head``."""
    for line, op in ops:
        head.append((line, op))
        if isinstance(op, dict) and type(op.get("process")) is int and op.get("f") in SHAPE_FS:
            return is_queue_op(op)
    return False


def judge(
    history: History | QueueHistory, max_examples: int = 10, progress: Progress = no_progress
) -> dict[str, Any]:
    """The results of the checkers that fit ``history`` (``progress`` hears each step)."""
    with collector_paused():
        if isinstance(history, QueueHistory):
            progress("Jepsen's queue checks", 0, 1)
            return judge_queue(history, max_examples)
        return check_history(history, max_examples, progress)


def kinds_of(results: Mapping[str, Any]) -> list[str]:
    """The anomaly names to show for ``results``, in order: Jepsen's queue kinds for results of
    :func:`~checkers.queue_checks.judge_queue`, else :data:`~checkers.verdict.ANOMALIES`; then
    any other name its ``anomaly_counts`` holds (a run-level finding, a newer checker)."""
    base = KINDS if results.get("checker") == CHECKER else ANOMALIES
    counts = results.get("anomaly_counts")
    extra = (
        [str(name) for name in counts if name not in base] if isinstance(counts, Mapping) else []
    )
    return [*base, *extra]


def is_edn_file(path: Path) -> bool:
    """Whether the history file ``path`` is EDN, by its name or its first bytes."""
    with open_regular(path) as stream:
        return path.suffix == ".edn" or looks_like_edn(stream.peek(256))


def edn_file_ops(path: Path) -> Iterator[dict[str, Any]]:
    """The operation maps of an EDN history file, in order (keywords as names), for callers that
    show a history rather than judge it; :class:`HistoryError` on EDN that cannot be read."""
    source = str(path)
    with open_regular(path) as stream, collector_paused():
        size = os.fstat(stream.fileno()).st_size
        for _, op in edn_ops(chunks(stream, source, size), source):
            if isinstance(op, dict):
                yield op
