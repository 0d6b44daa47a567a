"""One stored run, found from what a user gives: a run directory or a bare history file.

``report``, ``compare``, ``check`` and ``shrink`` locate and read a run only through
:func:`locate` and :class:`StoredRun`, so "a run directory or a history.jsonl" means the same to
every command: a run directory holds ``history.jsonl`` beside its ``test.json`` and
``results.json``; a file named ``history.jsonl`` has those siblings too; any other history file
(JSON lines or Jepsen EDN) stands alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from checkers import HistoryError, check_history, load_history
from checkers.history import looks_like_edn
from checkers.jepsen_edn import edn_history_lines
from harness.results import Results, ResultsUnreadable
from splitbrain.errors import SplitbrainError


class RunUnreadable(SplitbrainError):
    """A run without a readable history or with a broken JSON file; the message says which and
    what to do."""


def json_file(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; ``{}`` when absent; raises :class:`RunUnreadable`."""
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, orjson.JSONDecodeError) as exc:
        raise RunUnreadable(
            f"{path}: not readable JSON ({exc}); fix or delete it, or re-run `splitbrain check`"
        ) from None
    return data if isinstance(data, dict) else {}


@dataclass(frozen=True)
class StoredRun:
    """Where one run's parts are; ``folder`` is None for a history file that stands alone."""

    history: Path
    folder: Path | None
    name: str

    @property
    def title(self) -> str:
        """``<test>/<time>`` for a run directory, the file's stem otherwise."""
        if self.folder is None:
            return self.history.stem
        resolved = self.folder.resolve()
        return f"{resolved.parent.name}/{resolved.name}"

    @property
    def report_path(self) -> Path:
        if self.folder is None:
            return self.history.with_suffix(".html")
        return self.folder / "report.html"

    def test(self) -> dict[str, Any]:
        """test.json, or ``{}`` when the run has none."""
        return json_file(self.folder / "test.json") if self.folder else {}

    def stored_results(self) -> Results | None:
        """results.json, or None when the run has none; :class:`RunUnreadable` when it is
        not JSON."""
        if self.folder is None:
            return None
        try:
            return Results.read(self.folder / "results.json")
        except ResultsUnreadable as exc:
            raise RunUnreadable(str(exc)) from None

    def results(self, max_examples: int = 10) -> Results:
        """results.json, or the checkers' results on the history when there is none."""
        stored = self.stored_results()
        return stored if stored is not None else self.check(max_examples)

    def validate(self) -> None:
        """Read the whole history; :class:`RunUnreadable` names the line that is wrong."""
        try:
            load_history(self.history)
        except HistoryError as exc:
            raise RunUnreadable(str(exc)) from None

    def check(self, max_examples: int = 10) -> Results:
        """The checkers' results on the history; :class:`RunUnreadable` when it cannot be read."""
        try:
            return Results.of(check_history(load_history(self.history), max_examples=max_examples))
        except HistoryError as exc:
            raise RunUnreadable(str(exc)) from None

    def ops(self) -> Iterator[dict[str, Any]]:
        """The operations of the history as dicts, in order (not validated: :meth:`check`
        first). Jepsen EDN is read too, by name or content."""
        data = self.history.read_bytes()
        lines: Iterable[bytes]
        if self.history.suffix == ".edn" or looks_like_edn(data[:256]):
            lines = edn_history_lines(data.decode(), str(self.history))
        else:
            lines = data.splitlines()
        for line in lines:
            if line.strip():
                yield orjson.loads(line)


def locate(path: Path) -> StoredRun:
    """The run at ``path``; :class:`RunUnreadable` saying what to give when there is no history."""
    if path.is_dir():
        history = path / "history.jsonl"
        if not history.is_file():
            raise RunUnreadable(
                f"{path}: no history.jsonl in this directory; give a run directory "
                "(histories/<test>/<time>/) or a history file"
            )
        return StoredRun(history, path, path.name)
    if not path.is_file():
        raise RunUnreadable(f"{path}: no such file or directory; give a run directory or a history")
    if path.name == "history.jsonl":
        return StoredRun(path, path.parent, path.parent.name)
    return StoredRun(path, None, path.stem)
