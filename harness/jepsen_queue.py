"""A history in the shape of Jepsen's kafka/queue workload (``jepsen.tests.kafka``), as EDN.

Jepsen's kafka-style checkers read sends and polls of integer-keyed logs: a send is invoked as
``{:f :send, :value [[:send key value]]}`` and completes ``ok`` as ``[[:send key [offset value]]]``
(``offset`` ``nil`` when unknown); a poll is invoked as ``[[:poll]]`` and completes ``ok`` as
``[[:poll {key [[offset value] ...]}]]``. Pure: history operations in, EDN lines out. The mapping:

- key = the conversation, numbered 0, 1, ... in order of first appearance (each op carries the
  name as ``:conv``); value = the message id; offset = the ``seq`` the system gave it;
- a send keeps its process, outcome and time (``fail``/``info`` repeat the invoke's value);
- a ``deliver`` line becomes a poll: an invoke and an ``ok`` at the same time, on the receiving
  client's consumer process ``consumer_base + process`` (a Jepsen process has one operation in
  flight, and a delivery may fall inside one of its own sends), with ``:user`` the recipient;
- nemesis and harness operations, and other client operations, are kept as in ``jepsen-edn``;
- ``:index`` is renumbered (a delivery takes two operations); ``:splitbrain-index`` keeps the
  history line each operation came from, so a finding cites back into history.jsonl.

It is export only: the recipients of a send and the digests have no place in this shape.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import edn_format
from edn_format import Keyword

from checkers.jepsen_edn import op_to_edn

K = Keyword


@dataclass
class _Keys:
    """Conversation names -> integer keys, in order of first appearance."""

    numbers: dict[str, int] = field(default_factory=dict)

    def of(self, conv: Any) -> int:
        return self.numbers.setdefault(str(conv), len(self.numbers))


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
    return edn_format.dumps(data)


def queue_lines(ops: Iterable[Mapping[str, Any]], base: int) -> Iterator[str]:
    """EDN lines (no newline) of ``ops`` in the kafka/queue shape; ``base`` from
    :func:`consumer_base` of the same history."""
    keys = _Keys()
    invoked: dict[Any, Mapping[str, Any]] = {}
    index = 0
    for op in ops:
        f, kind, value = op.get("f"), op.get("type"), op.get("value")
        value = value if isinstance(value, Mapping) else {}
        if f == "send" and type(op.get("process")) is int:
            if kind == "invoke":
                invoked[op["process"]] = value
            sent = invoked.get(op["process"], value)
            key, message = keys.of(sent.get("conv")), sent.get("id")
            if kind == "ok":
                micro = [K("send"), key, [value.get("seq"), message]]
            else:
                micro = [K("send"), key, message]
            extra = {"error": op["error"]} if isinstance(op.get("error"), str) else {}
            yield _op(
                index,
                op,
                type=K(str(kind)),
                f=K("send"),
                value=[micro],
                conv=sent.get("conv"),
                **extra,
            )
            index += 1
        elif f == "deliver" and type(op.get("process")) is int:
            key, message = keys.of(value.get("conv")), value.get("id")
            consumer = {**op, "process": base + op["process"]}
            yield _op(index, consumer, type=K("invoke"), f=K("poll"), value=[[K("poll")]])
            polled = [K("poll"), {key: [[value.get("seq"), message]]}]
            yield _op(
                index + 1,
                consumer,
                type=K("ok"),
                f=K("poll"),
                value=[polled],
                conv=value.get("conv"),
                user=value.get("user"),
            )
            index += 2
        else:
            yield op_to_edn({**op, "index": index, "splitbrain-index": op.get("index")})
            index += 1
