"""Jepsen's queue checks (``jepsen.tests.kafka``) on a :class:`QueueHistory`, as results.

Each kind is Jepsen's own definition, computed the way ``kafka.clj`` computes it:

- the *version order* of a key is its log: offset -> the values any op put there, from the polls
  of every op (failed and crashed ones too) and from the sends of ops that must have committed
  (``ok``, or ``info`` with a value some ``ok`` poll read); *indexes* are dense offsets;
- ``inconsistent-offsets``: an offset of a key holds two or more values;
- ``duplicate``: a value sits at two or more offsets of a key;
- ``lost-write``: below the highest log index an ``ok`` poll read of a key (``max-read-index``,
  the latest of the first indexes of the values read), a value that no ``ok`` poll read, whose
  writer must have committed;
- ``unseen``: a value sent by an ``ok`` op that no ``ok`` poll read (a map of counts per key);
- ``G1a``: an ``ok`` poll read a value whose send failed;
- ``precommitted-read``: an op read a value it wrote itself;
- ``poll-skip`` / ``nonmonotonic-poll``: between two polls of one process (the first ``ok``), the
  first value read of a key is more than one log index past, or not past, the last one read
  (an assign or subscribe keeps only the keys it names);
- ``nonmonotonic-send``: between two ``ok``/``info`` sends of one process to a key, the second's
  first value is not past the first's last one in the log;
- ``int-poll-skip`` / ``int-nonmonotonic-poll`` / ``int-send-skip`` / ``int-nonmonotonic-send``:
  the same between successive values within one operation (keys in its rebalance log excepted).

Allowed, as Jepsen's ``allowed-error-types`` allows them: ``int-send-skip`` always; ``poll-skip``
and ``nonmonotonic-poll`` when the test subscribes (read here: the history holds a
``:subscribe``). Every kind is a key of ``anomaly_counts``; ``valid`` is false when a kind not
allowed has a count. Jepsen's Elle cycle analysis (G0, G1c, ...) is not run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from checkers.findings import names
from checkers.queue_history import Key, Pair, QueueHistory, QueueOp, Value

KINDS = (
    "lost-write",
    "unseen",
    "duplicate",
    "inconsistent-offsets",
    "G1a",
    "precommitted-read",
    "poll-skip",
    "nonmonotonic-poll",
    "nonmonotonic-send",
    "int-poll-skip",
    "int-nonmonotonic-poll",
    "int-send-skip",
    "int-nonmonotonic-send",
)
ALWAYS_ALLOWED = frozenset({"int-send-skip"})
ALLOWED_UNDER_SUBSCRIBE = frozenset({"poll-skip", "nonmonotonic-poll"})
CHECKER = "jepsen-queue"
Example = dict[str, Any]


def _order(value: Any) -> tuple[str, str]:
    """A total order on values of mixed types (Jepsen picks from sets in hash order)."""
    return (type(value).__name__, repr(value))


def values_of(pairs: list[Pair]) -> list[Value]:
    return [value for _, value in pairs]


@dataclass
class VersionOrder:
    """One key's log (offset -> values, ``None`` for a hole), and its dense order."""

    log: list[set[Value] | None]
    by_index: list[Value]
    by_value: dict[Value, int]


