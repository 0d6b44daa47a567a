"""``seq-conflict``: two messages share a (conv, seq), or one message carries two seqs.

Seqs come from ``ok`` sends and from deliveries. Each conflicting (conv, seq) value counts once,
and each message seen with two or more seqs counts once.
"""

from __future__ import annotations

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
    """Every conflicting (conv, seq) value, then every message with several seqs, each in the
    order the conflict became visible down the file. Examples cite the first line of each seq
    report."""
    carriers: dict[tuple[str, int], dict[str, int]] = {}
    several: list[TwoSeqs] = []
    messages = obs.messages
    for msg_id, reports in obs.seqs.items():
        conv = messages[msg_id].conv
        for seq, index in reports.items():
            holders = carriers.get((conv, seq))
            if holders is None:
                carriers[(conv, seq)] = {msg_id: index}
            else:
                holders[msg_id] = index
        if len(reports) > 1:
            several.append(TwoSeqs(msg_id, conv, tuple(sorted(reports.items(), key=_second))))
    seqs_of: dict[str, dict[int, int]] = {}
    for msg_id, conv, seq, index in obs.unsent_seqs:
        holders = carriers.setdefault((conv, seq), {})
        holders.setdefault(msg_id, index)
        seqs_of.setdefault(msg_id, {}).setdefault(seq, index)
    several += [
        TwoSeqs(msg_id, _first_conv(obs, msg_id), tuple(reports.items()))
        for msg_id, reports in seqs_of.items()
        if len(reports) > 1
    ]
    shared = [
        SharedSeq(conv, seq, tuple(sorted(holders.items(), key=_second)))
        for (conv, seq), holders in carriers.items()
        if len(holders) > 1
    ]
    shared.sort(key=lambda item: item.carriers[1][1])
    several.sort(key=lambda item: item.seqs[1][1])
    return [*shared, *several]


def _second(pair: tuple[Any, int]) -> int:
    return pair[1]


def _first_conv(obs: Observations, msg_id: str) -> str:
    return next(conv for id_, conv, _, _ in obs.unsent_seqs if id_ == msg_id)
