"""EDN, as much as Jepsen histories use: read fast, read strictly, and write.

Read: maps, vectors, lists, sets, keywords, symbols, strings, integers, floats, ``nil``,
booleans, characters, tagged literals (the tag is dropped: ``#jepsen.history.Op{...}`` reads as
its map) and ``#_`` discards. Keywords and symbols read as their names (``:send`` -> ``"send"``),
vectors, lists and sets as lists, maps as dicts. Nesting deeper than :data:`MAX_DEPTH` is refused.

Two readers that agree on every text the first accepts:

- :func:`fast_forms` rewrites a block of whole lines into JSON with a few passes of C-level string
  and regex operations and lets orjson parse it (maps become ``{"m": [k, v, ...]}`` and are paired
  after); it returns ``None`` for anything it is not sure of (a symbol, a character, a blank line,
  two forms on a line, ...).
- :func:`read_forms` is a plain recursive-descent reader, slower, that reads all of the above and
  says where and why a text is not EDN (:class:`EdnError`: line, column, problem).

:func:`dumps` writes JSON data (and :class:`Keyword`) as EDN that Clojure's reader reads back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

MAX_DEPTH = 64
"""The deepest nesting read. A Jepsen operation nests about six levels; far deeper input is not a
history, and would exhaust the reader's stack."""


class EdnError(ValueError):
    """Text that is not EDN read here; ``line`` and ``column`` are 1-based."""

    def __init__(self, line: int, column: int, problem: str) -> None:
        self.line = line
        self.column = column
        self.problem = problem
        super().__init__(f"line {line}, column {column}: {problem}")


class Incomplete(EdnError):
    """The text ends inside a form that began at ``line``/``column`` (offset ``start``)."""

    def __init__(self, line: int, column: int, start: int, what: str = "form") -> None:
        closing = "a missing '\"'?" if what == "string" else "a missing '}' or ']'?"
        problem = f"has a {what} opened at column {column} that never closes ({closing})"
        super().__init__(line, column, problem)
        self.start = start


class Keyword(str):
    """A keyword to write: ``Keyword("send")`` is written ``:send``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Keyword({str(self)!r})"


# --- writing ---------------------------------------------------------------------------------

KEYWORD_NAME = re.compile(r"[A-Za-z*+!_?<>=][A-Za-z0-9*+!_?<>=.\-]*\Z|-[A-Za-z*+!_?<>=.][\w.\-]*\Z")


def dumps(value: Any) -> str:
    """``value`` (JSON data, tuples, :class:`Keyword`) as one line of EDN, printed as Clojure's
    ``prn`` prints (``{:a 1, :b [1 2]}``), so Jepsen's files and these look alike."""
    out: list[str] = []
    _write(value, out)
    return "".join(out)