class Analysis:
    """The intermediate structures of Jepsen's ``analysis``, built once per history."""

    def __init__(self, history: QueueHistory) -> None:
        self.history = history
        ops = history.ops
        self.completions = [op for op in ops if op.type != "invoke"]
        self.ok_reads: dict[Key, set[Value]] = {}
        self.failed_writes: dict[Key, set[Value]] = {}
        self.writer_of: dict[Key, dict[Value, QueueOp]] = {}
        self.readers_of: dict[Key, dict[Value, list[QueueOp]]] = {}
        for op in self.completions:
            for key, pairs in op.reads.items():
                readers = self.readers_of.setdefault(key, {})
                for value in values_of(pairs):
                    readers.setdefault(value, []).append(op)
                if op.type == "ok":
                    self.ok_reads.setdefault(key, set()).update(values_of(pairs))
            for key, pairs in op.writes.items():
                writers = self.writer_of.setdefault(key, {})
                for value in values_of(pairs):
                    writers[value] = op
                if op.type == "fail":
                    self.failed_writes.setdefault(key, set()).update(values_of(pairs))
        self.orders = self._version_orders(ops)

    def committed(self, op: QueueOp) -> bool:
        """Jepsen's ``must-have-committed?``: ok, or info with a write some ok poll read."""
        if op.type == "ok":
            return True
        if op.type != "info":
            return False
        return any(
            value in self.ok_reads.get(key, ())
            for key, pairs in op.writes.items()
            for value in values_of(pairs)
        )

    def _version_orders(self, ops: list[QueueOp]) -> dict[Key, VersionOrder]:
        logs: dict[Key, dict[int, set[Value]]] = {}
        for op in ops:
            if op.f not in ("poll", "send", "txn"):
                continue
            sources = [op.reads, op.writes] if self.committed(op) else [op.reads]
            for micro in sources:
                for key, pairs in micro.items():
                    log = logs.setdefault(key, {})
                    for offset, value in pairs:
                        if offset is not None:
                            log.setdefault(offset, set()).add(value)
        orders = {}
        for key, by_offset in logs.items():
            top = max(by_offset, default=-1)
            dense = [by_offset.get(offset) for offset in range(top + 1)]
            by_index = [min(values, key=_order) for values in dense if values]
            by_value = {value: index for index, value in enumerate(by_index)}
            orders[key] = VersionOrder(dense, by_index, by_value)
        return orders

    def delta(self, key: Key, before: Value, after: Value) -> tuple[int, int | None, int | None]:
        """Jepsen's index delta between two values of a key (1 when either has no index)."""
        by_value = self.orders[key].by_value if key in self.orders else {}
        i, j = by_value.get(before), by_value.get(after)
        return (j - i if i is not None and j is not None else 1), i, j

    def skipped(self, key: Key, i: int, j: int) -> list[Value]:
        return self.orders[key].by_index[i + 1 : j]


def cite(*ops: QueueOp) -> list[int]:
    return sorted({op.index for op in ops})


def _example(ids: Iterable[Value], indexes: list[int], why: str, **fields: Any) -> Example:
    return {"ids": [str(v) for v in ids], "users": [], "indexes": indexes, "why": why, **fields}


def inconsistent_offsets(a: Analysis) -> list[Example]:
    found = []
    for key, order in a.orders.items():
        index = 0
        for offset, values in enumerate(order.log):
            if not values:
                continue
            if len(values) > 1:
                shown = sorted(values, key=_order)
                why = (
                    f"Offset {offset} of key {key!r} holds {names([repr(v) for v in shown])}; an "
                    "offset of a log holds one message."
                )
                found.append(
                    _example(shown, [], why, key=key, offset=offset, position=index, values=shown)
                )
            index += 1
    return found


def duplicates(a: Analysis) -> list[Example]:
    found = []
    for key, order in a.orders.items():
        counts = Counter(value for values in order.log if values for value in values)
        for value, count in counts.items():
            if count > 1:
                offsets = [o for o, values in enumerate(order.log) if values and value in values]
                why = (
                    f"{value!r} sits at offsets {names([str(o) for o in offsets])} of key "
                    f"{key!r}; a message has one offset."
                )
                found.append(_example([value], [], why, key=key, value=value, count=count,
                                      offsets=offsets))  # fmt: skip
    return found


def lost_writes(a: Analysis) -> list[Example]:
    found = []
    for key, read in a.ok_reads.items():
        order = a.orders.get(key)
        if order is None:
            continue
        dense = [values for values in order.log if values is not None]
        first_index: dict[Value, int] = {}
        last_index: dict[Value, int] = {}
        for index, values in enumerate(dense):
            for value in values:
                first_index.setdefault(value, index)
                last_index[value] = index
        bound = max((first_index[v] for v in read if v in first_index), default=-1)
        if bound < 0:
            continue
        last_at: list[list[Value]] = [[] for _ in range(bound + 1)]
        for value, index in last_index.items():
            if index <= bound:
                last_at[index].append(value)
        must_read = [v for values in last_at for v in sorted(values, key=_order)]
        top = sorted(last_at[bound], key=_order)
        readers = a.readers_of.get(key, {}).get(top[0], []) if top else []
        max_read = readers[0] if readers else None
        for value in must_read:
            writer = a.writer_of.get(key, {}).get(value)
            if value in read or writer is None or not a.committed(writer):
                continue
            indexes = cite(writer) + ([] if max_read is None else cite(max_read))
            why = (
                f"{value!r} was sent to key {key!r} ({writer.type} at index {writer.index}) and "
                f"sits at log position {first_index[value]}, below position {bound} that a poll "
                + ("read" if max_read is None else f"read at index {max_read.index}")
                + ", yet no successful poll read it."
            )
            found.append(
                _example(
                    [value],
                    indexes,
                    why,
                    key=key,
                    value=value,
                    position=first_index[value],
                    **{"max-read-position": bound},
                    writer=writer.index,
                    **{"max-read": None if max_read is None else max_read.index},
                )
            )
    return found


