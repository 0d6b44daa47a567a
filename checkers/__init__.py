"""Pure functions from a history to findings; no I/O beyond reading the history.

- :func:`load_history` reads and validates a run directory or a ``history.jsonl``;
- :func:`check_history` runs every checker and returns the results of history-format.md;
- :func:`read_history` also reads Jepsen queue histories, and :func:`judge` runs the checkers that
  fit what it read (Jepsen's queue checks, :mod:`checkers.queue_checks`, on those).
"""

from checkers.errors import HistoryError
from checkers.history import History, load_history, parse_history
from checkers.queue_history import QueueHistory
from checkers.reading import judge, kinds_of, read_history
from checkers.verdict import ANOMALIES, check_history, exit_code

__all__ = [
    "ANOMALIES",
    "History",
    "HistoryError",
    "QueueHistory",
    "check_history",
    "exit_code",
    "judge",
    "kinds_of",
    "load_history",
    "parse_history",
    "read_history",
]
