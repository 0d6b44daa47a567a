"""Histories as Jepsen EDN: one operation map per line, both ways.

Jepsen stores a history as EDN operation maps (``{:index 0, :time 0, :type :invoke, :f :send,
:process 3, :value ...}``), with keywords for ``:type`` and ``:f`` and the nemesis as the process
``:nemesis``. :func:`op_to_edn` writes one history-format v1 operation that way and
:func:`edn_to_op` reads it back, so that ``splitbrain export --format jepsen-edn`` and
``splitbrain check history.edn`` round-trip every field the checkers use. The mapping:

- top-level keys and the keys of maps inside ``value`` become keywords (a key that cannot be a
  keyword, e.g. one with a space, stays an EDN string); strings stay strings, lists become vectors;
- ``type`` and ``f`` become keywords; ``process`` is an int, or ``:nemesis`` / ``:harness``;
- on the way back every keyword becomes its name (a str), vectors, lists and sets become lists.

:func:`edn_history_lines` reads a whole EDN file (one map per line, as Jepsen's ``history.edn``,
or one vector of maps) into JSON lines for :func:`checkers.history.parse_history`, so an EDN
history is judged by the very rules of a JSON one; an EDN syntax error raises
:class:`~checkers.history.HistoryError` naming the file, the line and column, and the problem.
edn_format is a pure-Python parser: about 2000 operations per second here, fine for interchange,
not for the 10^6-operation histories the JSON reader is built for.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence, Set
from typing import Any

import edn_format
import orjson
from edn_format import Keyword

from checkers.history import HistoryError

CONTROL_KEYWORDS = frozenset({"nemesis", "harness"})
_KEYWORD = re.compile(r"[A-Za-z*+!_?<>=][A-Za-z0-9*+!_?<>=.\-]*\Z|-[A-Za-z*+!_?<>=.][\w.\-]*\Z")
_TOKEN = re.compile(r"LexToken\((\w+),'(.*)',(\d+),(\d+)\)")
_FIX_EDN = (
    "Jepsen EDN histories hold one operation map per line ({:index 0 :time 0 :type :invoke ...}) "
    "or one vector of them: fix the file (or export it again) and run the check again."
)


def _key(name: Any) -> Any:
    return Keyword(name) if isinstance(name, str) and _KEYWORD.match(name) else name


def to_edn_data(value: Any) -> Any:
    """JSON data as EDN data: map keys as keywords where possible, everything else as is."""
    if isinstance(value, Mapping):
        return {_key(k): to_edn_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_edn_data(item) for item in value]
    return value


def from_edn_data(value: Any) -> Any:
    """EDN data as JSON data: keywords and symbols as their names, any sequence as a list."""
    if isinstance(value, Mapping):
        return {str(from_edn_data(k)): from_edn_data(v) for k, v in value.items()}
    if isinstance(value, Keyword | edn_format.Symbol):
        return value.name
    if isinstance(value, str | bytes):
        return str(value)
    if isinstance(value, Sequence | Set):
        return [from_edn_data(item) for item in value]
    return value


def op_to_edn(op: Mapping[str, Any]) -> str:
    """One history operation (a dict of history-format v1) as one line of Jepsen EDN."""
    data = to_edn_data(op)
    for name in ("type", "f"):
        data[Keyword(name)] = _key(op.get(name))  # a name no keyword can hold stays a string
    process = op.get("process")
    if isinstance(process, str) and process in CONTROL_KEYWORDS:
        data[Keyword("process")] = Keyword(process)
    return edn_format.dumps(data)


def edn_to_op(form: Any) -> Any:
    """A Jepsen EDN operation map back as a history operation dict (anything else as JSON data,
    for the history reader to reject with its own words)."""
    return from_edn_data(form)


def _where(text: str, position: int) -> tuple[int, int]:
    """1-based (line, column) of ``position`` in ``text``."""
    before = text[:position]
    return before.count("\n") + 1, position - (before.rfind("\n") + 1) + 1


def _edn_error(source: str, text: str, line_offset: int, exc: Exception) -> HistoryError:
    message = str(exc)
    token = _TOKEN.search(message)
    if token:
        line, column = _where(text, int(token.group(4)))
        problem = f"unexpected {token.group(2)!r} at column {column}"
    elif "lexpos" in message:
        found = re.search(r"lexpos (\d+)", message)
        line, column = _where(text, int(found.group(1)) if found else 0)
        problem = f"cannot read EDN at column {column} ({message.split(' with lexpos')[0]})"
    elif "EOF" in message:
        line, column = _where(text, len(text.rstrip()))
        problem = "ends before its EDN form is closed (a missing '}' or ']'?)"
    else:
        line, column = _where(text, 0)
        problem = f"is not EDN Jepsen writes ({message})"
    line += line_offset
    return HistoryError(source, line, f"line {line} {problem}", _FIX_EDN)


def _forms(text: str, source: str, line_offset: int) -> list[Any]:
    try:
        return list(edn_format.loads_all(text))
    except Exception as exc:  # edn_format raises several types, also NotImplementedError
        raise _edn_error(source, text, line_offset, exc) from None


def edn_history_lines(text: str, source: str) -> Iterator[bytes]:
    """JSON lines, one per operation, of an EDN history held in ``text``.

    One map per line gives one JSON line per source line (blank lines pass through as blank),
    so the history reader's line numbers are the EDN file's. A single top-level vector of maps
    is read whole. Raises :class:`HistoryError` on EDN that cannot be read, or a line holding
    other than one form.
    """
    if text.lstrip().startswith("["):
        offset = text[: len(text) - len(text.lstrip())].count("\n")
        forms = _forms(text.lstrip(), source, offset)
        if len(forms) != 1 or not isinstance(forms[0], Sequence):
            raise HistoryError(
                source, None, "holds more than one top-level form after its vector", _FIX_EDN
            )
        for form in forms[0]:
            yield orjson.dumps(edn_to_op(form))
        return
    # split on "\n" only: str.splitlines() would also cut at U+0085 and U+2028 inside strings
    lines = text.split("\n")
    if lines and not lines[-1]:
        lines.pop()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            yield b""
            continue
        forms = _forms(line, source, number - 1)
        if len(forms) != 1:
            raise HistoryError(
                source,
                number,
                f"line {number} holds {len(forms)} EDN forms; one operation map per line",
                _FIX_EDN,
            )
        yield orjson.dumps(edn_to_op(forms[0]))
