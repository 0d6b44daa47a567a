"""Histories as Jepsen EDN: one operation map per line, both ways.

Jepsen stores a history as EDN operation maps (``{:index 0, :time 0, :type :invoke, :f :send,
:process 3, :value ...}``, or the same after a ``#jepsen.history.Op`` tag), with keywords for
``:type`` and ``:f`` and the nemesis as the process ``:nemesis``. :func:`op_to_edn` writes one
history-format v1 operation that way and :func:`edn_ops` reads a file of them back, so that
``splitbrain export --format jepsen-edn`` and ``splitbrain check history.edn`` round-trip every
field the checkers use. The mapping:

- top-level keys and the keys of maps inside ``value`` become keywords (a key that cannot be a
  keyword, e.g. one with a space, stays an EDN string); strings stay strings, lists become vectors;
- ``type`` and ``f`` become keywords; ``process`` is an int, or ``:nemesis`` / ``:harness``;
- on the way back every keyword becomes its name (a str), vectors, lists and sets become lists.

A file holds one map per line (as Jepsen's ``history.edn``) or one vector of maps. Reading is
done by :mod:`checkers.edn` (its fast reader where it can, its strict one otherwise) chunk by
chunk, so memory stays bounded; an EDN syntax error raises :class:`~checkers.errors.HistoryError`
naming the file, the line and column, and the problem.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import orjson

from checkers.edn import KEYWORD_NAME as KEYWORD
from checkers.edn import EdnError, Incomplete, Keyword, dumps, fast_forms, read_forms
from checkers.errors import HistoryError
from checkers.source import MAX_LINE_BYTES, Chunk

CONTROL_KEYWORDS = frozenset({"nemesis", "harness"})
BLOCK_LINES = 512
"""Lines read at a time: the fast reader's passes over a block this size stay in the CPU's cache
(blocks of 25,000 lines read 40% slower)."""
QUEUE_FS = frozenset({"poll", "txn", "assign", "subscribe"})
_FIX_EDN = (
    "Jepsen EDN histories hold one operation map per line ({:index 0, :time 0, :type :invoke, "
    "...}) or one vector of them: fix the file (or export it again) and run the check again."
)


def _key(name: Any) -> Any:
    return Keyword(name) if isinstance(name, str) and KEYWORD.match(name) else name


def to_edn_data(value: Any) -> Any:
    """JSON data as EDN data: map keys as keywords where possible, everything else as is."""
    if isinstance(value, Mapping):
        return {_key(k): to_edn_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_edn_data(item) for item in value]
    return value


def op_to_edn(op: Mapping[str, Any]) -> str:
    """One history operation (a dict of history-format v1) as one line of Jepsen EDN."""
    data = to_edn_data(op)
    for name in ("type", "f"):
        data[Keyword(name)] = _key(op.get(name))  # a name no keyword can hold stays a string
    process = op.get("process")
    if isinstance(process, str) and process in CONTROL_KEYWORDS:
        data[Keyword("process")] = Keyword(process)
    return dumps(data)


def edn_ops(lines: Iterable[Chunk], source: str) -> Iterator[tuple[int, Any]]:
    """Each top-level form of an EDN history, with the line it starts on.

    One form per line, or one vector of forms (then any layout). Raises :class:`HistoryError`
    on EDN that cannot be read, on a line holding two forms, and on a blank line before the end.
    """
    reader = _EdnReader(source)
    for chunk in lines:
        for first in range(0, max(len(chunk.lines), 1), BLOCK_LINES):
            block = chunk.lines[first : first + BLOCK_LINES]
            last = chunk.last and first + BLOCK_LINES >= len(chunk.lines)
            yield from reader.chunk(Chunk(chunk.first + first, block, last))


def refuse_queue_shape(ops: Iterable[tuple[int, Any]], source: str) -> Iterator[tuple[int, Any]]:
    """``ops`` as they come, but a :class:`HistoryError` at the first Jepsen queue operation."""
    for line, op in ops:
        if is_queue_op(op):
            raise HistoryError(
                source,
                line,
                f"line {line} is a Jepsen queue operation (:send/:poll micro-operations), which "
                "only `splitbrain check` judges",
                "Run `splitbrain check` on it, or export the run again with --format jepsen-edn.",
            )
        yield line, op


def is_queue_op(op: Any) -> bool:
    """Whether ``op`` is of Jepsen's kafka/queue workload rather than a history-format op map."""
    if not isinstance(op, dict) or type(op.get("process")) is not int:
        return False
    f = op.get("f")
    return f in QUEUE_FS or (f == "send" and isinstance(op.get("value"), list))


