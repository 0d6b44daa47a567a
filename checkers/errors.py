"""The one error the checkers raise: a history that cannot be read.

Its own module so that every reader (JSON lines, EDN, Jepsen queue histories) can raise it without
importing another reader.
"""

from __future__ import annotations

from splitbrain.errors import SplitbrainError

FIX_LINE = (
    "The file does not follow history-format.md v1: fix that line (or the recorder that wrote it) "
    "and run the check again."
)


class HistoryError(SplitbrainError):
    """A history that cannot be read.

    ``str()`` is one sentence a person can act on: ``"<file>:<line>: <problem>. <what to do>"``
    (without ``:<line>`` when the whole file is at fault). ``line`` is 1-based, as editors count;
    the operation on it has ``index == line - 1``.
    """

    def __init__(self, source: str, line: int | None, problem: str, hint: str = FIX_LINE) -> None:
        self.source = source
        self.line = line
        self.problem = problem
        self.hint = hint
        where = source if line is None else f"{source}:{line}"
        super().__init__(f"{where}: {problem}. {hint}")
