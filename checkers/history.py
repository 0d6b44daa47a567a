"""Reading a history (history-format.md, version 1) into records the checkers can rely on.

:func:`load_history` streams ``history.jsonl`` (from a run directory or a bare file) and checks
every line against the format before anything is judged. A line that breaks the format raises
:class:`HistoryError`, whose message names the file, the line and the problem and says what to do
next; a reader never returns half a history.

Readings of the format that this module commits to (the checkers build on them):

- Strict, because the history could not be interpreted otherwise: a line that is not a JSON
  object; a missing or ill-typed field (``null`` counts as absent only for the optional fields
  ``node``, ``error``, ``digest`` and ``seq``); ``index`` not equal to the line's position;
  ``time`` decreasing; a ``type`` or ``process`` outside the format; a completion with no pending
  invoke of the same ``f`` on its process; a client invoke while that process has an operation in
  flight; a ``deliver`` that is not a single ``ok`` line of a client; a send whose recipients
  include its sender; two sends of one ``id`` that disagree on ``conv``, ``from``, ``to`` or
  ``digest``; a blank line followed by more operations.
- Tolerant, because no definition depends on it: unknown fields; client operations other than
  ``send`` and ``deliver`` (paired like any operation, otherwise ignored); a process reused after
  an operation ended ``info``; a delivery line whose ``conv`` or ``from`` differs from the send's
  (the send's are used); a delivery of a message before its send was invoked; nemesis and harness
  operations overlapping each other.
- An ``invoke`` never completed by the end of the file ends ``info`` (``end_index`` is ``None``).
"""

from __future__ import annotations

import gc
import os
import re
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from io import BufferedReader
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import orjson

from checkers.errors import FIX_LINE, HistoryError
from checkers.source import Chunk, Progress, chunks, no_progress

HISTORY_FILE = "history.jsonl"
CONTROL_PROCESSES = frozenset({"nemesis", "harness"})
OP_TYPES = frozenset({"invoke", "ok", "fail", "info"})

_FIX_LINE = FIX_LINE
_FIX_JSON = (
    "A run killed while writing can leave a partial last line: delete it, or fix the line, "
    "and run the check again."
)


@dataclass(slots=True)
class Send:
    """One attempt to send a message: its ``invoke`` line and what completed it.

    ``outcome`` is ``"ok"``, ``"fail"`` or ``"info"``; an attempt with no completion by the end
    of the file is ``"info"`` with ``end_index`` ``None``. ``seq`` is the sequence number an ``ok``
    completion reported, if any. Retries are further ``Send`` records with the same ``id``.
    """

    index: int
    process: int
    id: str
    conv: str
    sender: str
    to: tuple[str, ...]
    digest: str | None
    outcome: str = "info"
    end_index: int | None = None
    seq: int | None = None


class Delivery(NamedTuple):
    """One ``deliver`` line: ``user`` saw message ``id`` at history index ``index``.

    A named tuple: millions are made per history, and ``tuple.__new__`` builds one in C.
    """

    index: int  # type: ignore[assignment]  # the field, not tuple.index
    process: int
    id: str
    conv: str
    sender: str
    user: str
    seq: int | None
    digest: str | None


@dataclass(slots=True)
class ControlOp:
    """A nemesis or harness line (``process`` is ``"nemesis"`` or ``"harness"``), kept verbatim."""

    index: int
    time: int
    process: str
    type: str
    f: str
    value: Any


@dataclass
class History:
    """A whole history, read and validated.

    ``sends`` are in the order of their invoke lines, ``deliveries`` and ``control`` in line order.
    ``drain_index`` is the index of the ``ok`` line of the last completed drain, or ``None`` when
    no drain completed (loss then cannot be proven). ``other_client_ops`` counts the lines of
    client operations other than ``send`` and ``deliver``.
    """

    source: str
    operations: int = 0
    sends: list[Send] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)
    control: list[ControlOp] = field(default_factory=list)
    other_client_ops: int = 0
    drain_index: int | None = None

    @property
    def drain_completed(self) -> bool:
        return self.drain_index is not None

    def __repr__(self) -> str:
        return (
            f"History({self.source!r}, {self.operations} operations, {len(self.sends)} sends, "
            f"{len(self.deliveries)} deliveries, drain_index={self.drain_index})"
        )


