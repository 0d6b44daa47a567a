"""What a history says, arranged for the checkers: messages by id and who saw what, first.

Built once per history by :func:`observe`; every checker reads it and none changes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from checkers.history import Delivery, History, Send

NEVER = 1 << 62
"""The position of a sighting that never happened; later than any history index."""


@dataclass(slots=True)
class Message:
    """One message id and what all its sends (retries included) say about it.

    ``outcome`` is ``"ok"`` if any attempt ended ok, else ``"info"`` if any attempt ended info or
    never completed, else ``"fail"`` (every attempt failed). ``invoke_index`` is the first invoke
    of the id; ``ok_index`` the first ``ok`` completion, or ``None``. ``recipients`` is ``to`` as
    a set: the users the message is addressed to, its only *recipients* in the format's words.
    """

    id: str
    conv: str
    sender: str
    to: tuple[str, ...]
    digest: str | None
    invoke_index: int
    attempts: list[Send] = field(default_factory=list)
    ok_index: int | None = None
    outcome: str = "fail"
    recipients: frozenset[str] = frozenset()

    @property
    def failed(self) -> bool:
        return self.outcome == "fail"


@dataclass(slots=True)
class Conversation:
    """What was seen in one conversation.

    ``sightings`` are the first sightings of each (message, user), in line order; ``orders``
    holds the same per user; ``first`` maps each seen message to its first sighting by anyone,
    in line order.
    """

    sightings: list[Delivery] = field(default_factory=list)
    orders: dict[str, list[Delivery]] = field(default_factory=dict)
    first: dict[str, Delivery] = field(default_factory=dict)


@dataclass
class Observations:
    """The derived facts every checker reads.

    - ``messages``: by id, in the order of their first invoke; ``by_conv`` groups them.
    - ``first_seen[id][user]``: index of the first line on which ``user`` saw ``id``.
    - ``arrivals[(id, user)]``: every index on which ``user`` saw ``id``, only for pairs seen more
      than once.
    - ``conversations``: what was seen, per conversation. A message belongs to its send's
      conversation, or to the delivery's when no send of that id exists.
    - ``seqs[id]``: for each sent message with a ``seq`` report (an ``ok`` send or a delivery),
      each seq it was given -> the first index reporting it (one entry, unless it has several).
    - ``unsent_seqs``: ``(id, conv, seq, index)`` of every delivery with a ``seq`` of an id no
      send invoked, in line order (such a message has no conversation of its own).
    - ``conv_orders``: what :func:`checkers.ordered.conversation_order` worked out, kept so that
      the order checkers share it (the only field filled after :func:`observe`).
    """

    history: History
    messages: dict[str, Message]
    by_conv: dict[str, list[Message]]
    first_seen: dict[str, dict[str, int]]
    arrivals: dict[tuple[str, str], list[int]]
    conversations: dict[str, Conversation]
    seqs: dict[str, dict[int, int]] = field(default_factory=dict)
    unsent_seqs: list[tuple[str, str, int, int]] = field(default_factory=list)
    conv_orders: dict[str, Any] = field(default_factory=dict)  # kept by checkers.ordered


def observe(history: History) -> Observations:
    """Arrange ``history`` for the checkers (linear in its size)."""
    messages = _messages(history.sends)
    by_conv: dict[str, list[Message]] = {}
    for message in messages.values():
        by_conv.setdefault(message.conv, []).append(message)
    first_seen: dict[str, dict[str, int]] = {}
    arrivals: dict[tuple[str, str], list[int]] = {}
    conversations: dict[str, Conversation] = {}
    get_message = messages.get
    seq_first: dict[str, tuple[int, int]] = {}
    seq_other: list[Delivery] = []
    here_of: dict[str, Conversation] = {}  # a sent message -> its conversation's record

    def conversation(conv: str) -> Conversation:
        here = conversations.get(conv)
        if here is None:
            here = conversations[conv] = Conversation()
        return here

    for delivery in history.deliveries:
        index, _, msg_id, delivered_in, _, user, seq, _ = delivery
        seen = first_seen.get(msg_id)
        if seen is None:
            first_seen[msg_id] = {user: index}
            if seq is not None:
                seq_first[msg_id] = (seq, index)
            sent = get_message(msg_id)
            if sent is None:
                here = conversation(delivered_in)
            else:
                here = here_of[msg_id] = conversation(sent.conv)
            if msg_id not in here.first:
                here.first[msg_id] = delivery
        else:
            if seq is not None:
                known = seq_first.get(msg_id)
                if known is None:
                    seq_first[msg_id] = (seq, index)
                elif known[0] != seq:
                    seq_other.append(delivery)
            if user in seen:
                key = (msg_id, user)
                if key in arrivals:
                    arrivals[key].append(index)
                else:
                    arrivals[key] = [seen[user], index]
                continue
            seen[user] = index
            found = here_of.get(msg_id)
            if found is None:  # an id no send invoked: the delivery names its conversation
                here = conversation(delivered_in)
                if msg_id not in here.first:
                    here.first[msg_id] = delivery
            else:
                here = found
        here.sightings.append(delivery)
        order = here.orders.get(user)
        if order is None:
            here.orders[user] = [delivery]
        else:
            order.append(delivery)
    seqs, unsent = _seq_reports(history, messages, seq_first, seq_other)
    return Observations(
        history, messages, by_conv, first_seen, arrivals, conversations, seqs, unsent
    )


def _seq_reports(
    history: History,
    messages: dict[str, Message],
    seq_first: dict[str, tuple[int, int]],
    seq_other: list[Delivery],
) -> tuple[dict[str, dict[int, int]], list[tuple[str, str, int, int]]]:
    """Each sent message's seqs with their first index, and the seq reports of unsent ids."""
    seqs: dict[str, dict[int, int]] = {}
    unsent_ids: set[str] = set()
    for msg_id, (seq, index) in seq_first.items():
        if msg_id in messages:
            seqs[msg_id] = {seq: index}
        else:
            unsent_ids.add(msg_id)
    for d in seq_other:
        if d.id in messages and d.seq is not None:
            reports = seqs[d.id]
            if d.seq not in reports:
                reports[d.seq] = d.index
    for message in messages.values():
        for attempt in message.attempts:
            if attempt.seq is None or attempt.outcome != "ok" or attempt.end_index is None:
                continue
            reports = seqs.setdefault(message.id, {})
            if reports.get(attempt.seq, NEVER) > attempt.end_index:
                reports[attempt.seq] = attempt.end_index
    unsent = [
        (d.id, d.conv, d.seq, d.index)
        for d in (history.deliveries if unsent_ids else ())
        if d.seq is not None and d.id in unsent_ids
    ]
    return seqs, unsent


def send_events(messages: Iterable[Message]) -> list[tuple[int, bool, Message]]:
    """``(index, is_ok, message)`` for each message's first invoke and first ok, in line order."""
    events: list[tuple[int, bool, Message]] = []
    for m in messages:
        events.append((m.invoke_index, False, m))
        if m.ok_index is not None:
            events.append((m.ok_index, True, m))
    events.sort(key=lambda event: event[0])
    return events


def _messages(sends: list[Send]) -> dict[str, Message]:
    messages: dict[str, Message] = {}
    for send in sends:
        message = messages.get(send.id)
        if message is None:
            message = Message(send.id, send.conv, send.sender, send.to, send.digest, send.index)
            message.recipients = frozenset(send.to)
            messages[send.id] = message
        message.attempts.append(send)
        if send.outcome == "ok":
            ended = send.end_index if send.end_index is not None else NEVER
            if message.ok_index is None or ended < message.ok_index:
                message.ok_index = ended
            message.outcome = "ok"
        elif send.outcome == "info" and message.outcome == "fail":
            message.outcome = "info"
    return messages