def unseen(a: Analysis) -> list[Example]:
    sent: dict[Key, dict[Value, QueueOp]] = {}
    polled: dict[Key, set[Value]] = {}
    for op in a.completions:
        if op.type != "ok":
            continue
        for key, pairs in op.writes.items():
            for value in values_of(pairs):
                sent.setdefault(key, {}).setdefault(value, op)
        for key, pairs in op.reads.items():
            polled.setdefault(key, set()).update(values_of(pairs))
    found = []
    for key, values in sent.items():
        for value, op in values.items():
            if value not in polled.get(key, ()):
                why = (
                    f"{value!r} was sent to key {key!r} and acknowledged (index {op.index}), "
                    "but no successful poll ever read it."
                )
                found.append(_example([value], cite(op), why, key=key, value=value))
    return found


def g1a(a: Analysis) -> list[Example]:
    found = []
    for op in a.completions:
        if op.type != "ok" or op.f not in ("poll", "txn"):
            continue
        for key, pairs in op.reads.items():
            failed = a.failed_writes.get(key, set())
            for value in values_of(pairs):
                if value in failed:
                    writer = a.writer_of[key][value]
                    why = (
                        f"The poll at index {op.index} read {value!r} from key {key!r}, whose "
                        f"send failed (index {writer.index}): an aborted read."
                    )
                    found.append(_example([value], cite(writer, op), why, key=key, value=value,
                                          writer=writer.index, reader=op.index))  # fmt: skip
    return found


def precommitted_reads(a: Analysis) -> list[Example]:
    found = []
    for op in a.history.ops:
        for key, pairs in op.writes.items():
            bad = set(values_of(pairs)) & set(values_of(op.reads.get(key, [])))
            if bad:
                value = min(bad, key=_order)
                why = f"The op at index {op.index} read {value!r} from key {key!r}, which it sent."
                found.append(_example([value], cite(op), why, key=key, value=value, op=op.index))
                break
    return found


def _process_ops(a: Analysis) -> dict[int, list[QueueOp]]:
    by_process: dict[int, list[QueueOp]] = {}
    for op in a.history.ops:
        by_process.setdefault(op.process, []).append(op)
    return by_process


def poll_skips_and_nonmonotonic(a: Analysis) -> tuple[list[Example], list[Example]]:
    skips: list[Example] = []
    backwards: list[Example] = []
    for process, ops in _process_ops(a).items():
        last: dict[Key, QueueOp] = {}
        for op in ops:
            if op.f in ("assign", "subscribe"):
                if op.type not in ("invoke", "fail"):
                    last = {k: v for k, v in last.items() if k in op.keys}
                continue
            if op.f not in ("poll", "txn"):
                continue
            for key, pairs in op.reads.items():
                before = last.get(key)
                if before is None or not pairs or not before.reads[key]:
                    continue  # a first read, or an empty one: Jepsen's delta is then 1
                v, w = values_of(before.reads[key])[-1], pairs[0][1]
                delta, i, j = a.delta(key, v, w)
                where = f"process {process} polled {v!r} from key {key!r} (index {before.index})"
                fields = {"key": key, "delta": delta, "ops": cite(before, op)}
                if delta > 1 and i is not None and j is not None:
                    gone = a.skipped(key, i, j)
                    why = (
                        f"{where.capitalize()}, then {w!r} (index {op.index}), skipping "
                        f"{names([repr(x) for x in gone])}."
                    )
                    skips.append(_example(gone, cite(before, op), why, **fields, skipped=gone))
                elif delta < 1:
                    back = "the same position" if delta == 0 else f"{-delta} log positions back"
                    why = (
                        f"{where.capitalize()}, then went back to {w!r} (index {op.index}), {back}."
                    )
                    backwards.append(
                        _example([v, w], cite(before, op), why, **fields, values=[v, w])
                    )
            if op.type == "ok":
                last.update(dict.fromkeys(op.reads, op))
    return skips, backwards


def nonmonotonic_sends(a: Analysis) -> list[Example]:
    found = []
    for process, ops in _process_ops(a).items():
        last: dict[Key, QueueOp] = {}
        for op in ops:
            if op.type not in ("ok", "info"):
                continue
            if op.f in ("assign", "subscribe"):
                last = {k: v for k, v in last.items() if k in op.keys}
                continue
            if op.f not in ("send", "txn"):
                continue
            for key, pairs in op.writes.items():
                before = last.get(key)
                if before is None:
                    continue
                v, w = values_of(before.writes[key])[-1], pairs[0][1]
                delta, _, _ = a.delta(key, v, w)
                if delta < 1:
                    why = (
                        f"Process {process} sent {v!r} to key {key!r} (index {before.index}), "
                        f"then {w!r} (index {op.index}), which the log puts at or before it."
                    )
                    found.append(_example([v, w], cite(before, op), why, key=key, delta=delta,
                                          values=[v, w], ops=cite(before, op)))  # fmt: skip
            last.update(dict.fromkeys(op.writes, op))
    return found