def load_history(path: str | Path, progress: Progress = no_progress) -> History:
    """Read and validate a run directory's ``history.jsonl``, or a bare history file.

    Streams the file once, in chunks (``progress`` hears how far). Raises :class:`HistoryError`
    on the first line that breaks the format, when the file cannot be opened, and when it is not
    a regular file (a FIFO, a device such as /dev/zero): those could block or never end, so they
    are refused before a byte is read. A file named ``*.edn``, or starting as EDN does, is read
    as Jepsen EDN op maps (:mod:`checkers.jepsen_edn`) under the same rules; a Jepsen queue
    history (``:send``/``:poll`` micro-operations) is refused here: :func:`checkers.read_history`
    reads both.
    """
    path = history_file(path)
    try:
        with open_regular(path) as stream, collector_paused():
            size = os.fstat(stream.fileno()).st_size
            lines = chunks(stream, str(path), size, progress)
            if path.suffix == ".edn" or _starts_as_edn(stream):
                from checkers.jepsen_edn import edn_ops, refuse_queue_shape

                return parse_ops(
                    refuse_queue_shape(edn_ops(lines, str(path)), str(path)), str(path)
                )
            return parse_ops(json_ops(lines, str(path)), str(path))
    except OSError as exc:
        raise HistoryError(
            str(path), None, f"cannot be read ({exc.strerror or exc})", "Check the path."
        ) from exc


def history_file(path: str | Path) -> Path:
    """The history file of ``path``: itself, or the ``history.jsonl`` of a run directory."""
    path = Path(path)
    if path.is_dir():
        path = path / HISTORY_FILE
        if not path.is_file():
            raise HistoryError(
                str(path.parent),
                None,
                f"this run directory has no {HISTORY_FILE}",
                "Pass a run directory that holds a history, or the history file itself.",
            )
    return path


def _starts_as_edn(lines: BinaryIO) -> bool:
    """Peek at the start of an open file: is it EDN? (see :func:`looks_like_edn`)"""
    return looks_like_edn(lines.peek(256) if hasattr(lines, "peek") else b"")


def looks_like_edn(head: bytes) -> bool:
    """Whether a file starting with ``head`` is EDN (``{:``, ``[``, a tag such as
    ``#jepsen.history.Op{``), not JSON lines (``{"``)."""
    head = head.lstrip()
    return head.startswith((b"[", b"#")) or re.match(rb"\{\s*:", head) is not None


