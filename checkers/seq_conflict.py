"""``seq-conflict``: two messages share a (conv, seq), or one message carries two seqs.

Seqs come from ``ok`` sends and from deliveries. Each conflicting (conv, seq) value counts once,
and each message seen with two or more seqs counts once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from checkers.findings import at, example, names
from checkers.observations import Observations


@dataclass(frozen=True, slots=True)
class SharedSeq:
    """Several messages carry ``seq`` in ``conv``; ``carriers`` are (id, first index)."""

    conv: str
    seq: int
    carriers: tuple[tuple[str, int], ...]

    def example(self) -> dict[str, Any]:
        ids = [msg_id for msg_id, _ in self.carriers]
        cited = names([f"{msg_id} ({at(index)})" for msg_id, index in self.carriers])
        every = "both" if len(ids) == 2 else "all"
        why = f"{cited} {every} carry seq {self.seq} in {self.conv}; a seq names one message."
        indexes = [index for _, index in self.carriers]
        return example(ids, [], indexes, why, kind="shared-seq", conv=self.conv, seq=self.seq)


@dataclass(frozen=True, slots=True)
class TwoSeqs:
    """``message_id`` carries several seqs; ``seqs`` are (seq, first index)."""

    message_id: str
    conv: str
    seqs: tuple[tuple[int, int], ...]

    def example(self) -> dict[str, Any]:
        cited = names([f"seq {seq} ({at(index)})" for seq, index in self.seqs])
        why = f"{self.message_id} carries {cited}; a message has one seq."
        indexes = [index for _, index in self.seqs]
        return example(
            [self.message_id],
            [],
            indexes,
            why,
            kind="two-seqs",
            conv=self.conv,
            seqs=[seq for seq, _ in self.seqs],
        )


def find_seq_conflicts(obs: Observations) -> list[SharedSeq | TwoSeqs]:
    """Every conflicting (conv, seq) value, then every message with several seqs.

    Examples cite the first line of each seq report.
    """
    holder: dict[tuple[str, int], tuple[str, int]] = {}
    shared: dict[tuple[str, int], dict[str, int]] = {}
    seq_of: dict[str, tuple[int, int]] = {}
    several: dict[str, dict[int, int]] = {}
    conv_of: dict[str, str] = {}
    for msg_id, conv, seq, index in _seqs(obs):
        known = seq_of.get(msg_id)
        if known is not None and known[0] == seq:
            continue  # this (id, seq) was registered at an earlier line
        if known is None:
            seq_of[msg_id] = (seq, index)
        else:
            several.setdefault(msg_id, {known[0]: known[1]}).setdefault(seq, index)
            conv_of[msg_id] = conv
        first = holder.setdefault((conv, seq), (msg_id, index))
        if first[0] != msg_id:
            shared.setdefault((conv, seq), {first[0]: first[1]}).setdefault(msg_id, index)
    found: list[SharedSeq | TwoSeqs] = [
        SharedSeq(conv, seq, tuple(carriers.items())) for (conv, seq), carriers in shared.items()
    ]
    found += [
        TwoSeqs(msg_id, conv_of[msg_id], tuple(seqs.items())) for msg_id, seqs in several.items()
    ]
    return found


def _seqs(obs: Observations) -> Iterator[tuple[str, str, int, int]]:
    """(id, conv, seq, index) of every seq the history reports, in line order."""
    acked = [
        (send.end_index, send.id, send.conv, send.seq)
        for send in obs.history.sends
        if send.outcome == "ok" and send.seq is not None and send.end_index is not None
    ]
    acked.sort(key=lambda report: report[0])
    messages = obs.messages
    position = 0
    for d in obs.history.deliveries:
        if d.seq is None:
            continue
        while position < len(acked) and acked[position][0] < d.index:
            index, msg_id, conv, seq = acked[position]
            yield msg_id, conv, seq, index
            position += 1
        message = messages.get(d.id)
        yield d.id, d.conv if message is None else message.conv, d.seq, d.index
    for index, msg_id, conv, seq in acked[position:]:
        yield msg_id, conv, seq, index
