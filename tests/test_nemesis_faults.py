"""The fault-kind registry is the one place a kind is spelled out: every reader agrees with it."""

from __future__ import annotations

from typing import Any

import pytest

from harness.present.history_summary import FAULT_UNDO, summarize
from harness.present.timeline_svg import legend
from harness.shrink import step_words
from nemesis import faults
from nemesis.catalogue import KINDS, parse_kinds
from nemesis.faults import FAULT_KINDS, UNDO_FS, kinds_ended_by
from nemesis.schedule import FaultStep


def test_every_reader_takes_the_kinds_from_the_registry():
    assert list(KINDS) == list(FAULT_KINDS) == list(parse_kinds(",".join(FAULT_KINDS)))
    assert {k: (v.start_f, v.undo_f) for k, v in FAULT_KINDS.items()} == {
        k: (k, undo) for k, undo in FAULT_UNDO.items()
    }
    assert {"heal", "restart", "resume", "clear-latency"} == UNDO_FS
    assert kinds_ended_by("restart") == ("kill", "power-loss")
    colours = {k.colour for k in FAULT_KINDS.values()} | {faults.OTHER_COLOUR}
    assert len(colours) == len(FAULT_KINDS) + 1  # every kind its own, none the unknown's


@pytest.mark.parametrize(
    ("kind", "params", "words"),
    [
        ("kill", {"choose": "majority", "nodes": ["n1", "n3"]}, "kill a majority with the primary"),
        ("pause", {"choose": "all", "nodes": ["n1", "n2"]}, "pause every node (n1,n2)"),
        ("power-loss", {"choose": "random", "node": "n2"}, "power-loss n2"),
        (
            "latency",
            {"choose": "all", "ms": 500, "jitter": 125},
            "latency 500 ms (jitter 125) on every link",
        ),
        ("partition", {"shape": "halves", "groups": [["n1"], ["n2"]]}, "partition halves n1 | n2"),
    ],
)
def test_a_step_is_said_in_its_kinds_words(kind: str, params: dict[str, Any], words: str):
    assert words in step_words(FaultStep(1, kind, 2, params))


def _op(index: int, type_: str, f: str, value: Any) -> dict[str, Any]:
    return {
        "index": index,
        "time": index * 10**9,
        "process": "nemesis",
        "type": type_,
        "f": f,
        "value": value,
    }


def test_a_power_loss_band_ends_at_its_restart_and_gets_the_registrys_colour():
    nodes = {"nodes": ["n2"]}
    ops = [
        _op(0, "invoke", "power-loss", nodes),
        _op(1, "ok", "power-loss", nodes),
        _op(2, "invoke", "restart", nodes),
        _op(3, "ok", "restart", nodes),
    ]
    timeline = summarize(ops).timeline
    (band,) = timeline.faults
    assert (band.kind, band.healed, band.end_index) == ("power-loss", True, 3)
    assert FAULT_KINDS["power-loss"].colour in legend(timeline)
    assert "power loss" in legend(timeline)