class _EdnReader:
    """Reads chunk after chunk, carrying a form cut by a chunk's end into the next chunk."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.vector: bool | None = None  # the whole file is one vector of forms
        self.carry = ""
        self.carry_line = 0
        self.blank = 0
        self.last_form_line = 0

    def fail(self, line: int, problem: str) -> HistoryError:
        return HistoryError(self.source, line, f"line {line} {problem}", _FIX_EDN)

    def text_of(self, chunk: Chunk) -> str:
        data = b"\n".join(chunk.lines)
        try:
            return data.decode()
        except UnicodeDecodeError as exc:
            line = chunk.first + data.count(b"\n", 0, exc.start)
            column = exc.start - data.rfind(b"\n", 0, exc.start)
            raise HistoryError(
                self.source, line, f"line {line} is not UTF-8 (byte {column})", "Save it as UTF-8."
            ) from None

    def chunk(self, chunk: Chunk) -> Iterator[tuple[int, Any]]:
        text = self.text_of(chunk)
        if self.vector is None:
            body = text.lstrip()
            if not body and not chunk.last:
                self.carry += text + "\n"
                self.carry_line = self.carry_line or chunk.first
                return
            self.vector = body.startswith("[")
            if self.vector:
                at = text.index("[")
                text = text[:at] + " " + text[at + 1 :]
        if chunk.last:
            text = text.rstrip()
            if self.vector:
                if not text.endswith("]"):
                    end = chunk.first + text.count("\n")
                    raise self.fail(end, "ends, but the vector opened at its start never closes")
                text = text[:-1]
        if not self.carry and not self.vector and text:
            forms = fast_forms(text)
            if forms is not None:
                if self.blank:
                    raise self.fail(
                        self.blank, "is blank, but blank lines are allowed only at the end"
                    )
                self.last_form_line = chunk.first + len(forms) - 1
                yield from zip(range(chunk.first, chunk.first + len(forms)), forms, strict=True)
                return
        yield from self.slow(text, chunk)

    def slow(self, text: str, chunk: Chunk) -> Iterator[tuple[int, Any]]:
        first = self.carry_line if self.carry else chunk.first
        text = self.carry + text
        self.carry, self.carry_line = "", 0
        try:
            forms = read_forms(text, first)
        except Incomplete as exc:
            if chunk.last or len(text) - exc.start > MAX_LINE_BYTES:
                raise self.fail(exc.line, exc.problem) from None
            forms = read_forms(text[: exc.start], first) if exc.start else []
            self.carry = text[exc.start :] + "\n"
            self.carry_line = exc.line
        except EdnError as exc:
            raise self.fail(exc.line, f"{exc.problem} (column {exc.column})") from None
        last = self.last_form_line
        for line, _ in forms:  # the whole chunk's layout first, then its operations
            if not self.vector:
                if line == self.last_form_line:
                    raise self.fail(line, "holds two EDN forms; one operation map per line")
                self.check_blank_lines(text, first, line)
            self.last_form_line = line
        if not self.vector:
            self.note_blank_lines(text, first)
        del last
        yield from forms

    def check_blank_lines(self, text: str, first: int, line: int) -> None:
        """Raise when a blank line comes before the form starting at ``line``."""
        if self.blank and self.blank < line:
            raise self.fail(self.blank, "is blank, but blank lines are allowed only at the end")
        lines = text.split("\n")
        start = max(self.last_form_line + 1, first)
        for number in range(start, line):
            if not lines[number - first].strip(" \t\r,"):
                raise self.fail(number, "is blank, but blank lines are allowed only at the end")

    def note_blank_lines(self, text: str, first: int) -> None:
        """Remember the first blank line after the last form: an error if a form follows."""
        lines = text.split("\n")
        for number in range(max(self.last_form_line + 1, first), first + len(lines)):
            if not self.blank and not lines[number - first].strip(" \t\r,"):
                self.blank = number


def edn_history_lines(text: str, source: str) -> Iterator[bytes]:
    """The operations of an EDN history held in ``text``, each as one JSON line (for callers that
    read any history as JSON lines). Same errors as :func:`edn_ops`."""
    lines = text.encode().split(b"\n")
    for _, op in edn_ops([Chunk(1, lines, True)], source):
        yield orjson.dumps(op)
