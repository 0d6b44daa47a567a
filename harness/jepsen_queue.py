"""A history in the shape of Jepsen's kafka/queue workload (``jepsen.tests.kafka``), as EDN.

Jepsen's kafka-style checkers read sends and polls of integer-keyed logs: a send is invoked as
``{:f :send, :value [[:send key value] ...]}`` and completes ``ok`` as
``[[:send key [offset value]] ...]`` (``offset`` ``nil`` when unknown); a poll is invoked as
``[[:poll]]`` and completes ``ok`` as ``[[:poll {key [[offset value] ...]}]]``. Pure: history
operations in, EDN lines out; ``splitbrain check`` reads the result back and judges it by
Jepsen's definitions (:mod:`checkers.queue_checks`). The mapping:

- a key is one recipient's feed of one conversation: (conversation, recipient), numbered 0, 1,
  ... in order of first appearance. A Kafka consumer reads a whole partition, but a recipient
  sees only what is addressed to them, so the log a Jepsen consumer reads is that feed: holes in
  its offsets are the seqs of messages addressed to others;
- a send writes its message to the key of each recipient in ``to``, one micro-operation each,
  with the message id as the value and the system's ``seq`` as the offset; it keeps its process,
  outcome and time (``fail``/``info`` repeat the invoke's micro-operations, offsets unknown);
- a ``deliver`` line becomes a poll of that recipient's key: an invoke and an ``ok`` at the same
  time, on the receiving client's consumer process ``consumer_base + process`` (a Jepsen process
  has one operation in flight, and a delivery may fall inside one of its own sends). A delivery
  of an id no send invoked, or to a user not in its ``to``, polls a key of its own;
- each op carries ``:conv`` (and a poll ``:user``); nemesis and harness operations, and other
  client operations, are kept as in ``jepsen-edn``;
- ``:index`` is renumbered (a delivery takes two operations); ``:splitbrain-index`` keeps the
  history line each operation came from, so a finding cites back into history.jsonl.

The digests have no place in this shape.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from checkers.edn import Keyword, dumps
from checkers.jepsen_edn import op_to_edn

K = Keyword


@dataclass
class _Keys:
    """(conversation, recipient) -> integer keys, in order of first appearance."""

    numbers: dict[tuple[str, str], int] = field(default_factory=dict)

    def of(self, conv: Any, user: Any) -> int:
        return self.numbers.setdefault((str(conv), str(user)), len(self.numbers))


def consumer_base(ops: Iterable[Mapping[str, Any]]) -> int:
    """The first process number above every client process of ``ops`` (a power of ten, so that
    consumer process 1000 + 3 reads as client 3's consumer)."""
    top = max((op["process"] for op in ops if type(op.get("process")) is int), default=0)
    base = 10
    while base <= top:
        base *= 10
    return base


def _op(index: int, source: Mapping[str, Any], **fields: Any) -> str:
    data = {K("index"): index, K("time"): source.get("time"), K("process"): source.get("process")}
    data.update({K(name): value for name, value in fields.items()})
    if isinstance(source.get("node"), str):
        data[K("node")] = source["node"]
    data[K("splitbrain-index")] = source.get("index")
    return dumps(data)


def _recipients(value: Mapping[str, Any]) -> list[str]:
    to = value.get("to")
    return [str(user) for user in to] if isinstance(to, list) else []


def queue_lines(ops: Iterable[Mapping[str, Any]], base: int) -> Iterator[str]:
    """EDN lines (no newline) of ``ops`` in the kafka/queue shape; ``base`` from
    :func:`consumer_base` of the same history."""
    keys = _Keys()
    invoked: dict[Any, Mapping[str, Any]] = {}
    conv_of: dict[Any, Any] = {}  # message id -> the conversation its send named
    index = 0
    for op in ops:
        f, kind, value = op.get("f"), op.get("type"), op.get("value")
        value = value if isinstance(value, Mapping) else {}
        if f == "send" and type(op.get("process")) is int:
            if kind == "invoke":
                invoked[op["process"]] = value
                conv_of.setdefault(value.get("id"), value.get("conv"))
            sent = invoked.get(op["process"], value)
            message, conv = sent.get("id"), sent.get("conv")
            written = [value.get("seq"), message] if kind == "ok" else message
            micros = [[K("send"), keys.of(conv, user), written] for user in _recipients(sent)]
            extra = {"error": op["error"]} if isinstance(op.get("error"), str) else {}
            yield _op(index, op, type=K(str(kind)), f=K("send"), value=micros, conv=conv, **extra)
            index += 1
        elif f == "deliver" and type(op.get("process")) is int:
            conv = conv_of.get(value.get("id"), value.get("conv"))
            key = keys.of(conv, value.get("user"))
            consumer = {**op, "process": base + op["process"]}
            yield _op(index, consumer, type=K("invoke"), f=K("poll"), value=[[K("poll")]])
            polled = [K("poll"), {key: [[value.get("seq"), value.get("id")]]}]
            yield _op(
                index + 1,
                consumer,
                type=K("ok"),
                f=K("poll"),
                value=[polled],
                conv=conv,
                user=value.get("user"),
            )
            index += 2
        else:
            yield op_to_edn({**op, "index": index, "splitbrain-index": op.get("index")})
            index += 1
