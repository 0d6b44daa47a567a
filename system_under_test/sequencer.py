"""The sequencer: dense per-conversation ``seq`` numbers and the index of client message ids.

A message is known by its sender and its client id together: a retry by the same sender is
recognised, while another sender choosing the same id is a different message.

Pure bookkeeping over a log of entries. In CP mode only the primary uses it, rebuilt from its log
when it takes office; in AP mode every node has one and counts past every seq it has seen.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from system_under_test.records import MSG, Entry


@dataclass(frozen=True, slots=True)
class Placed:
    """Where a message id already sits: its log index and its seq."""

    index: int
    seq: int


@dataclass
class Sequencer:
    last_seq: dict[str, int] = field(default_factory=dict)
    placed: dict[tuple[str, str], Placed] = field(default_factory=dict)

    @classmethod
    def from_log(cls, entries: Iterable[tuple[int, Entry]]) -> Sequencer:
        """A sequencer that continues after every (index, entry) given."""
        sequencer = cls()
        for index, entry in entries:
            sequencer.record(index, entry)
        return sequencer

    def next_seq(self, conv: str) -> int:
        """The seq the next message of ``conv`` gets (does not reserve it: call record)."""
        return self.last_seq.get(conv, 0) + 1

    def find(self, sender: str, msg_id: str) -> Placed | None:
        """Where ``sender``'s first message with this client id was placed, if any."""
        return self.placed.get((sender, msg_id))

    def record(self, index: int, entry: Entry) -> None:
        if entry.kind != MSG:
            return
        conv, seq = entry.data["conv"], entry.data["seq"]
        self.last_seq[conv] = max(self.last_seq.get(conv, 0), seq)
        self.placed.setdefault((entry.data["from"], entry.data["id"]), Placed(index, seq))