_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def open_regular(path: Path) -> BufferedReader:
    """``path`` opened for binary reading; HistoryError when it is not a regular file.

    Opened without blocking (a FIFO with no writer would block ``open``), then checked on the
    open descriptor, so the file that is read is the file that was checked.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
        raise HistoryError(
            str(path),
            None,
            f"is {kind}, not a history file",
            "Pass a run directory or a regular history.jsonl file.",
        )
    os.set_blocking(fd, True)
    stream: BufferedReader = os.fdopen(fd, "rb")
    return stream


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for a bulk build of acyclic records.

    Reading builds millions of small objects and no reference cycles; the collector would only
    rescan them, again and again, as the heap grows. It is restored as it was on exit.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def parse_history(lines: Iterable[bytes | str], source: str = "<history>") -> History:
    """Validate history lines (with or without their newline) and return the :class:`History`.

    Same rules and errors as :func:`load_history`; ``source`` names the input in messages.
    """
    raw = [line if isinstance(line, bytes) else line.encode() for line in lines]
    return parse_ops(json_ops([Chunk(1, raw, True)], source), source)


def parse_ops(ops: Iterable[tuple[int, Any]], source: str = "<history>") -> History:
    """Validate decoded operations, each with its 1-based line, and return the :class:`History`."""
    return _Reader(source).read(ops)


def json_ops(lines: Iterable[Chunk], source: str) -> Iterator[tuple[int, Any]]:
    """Each JSON line decoded, with its line number; blank lines only at the end of the file."""
    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    blank = 0
    for chunk in lines:
        line = chunk.first
        for raw in chunk.lines:
            try:
                op = loads(raw)
            except decode_error as exc:
                if not raw.strip():
                    blank = blank or line
                    line += 1
                    continue
                raise HistoryError(
                    source,
                    line,
                    f"line {line} is not JSON ({exc.msg}, column {exc.colno})",
                    _FIX_JSON,
                ) from None
            if blank:
                raise blank_line_error(source, blank)
            yield line, op
            line += 1


def blank_line_error(source: str, line: int) -> HistoryError:
    return HistoryError(
        source,
        line,
        f"line {line} is blank, but blank lines are allowed only at the end of the file",
    )


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _is_opt_str(value: Any) -> bool:
    return value is None or type(value) is str


def _field_problem(obj: dict[str, Any], name: str, wanted: str, where: str = "") -> str:
    prefix = f"{where} " if where else ""
    if name not in obj:
        return f"{prefix}has no field {name!r}"
    return f"{prefix}has field {name!r} of type {_type_name(obj[name])}, but it must be {wanted}"


_Fields = tuple[tuple[str, bool, type], ...]
_SEND_FIELDS: _Fields = (("id", True, str), ("conv", True, str), ("from", True, str))
_SEND_FIELDS += (("to", True, list), ("digest", False, str))
_DELIVER_FIELDS: _Fields = (("id", True, str), ("conv", True, str), ("from", True, str))
_DELIVER_FIELDS += (("user", True, str), ("seq", False, int), ("digest", False, str))
_WANTED = {str: "a string", int: "an int", list: "a list of user names"}


class _Reader:
    """One pass over the lines; holds only what validation needs (processes in flight, ids)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.history = History(source)
        self.strings: dict[str, str] = {}
        # client process -> (f, Send or None, invoke index); control (process, f) -> invoke index
        self.in_flight: dict[int, tuple[str, Send | None, int]] = {}
        self.control_pending: dict[tuple[str, str], int] = {}
        self.first_send: dict[str, Send] = {}

    def fail(self, line: int, problem: str, hint: str = _FIX_LINE) -> HistoryError:
        return HistoryError(self.source, line, f"line {line} {problem}", hint)

    def read(self, ops: Iterable[tuple[int, Any]]) -> History:
        history = self.history
        deliver = history.deliveries.append
        new = tuple.__new__  # Delivery._make without its Python-level length check
        intern = self.strings.setdefault
        last_time = -(1 << 63)
        index = 0
        for line, op in ops:
            if type(op) is not dict:
                raise self.fail(line, f"is a JSON {_type_name(op)}, not an object")
            try:
                op_index, time, process = op["index"], op["time"], op["process"]
                op_type, f, value = op["type"], op["f"], op["value"]
            except KeyError:
                raise self.fail(line, self.missing_problem(op, index)) from None
            if op_index != index or type(op_index) is not int:
                raise self.fail(line, self.index_problem(op, index))
            if type(time) is not int:
                raise self.fail(line, _field_problem(op, "time", "an int"))
            if time < last_time:
                raise self.fail(
                    line,
                    f"has time {time}, earlier than the line before it ({last_time}); "
                    "time must never decrease down the file",
                )
            last_time = time
            if type(op_type) is not str or op_type not in OP_TYPES or type(f) is not str:
                raise self.fail(line, self.header_problem(op))
            if len(op) > 6:
                node, error = op.get("node"), op.get("error")
                if (node is not None and type(node) is not str) or (
                    error is not None and type(error) is not str
                ):
                    raise self.fail(line, self.optional_problem(op))
            if type(process) is int and process >= 0:
                if f != "deliver":
                    self.client_op(line, index, process, op_type, f, value)
                elif op_type == "ok" and type(value) is dict:
                    get = value.get
                    msg, conv, sender, user = get("id"), get("conv"), get("from"), get("user")
                    seq, digest = get("seq"), get("digest")
                    if (
                        type(msg) is str
                        and type(conv) is str
                        and type(sender) is str
                        and type(user) is str
                        and (seq is None or type(seq) is int)
                        and (digest is None or type(digest) is str)
                    ):
                        deliver(
                            new(
                                Delivery,
                                (
                                    index,
                                    process,
                                    intern(msg, msg),
                                    intern(conv, conv),
                                    intern(sender, sender),
                                    intern(user, user),
                                    seq,
                                    digest if digest is None else intern(digest, digest),
                                ),
                            )
                        )
                    else:
                        raise self.value_problem(line, value, _DELIVER_FIELDS, "deliver")
                else:
                    raise self.delivery_problem(line, op_type, value)
            elif type(process) is str and process in CONTROL_PROCESSES:
                self.control_op(line, index, time, process, op_type, f, value)
            else:
                raise self.fail(line, self.process_problem(op))
            index += 1
        history.operations = index
        return history

    @classmethod
    def missing_problem(cls, op: dict[str, Any], expected: int) -> str:
        """What is wrong first, in the order the fast path checks, for a line missing a field."""
        if op.get("index") != expected or type(op["index"]) is not int:
            return cls.index_problem(op, expected)
        if type(op.get("time")) is not int:
            return _field_problem(op, "time", "an int")
        if "type" not in op or "f" not in op:
            return cls.header_problem(op)
        if "value" not in op:
            return "has no field 'value'"
        return "has no field 'process'"

    @staticmethod
    def index_problem(op: dict[str, Any], expected: int) -> str:
        value = op.get("index")
        if type(value) is not int:
            return _field_problem(op, "index", "an int")
        return f"has index {value}, but it is operation number {expected} of the file (from 0)"

    @staticmethod
    def header_problem(op: dict[str, Any]) -> str:
        op_type = op.get("type")
        if type(op_type) is str and op_type not in OP_TYPES:
            return f"has type {op_type!r}, but it must be 'invoke', 'ok', 'fail' or 'info'"
        if type(op_type) is not str:
            return _field_problem(op, "type", "a string")
        return _field_problem(op, "f", "a string")

    @staticmethod
    def optional_problem(op: dict[str, Any]) -> str:
        name = "node" if not _is_opt_str(op.get("node")) else "error"
        return _field_problem(op, name, "a string")

    @staticmethod
    def process_problem(op: dict[str, Any]) -> str:
        if "process" not in op:
            return "has no field 'process'"
        return (
            f"has process {op['process']!r}, but it must be a client number (an int >= 0), "
            "'nemesis' or 'harness'"
        )

    def value_problem(
        self, line: int, value: Any, fields: tuple[tuple[str, bool, type], ...], what: str
    ) -> HistoryError:
        """The error for a send or deliver value that failed the fast checks."""
        if type(value) is not dict:
            return self.fail(line, f"is a {what} whose value is {_type_name(value)}, not an object")
        for name, required, kind in fields:
            item = value.get(name)
            if type(item) is kind or (item is None and not required):
                continue
            return self.fail(
                line, _field_problem(value, name, _WANTED[kind], f"is a {what} whose value")
            )
        return self.fail(line, f"is a {what} whose 'to' must list user names (strings)")

    def delivery_problem(self, line: int, op_type: str, value: Any) -> HistoryError:
        if op_type != "ok":
            return self.fail(
                line,
                f"is a deliver of type {op_type!r}; a delivery is one 'ok' line with no invoke",
            )
        return self.value_problem(line, value, _DELIVER_FIELDS, "deliver")

    def client_op(
        self, line: int, index: int, process: int, op_type: str, f: str, value: Any
    ) -> None:
        pending = self.in_flight.get(process)
        if op_type == "invoke":
            if pending is not None:
                raise self.fail(
                    line,
                    f"invokes {f} on process {process}, whose {pending[0]} invoked at index "
                    f"{pending[2]} has not completed; a client process has at most one "
                    "operation in flight",
                )
            send = self.send(line, index, process, value) if f == "send" else None
            if send is None:
                self.history.other_client_ops += 1
            self.in_flight[process] = (f, send, index)
            return
        if pending is None or pending[0] != f:
            busy = "nothing" if pending is None else f"a {pending[0]} (index {pending[2]})"
            raise self.fail(
                line,
                f"completes a {f} ({op_type}) on process {process}, which has {busy} in flight; "
                "a completion needs an earlier invoke of the same f on the same process",
            )
        del self.in_flight[process]
        send = pending[1]
        if send is not None:
            self.complete_send(line, index, send, op_type, value)
        else:
            self.history.other_client_ops += 1

    def send(self, line: int, index: int, process: int, value: Any) -> Send:
        if not self.send_value_ok(value):
            raise self.value_problem(line, value, _SEND_FIELDS, "send")
        intern = self.strings.setdefault
        digest = value.get("digest")
        send = Send(
            index,
            process,
            intern(value["id"], value["id"]),
            intern(value["conv"], value["conv"]),
            intern(value["from"], value["from"]),
            tuple(dict.fromkeys(intern(user, user) for user in value["to"])),
            digest if digest is None else intern(digest, digest),
        )
        if send.sender in send.to:
            raise self.fail(
                line, f"is a send of {send.id} whose recipients include its sender {send.sender}"
            )
        first = self.first_send.setdefault(send.id, send)
        if first is not send:
            self.check_retry(line, first, send)
        self.history.sends.append(send)
        return send

    @staticmethod
    def send_value_ok(value: Any) -> bool:
        if type(value) is not dict:
            return False
        get = value.get
        to = get("to")
        digest = get("digest")
        return (
            type(get("id")) is str
            and type(get("conv")) is str
            and type(get("from")) is str
            and type(to) is list
            and all(type(user) is str for user in to)
            and (digest is None or type(digest) is str)
        )

    def check_retry(self, line: int, first: Send, retry: Send) -> None:
        for name in ("conv", "sender", "digest"):
            if getattr(first, name) != getattr(retry, name):
                label = "from" if name == "sender" else name
                raise self.fail(
                    line,
                    f"sends {retry.id} with {label} {getattr(retry, name)!r}, but its send at "
                    f"index {first.index} had {getattr(first, name)!r}; a retry must repeat the "
                    "same message (ids are unique in a history)",
                )
        if set(first.to) != set(retry.to):
            raise self.fail(
                line,
                f"sends {retry.id} to {list(retry.to)}, but its send at index {first.index} went "
                f"to {list(first.to)}; a retry must repeat the same message",
            )

    def complete_send(self, line: int, index: int, send: Send, op_type: str, value: Any) -> None:
        if type(value) is dict:
            named = value.get("id", send.id)
            if named != send.id:
                raise self.fail(
                    line,
                    f"completes the send of {send.id} (index {send.index}) but names {named!r}",
                )
            seq = value.get("seq")
            if seq is not None and type(seq) is not int:
                raise self.fail(
                    line, _field_problem(value, "seq", "an int", f"is a {op_type} whose value")
                )
            if op_type == "ok":
                send.seq = seq
        send.outcome = op_type
        send.end_index = index

    def control_op(
        self, line: int, index: int, time: int, process: str, op_type: str, f: str, value: Any
    ) -> None:
        key = (process, f)
        if op_type == "invoke":
            self.control_pending[key] = index
        elif self.control_pending.pop(key, None) is None:
            raise self.fail(
                line,
                f"completes a {process} {f} ({op_type}) that was never invoked (or already "
                "completed); a completion needs an earlier invoke of the same f",
            )
        elif process == "harness" and f == "drain" and op_type == "ok":
            self.history.drain_index = index
        self.history.control.append(ControlOp(index, time, process, op_type, f, value))