def _internal(
    a: Analysis,
    ops: Iterable[QueueOp],
    micro: Callable[[QueueOp], dict[Key, list[Pair]]],
    verb: str,
) -> tuple[list[Example], list[Example]]:
    skips: list[Example] = []
    backwards: list[Example] = []
    for op in ops:
        for key, pairs in micro(op).items():
            if key in op.rebalanced:
                continue
            for v, w in pairwise(values_of(pairs)):
                delta, i, j = a.delta(key, v, w)
                fields = {"key": key, "values": [v, w], "delta": delta, "op": op.index}
                if delta > 1 and i is not None and j is not None:
                    gone = a.skipped(key, i, j)
                    why = (
                        f"The op at index {op.index} {verb} {v!r} then {w!r} on key {key!r}, "
                        f"skipping {names([repr(x) for x in gone])}."
                    )
                    skips.append(_example(gone, cite(op), why, **fields, skipped=gone))
                elif delta < 1:
                    why = (
                        f"The op at index {op.index} {verb} {v!r} then {w!r} on key {key!r}, "
                        "which the log puts at or before it."
                    )
                    backwards.append(_example([v, w], cite(op), why, **fields))
    return skips, backwards


def judge_queue(history: QueueHistory, max_examples: int = 10) -> dict[str, Any]:
    """Jepsen's queue checks on ``history``, in the results shape of history-format.md.

    The caller may rely on: ``valid``; ``anomaly_counts`` and ``anomalies`` keyed by every name of
    :data:`KINDS`; each example with ``ids`` (the values), ``indexes`` (history ``:index``
    values), ``why`` and Jepsen's fields (``position`` for Jepsen's dense ``:index``,
    ``max-read-position`` for ``:max-read-index``, ops cited by their ``:index``); ``allowed``,
    ``sub_via``, ``stats``, ``checker`` (``"jepsen-queue"``), ``format_version``, ``source``.
    """
    a = Analysis(history)
    polls = poll_skips_and_nonmonotonic(a)
    reads = _internal(a, a.history.ops, lambda op: op.reads, "read")
    writes = _internal(a, a.completions, lambda op: op.writes, "sent")
    found = {
        "lost-write": lost_writes(a),
        "unseen": unseen(a),
        "duplicate": duplicates(a),
        "inconsistent-offsets": inconsistent_offsets(a),
        "G1a": g1a(a),
        "precommitted-read": precommitted_reads(a),
        "poll-skip": polls[0],
        "nonmonotonic-poll": polls[1],
        "nonmonotonic-send": nonmonotonic_sends(a),
        "int-poll-skip": reads[0],
        "int-nonmonotonic-poll": reads[1],
        "int-send-skip": writes[0],
        "int-nonmonotonic-send": writes[1],
    }
    subscribe = history.subscribes > 0
    allowed = sorted(ALWAYS_ALLOWED | (ALLOWED_UNDER_SUBSCRIBE if subscribe else frozenset()))
    counts = {kind: len(found[kind]) for kind in KINDS}
    bad = sorted(kind for kind in KINDS if counts[kind] and kind not in allowed)
    judged = any(op.type == "ok" and op.f in ("send", "poll", "txn") for op in history.ops)
    valid: bool | str = False if bad else (True if judged else "unknown")
    limit = max(0, max_examples)
    return {
        "valid": valid,
        "anomaly_counts": counts,
        "anomalies": {kind: found[kind][:limit] for kind in KINDS},
        "bad_error_types": bad,
        "allowed": allowed,
        "sub_via": ["subscribe"] if subscribe else ["assign"],
        "stats": _stats(history, a),
        "checker": CHECKER,
        "format_version": 1,
        "source": history.source,
    }


def _stats(history: QueueHistory, a: Analysis) -> dict[str, Any]:
    outcomes = Counter(op.type for op in a.completions if op.f in ("send", "txn") and op.writes)
    sends = {name: outcomes.get(name, 0) for name in ("ok", "fail", "info")}
    total = sum(sends.values())
    return {
        "sends": sends,
        "availability": sends["ok"] / total if total else 1.0,
        "operations": history.operations,
        "client_operations": len(history.ops),
        "keys": len(a.orders.keys() | a.writer_of.keys()),
        "processes": len({op.process for op in history.ops}),
    }
