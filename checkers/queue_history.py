"""Reading a Jepsen queue history (``jepsen.tests.kafka``) into records the queue checks rely on.

Operations are Jepsen op maps (read from EDN by :mod:`checkers.jepsen_edn`, keywords as their
names). Client operations (an integer ``:process``) of ``:f`` ``send``, ``poll`` or ``txn`` carry
micro-operations: ``[:send k v]`` (completing as ``[:send k [offset v]]``, offset ``nil`` when
unknown), ``[:poll]`` (completing as ``[:poll {k [[offset v] ...]}]``); ``:assign`` and
``:subscribe`` carry a list of keys; any op may carry ``:rebalance-log`` (``[{:keys [k ...]}]``).
Other operations (the nemesis, ``:crash``, ...) are kept out of the analysis, as Jepsen's
``h/client-ops`` keeps them out.

Strict where the checks could not read an operation otherwise: an op that is not a map; a
``:type`` other than invoke/ok/fail/info; an ``:f`` that is not a name; an ``:index`` that is not
an integer; micro-operations that are not ``[:send k v]``, ``[:poll]`` or ``[:poll {k pairs}]``;
a pair that is not ``[offset value]`` with an integer or ``nil`` offset. Tolerant of everything
else (unknown keys, processes reused, any ``:time``). An op without ``:index`` takes its
position in the file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from checkers.errors import HistoryError

Key = Any
"""A key: an integer (or a name) standing for one topic-partition."""
Value = Any
"""A message value: an integer or a name, hashable."""
Pair = tuple[int | None, Value]

TYPES = frozenset({"invoke", "ok", "fail", "info"})
MICRO_FS = frozenset({"send", "poll", "txn"})
ASSIGN_FS = frozenset({"assign", "subscribe"})
_FIX = (
    "Jepsen queue histories hold op maps whose :value is a vector of [:send k v] and [:poll] "
    "micro-operations (jepsen.tests.kafka): fix that line and run the check again."
)


@dataclass(slots=True)
class QueueOp:
    """One client operation. ``writes`` and ``reads`` map each key to its (offset, value) pairs in
    the order the op lists them (an offset is ``None`` when unknown); ``keys`` are the keys of an
    assign or subscribe; ``rebalanced`` the keys of its rebalance log."""

    index: int
    line: int
    process: int
    type: str
    f: str
    writes: dict[Key, list[Pair]] = field(default_factory=dict)
    reads: dict[Key, list[Pair]] = field(default_factory=dict)
    keys: tuple[Key, ...] = ()
    rebalanced: frozenset[Key] = frozenset()
    error: Any = None


@dataclass
class QueueHistory:
    """A Jepsen queue history: its client operations in file order, and what else it held."""

    source: str
    ops: list[QueueOp] = field(default_factory=list)
    operations: int = 0
    other_ops: int = 0
    subscribes: int = 0


def parse_queue_ops(ops: Iterable[tuple[int, Any]], source: str) -> QueueHistory:
    """Validate decoded op maps (each with its 1-based line) into a :class:`QueueHistory`."""
    history = QueueHistory(source)
    position = 0
    for line, op in ops:
        history.operations += 1
        if not isinstance(op, dict):
            raise _fail(source, line, f"is a {_kind(op)}, not an op map")
        index = op.get("index", position)
        position += 1
        if type(index) is not int:
            raise _fail(source, line, f"has :index {index!r}, but it must be an integer")
        kind = op.get("type")
        if kind not in TYPES:
            raise _fail(source, line, f"has :type {kind!r}, not invoke, ok, fail or info")
        f = op.get("f")
        if not isinstance(f, str):
            raise _fail(source, line, f"has :f {f!r}, but it must be a name")
        process = op.get("process")
        if type(process) is not int:
            history.other_ops += 1
            continue
        record = QueueOp(index, line, process, kind, f, error=op.get("error"))
        value = op.get("value")
        if f in MICRO_FS:
            _micro_ops(record, value, source, line)
        elif f in ASSIGN_FS:
            if not isinstance(value, list):
                raise _fail(source, line, f"is a {f} whose :value is not a vector of keys")
            record.keys = tuple(_hashable(k) for k in value)
            history.subscribes += f == "subscribe"
        record.rebalanced = _rebalanced(op.get("rebalance-log"), source, line)
        history.ops.append(record)
    return history


def _fail(source: str, line: int, problem: str) -> HistoryError:
    return HistoryError(source, line, f"line {line} {problem}", _FIX)


def _kind(value: Any) -> str:
    return "nil" if value is None else type(value).__name__


def _hashable(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted(((repr(k), _hashable(v)) for k, v in value.items())))
    return value


def _micro_ops(record: QueueOp, value: Any, source: str, line: int) -> None:
    if not isinstance(value, list):
        raise _fail(source, line, f"is a {record.f} whose :value is not a vector of micro-ops")
    for micro in value:
        if not isinstance(micro, list) or not micro or micro[0] not in ("send", "poll"):
            raise _fail(source, line, f"has the micro-op {micro!r}, not [:send k v] or [:poll]")
        if micro[0] == "send":
            if len(micro) != 3:
                raise _fail(source, line, f"has the send {micro!r}, not [:send k v]")
            key, written = _hashable(micro[1]), micro[2]
            pair = _pair(written, source, line) if isinstance(written, list) else (None, written)
            if record.f != "poll":  # Jepsen's op-writes reads sends of :send and :txn ops only
                record.writes.setdefault(key, []).append(pair)
        elif len(micro) >= 2 and record.f != "send":
            polled = micro[1]
            if not isinstance(polled, dict):
                raise _fail(source, line, f"has the poll {micro!r}, not [:poll {{k pairs}}]")
            for key, pairs in polled.items():
                if not isinstance(pairs, list):
                    raise _fail(source, line, f"polls key {key!r} with {pairs!r}, not pairs")
                got = record.reads.setdefault(_hashable(key), [])
                got += [_pair(p, source, line) for p in pairs]


def _pair(pair: Any, source: str, line: int) -> Pair:
    if (
        isinstance(pair, list)
        and len(pair) == 2
        and (pair[0] is None or (type(pair[0]) is int and pair[0] >= 0))
    ):
        return pair[0], _hashable(pair[1])
    raise _fail(source, line, f"has {pair!r} where an [offset value] pair must be")


def _rebalanced(log: Any, source: str, line: int) -> frozenset[Key]:
    if log is None:
        return frozenset()
    if not isinstance(log, list) or not all(isinstance(e, dict) for e in log):
        raise _fail(source, line, "has a :rebalance-log that is not a vector of maps")
    keys: set[Key] = set()
    for event in log:
        keys.update(_hashable(k) for k in event.get("keys") or ())
    return frozenset(keys)