def _write(value: Any, out: list[str]) -> None:
    if isinstance(value, Keyword):
        out.append(":" + value)
    elif isinstance(value, str):
        out.append(orjson.dumps(value).decode())
    elif value is None:
        out.append("nil")
    elif value is True or value is False:
        out.append("true" if value else "false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"EDN has no {value!r}")
        out.append(repr(value))
    elif isinstance(value, Mapping):
        out.append("{")
        for n, (key, item) in enumerate(value.items()):
            if n:
                out.append(", ")
            _write(key, out)
            out.append(" ")
            _write(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for n, item in enumerate(value):
            if n:
                out.append(" ")
            _write(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot write {type(value).__name__} as EDN")


# --- the fast reader -------------------------------------------------------------------------

_STRING = re.compile(r'("[^"\\\n]*(?:\\.[^"\\\n]*)*")')
_KEYWORD = re.compile(r":([A-Za-z0-9*+!_?<>=.$%&/'\-][A-Za-z0-9*+!_?<>=.$%&/'\-]*)")
_AFTER_DELIMITER = r"(?:(?<=[\s,\[\](){}\x00])|\A)"
_SET = re.compile(_AFTER_DELIMITER + r"#\{")
_TAG = re.compile(_AFTER_DELIMITER + r"#[A-Za-z][A-Za-z0-9.\-_/]*")
_UNSURE = ("\\", ";", "@", "^", "`", "~", '"', "#_", "null")
_BLANK_LINE = re.compile(r"\n[ ,\t\r]*\n")
_CONTAINERS = frozenset({dict, list})
_BIG_NUMBER = re.compile(r"[0-9]{19}")  # orjson would read an integer past 64 bits as a float


class _NotSure(Exception):
    """The fast reader's way of saying: let the strict reader decide."""


def fast_forms(text: str) -> list[Any] | None:
    """One form per line of ``text`` (whole lines, no blank one), or ``None`` when the text holds
    anything this reader is not sure of."""
    if "\x00" in text or "\\/" in text or not text.strip(" ,\t\r"):
        return None
    if ("\n\n" in text or "\n " in text or "\n," in text or "\n\t" in text) and (
        _BLANK_LINE.search("\n" + text + "\n")
    ):
        return None
    parts = _STRING.split(text)
    rest = "\x00".join(parts[0::2])
    if any(sign in rest for sign in _UNSURE) or _BIG_NUMBER.search(rest):
        return None  # a quote no string regex matched is a string across lines
    if "nil" in rest:
        rest = ("," + rest).replace(",nil", ",null").replace(" nil", " null")
        rest = rest.replace("[nil", "[null").replace("\nnil", "\nnull")[1:]
    if "#" in rest:
        rest = _TAG.sub(" ", _SET.sub("\x01", rest))
    rest = '"'.join(_KEYWORD.split(rest))
    rest = rest.replace("{", '{"m":[').replace("\x01", '{"s":[').replace("}", "]}")
    rest = rest.replace("(", "[").replace(")", "]")
    rest = rest.replace(",", " ").replace("\n", " ")
    if "\t" in rest or "\r" in rest:
        rest = rest.replace("\t", " ").replace("\r", " ")
    while "  " in rest:
        rest = rest.replace("  ", " ")
    rest = rest.replace(" ", ",")
    if "[," in rest or ",]" in rest:
        rest = rest.replace("[,", "[").replace(",]", "]")
    parts[0::2] = rest.split("\x00")
    lines = text.count("\n") + 1
    try:
        data = orjson.loads("[" + "".join(parts).strip(",") + "]")
        forms = [_pair(form, 0) for form in data]
    except (orjson.JSONDecodeError, _NotSure, RecursionError):
        return None
    return forms if len(forms) == lines else None


def _pair(value: Any, depth: int) -> Any:
    """Turn the fast reader's map and set markers back into dicts and lists."""
    if depth >= MAX_DEPTH:
        raise _NotSure
    kind = type(value)
    if kind is dict:
        ((marker, items),) = value.items()  # the only objects are the markers
        if marker == "s":
            return [_pair(v, depth + 1) for v in items]
        if marker != "m" or len(items) % 2:
            raise _NotSure
        pairs = iter(items)
        try:
            result = dict(zip(pairs, pairs, strict=True))
        except TypeError:
            raise _NotSure from None  # a collection as a map key
        if len(result) * 2 != len(items):
            raise _NotSure  # a repeated key
        if not _CONTAINERS.isdisjoint(map(type, result.values())):
            for key, item in result.items():
                if type(item) is dict or type(item) is list:
                    result[key] = _pair(item, depth + 1)
        return result
    if kind is list and not _CONTAINERS.isdisjoint(map(type, value)):
        for n, item in enumerate(value):
            if type(item) is dict or type(item) is list:
                value[n] = _pair(item, depth + 1)
    return value


# --- the strict reader -----------------------------------------------------------------------

_TOKEN = re.compile(
    r"""(?P<ws>[\s,]+|;[^\n]*)
    |(?P<open>\#\{|[\[({])
    |(?P<close>[\])}])
    |(?P<string>"(?:[^"\\]|\\.)*")
    |(?P<discard>\#_)
    |(?P<tag>\#[A-Za-z][A-Za-z0-9.\-_/]*)
    |(?P<char>\\(?:newline|space|tab|return|formfeed|backspace|u[0-9A-Fa-f]{4}|\S))
    |(?P<atom>[^\s,\[\](){}"\\;\#][^\s,\[\](){}"\\;]*)
    |(?P<unterminated>")
    """,
    re.VERBOSE | re.DOTALL,
)
_INT = re.compile(r"[+-]?(?:0|[1-9][0-9]*)N?\Z")
_FLOAT = re.compile(r"[+-]?(?:0|[1-9][0-9]*)(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?M?\Z")
_CHARS = {"newline": "\n", "space": " ", "tab": "\t", "return": "\r"}
_CHARS |= {"formfeed": "\f", "backspace": "\b"}
_ESCAPES = {"t": "\t", "r": "\r", "n": "\n", "\\": "\\", '"': '"', "b": "\b", "f": "\f"}
_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")
_CLOSING = {"[": "]", "(": ")", "{": "}", "#{": "}"}


def loads(text: str) -> Any:
    """The single EDN form in ``text``; :class:`EdnError` when there is not exactly one."""
    forms = read_forms(text)
    if len(forms) != 1:
        raise EdnError(1, 1, f"holds {len(forms)} EDN forms, not one")
    return forms[0][1]


def read_forms(text: str, first_line: int = 1) -> list[tuple[int, Any]]:
    """Every top-level form of ``text`` with the line it starts on.

    Raises :class:`Incomplete` when the text ends inside a form, :class:`EdnError` for anything
    else that is not EDN read here.
    """
    return _Reader(text, first_line).forms()


class _Reader:
    def __init__(self, text: str, first_line: int) -> None:
        self.text = text
        self.first_line = first_line
        self.pos = 0

    def where(self, pos: int) -> tuple[int, int]:
        line = self.text.count("\n", 0, pos)
        start = self.text.rfind("\n", 0, pos) + 1
        return self.first_line + line, pos - start + 1

    def fail(self, pos: int, problem: str) -> EdnError:
        line, column = self.where(pos)
        return EdnError(line, column, problem)

    def forms(self) -> list[tuple[int, Any]]:
        found: list[tuple[int, Any]] = []
        while True:
            start = self.skip()
            if start >= len(self.text):
                return found
            value = self.form(0)
            if value is not _DISCARDED:
                found.append((self.where(start)[0], value))

    def skip(self) -> int:
        """Move past whitespace and comments; the position of the next token."""
        text, pos = self.text, self.pos
        while pos < len(text):
            match = _TOKEN.match(text, pos)
            if match is None or match.lastgroup != "ws":
                break
            pos = match.end()
        self.pos = pos
        return pos

    def form(self, depth: int) -> Any:
        start = self.skip()
        if start >= len(self.text):
            raise self.incomplete(start)
        match = _TOKEN.match(self.text, start)
        if match is None:
            raise self.fail(start, f"unexpected {self.text[start]!r}")
        kind, token = match.lastgroup, match.group()
        self.pos = match.end()
        if kind == "open":
            if depth >= MAX_DEPTH:
                raise self.fail(start, f"nests deeper than {MAX_DEPTH} levels")
            return self.collection(token, start, depth + 1)
        if kind == "close":
            raise self.fail(start, f"unexpected {token!r}")
        if kind == "string":
            return self.string(token, start)
        if kind == "unterminated":
            line, column = self.where(start)
            raise Incomplete(line, column, start, "string")
        if kind == "discard":
            self.form(depth)
            return _DISCARDED
        if kind == "tag":
            value = self.form(depth)
            if value is _DISCARDED:
                raise self.fail(start, f"the tag {token} has nothing to tag")
            return value
        if kind == "char":
            name = token[1:]
            if len(name) == 1:
                return name
            return _CHARS.get(name) or chr(int(name[1:], 16))
        return self.atom(token, start)

    def incomplete(self, at: int) -> Incomplete:
        line, column = self.where(at)
        return Incomplete(line, column, at)

    def collection(self, opener: str, start: int, depth: int) -> Any:
        closer = _CLOSING[opener]
        items: list[Any] = []
        while True:
            at = self.skip()
            if at >= len(self.text):
                raise Incomplete(*self.where(start), start)
            if self.text[at] in "])}":
                self.pos = at + 1
                if self.text[at] != closer:
                    raise self.fail(at, f"unexpected {self.text[at]!r} (expected {closer!r})")
                break
            item = self.form(depth)
            if item is not _DISCARDED:
                items.append(item)
        if opener != "{":
            return items
        if len(items) % 2:
            raise self.fail(start, "holds a map with a key and no value")
        result: dict[Any, Any] = {}
        for key, item in zip(items[0::2], items[1::2], strict=True):
            if isinstance(key, list | dict):
                raise self.fail(start, "holds a map whose key is a collection")
            if key in result:
                raise self.fail(start, f"holds a map with the key {key!r} twice")
            result[key] = item
        return result

    def string(self, token: str, start: int) -> str:
        body = token[1:-1]
        if "\\" not in body:
            return body
        out: list[str] = []
        n = 0
        while n < len(body):
            char = body[n]
            if char != "\\":
                out.append(char)
                n += 1
                continue
            code = body[n + 1]
            if code in _ESCAPES:
                out.append(_ESCAPES[code])
                n += 2
            elif code == "u" and _HEX4.fullmatch(body, n + 2, n + 6):
                point = int(body[n + 2 : n + 6], 16)
                n += 6
                if 0xD800 <= point < 0xDC00 and body[n : n + 2] == "\\u":
                    low = body[n + 2 : n + 6]
                    if _HEX4.fullmatch(low) and 0xDC00 <= int(low, 16) < 0xE000:
                        point = 0x10000 + ((point - 0xD800) << 10) + int(low, 16) - 0xDC00
                        n += 6
                if 0xD800 <= point < 0xE000:
                    raise self.fail(start + n - 5, "has a lone UTF-16 surrogate in a string")
                out.append(chr(point))
            else:
                raise self.fail(start + n + 1, f"has an unknown string escape \\{code}")
        return "".join(out)

    def atom(self, token: str, start: int) -> Any:
        if token == "nil":
            return None
        if token in ("true", "false"):
            return token == "true"
        if _INT.match(token):
            return int(token.rstrip("N"))
        if _FLOAT.match(token):
            return float(token.rstrip("M"))
        if token[0] in "0123456789" or (token[0] in "+-" and token[1:2].isdigit()):
            raise self.fail(start, f"has a number EDN Jepsen writes does not hold ({token!r})")
        if token.startswith(":"):
            if len(token) == 1:
                raise self.fail(start, "has ':' with no keyword name")
            return token[1:]
        return token  # a symbol


_DISCARDED: Any = object()


def forms_of(lines: Iterable[str]) -> list[Any]:
    """The forms of ``lines`` joined (for tests and small inputs): fast when it can be."""
    text = "\n".join(lines)
    fast = fast_forms(text)
    return fast if fast is not None else [value for _, value in read_forms(text)]
