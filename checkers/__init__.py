"""Pure functions from a history to findings; no I/O beyond reading the history.

- :func:`load_history` reads and validates a run directory or a ``history.jsonl``;
- :func:`check_history` runs every checker and returns the results of history-format.md.
"""

from checkers.history import History, HistoryError, load_history, parse_history
from checkers.verdict import ANOMALIES, check_history, exit_code

__all__ = [
    "ANOMALIES",
    "History",
    "HistoryError",
    "check_history",
    "exit_code",
    "load_history",
    "parse_history",
]
