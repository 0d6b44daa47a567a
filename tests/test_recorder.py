"""The recorder: every operation reaches the file once, in index order, by the end of its turn."""

from __future__ import annotations

import asyncio
import tempfile
import threading
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.recorder import Recorder


def lines(path: Path) -> list[dict]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_without_a_running_loop_each_operation_is_on_disk_at_once(tmp_path: Path) -> None:
    with Recorder(tmp_path / "h.jsonl") as rec:
        rec.record(0, "invoke", "send", {"id": "m1"})
        assert [op["index"] for op in lines(rec.path)] == [0]
        rec.record(0, "ok", "send", {"id": "m1"}, node="n1", error=None)
        assert lines(rec.path)[-1] == {
            "index": 1,
            "time": lines(rec.path)[-1]["time"],
            "process": 0,
            "type": "ok",
            "f": "send",
            "value": {"id": "m1"},
            "node": "n1",
        }


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=8))
def test_operations_of_a_turn_are_on_disk_when_the_turn_ends(batches: list[int]) -> None:
    """Whatever the number of operations per turn, after each turn the file holds all of them."""

    async def scenario(rec: Recorder) -> None:
        expected = 0
        for size in batches:
            for _ in range(size):
                rec.record(expected % 3, "invoke", "send", {"n": expected})
                expected += 1
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            assert [op["index"] for op in lines(rec.path)] == list(range(expected))

    with tempfile.TemporaryDirectory() as tmp, Recorder(Path(tmp) / "h.jsonl") as rec:
        asyncio.run(scenario(rec))


def test_a_loop_and_threads_recording_at_once_keep_indexes_in_file_order(tmp_path: Path) -> None:
    rec = Recorder(tmp_path / "h.jsonl")

    def from_thread(n: int) -> None:
        for i in range(500):
            rec.record(f"t{n}", "invoke", "send", {"i": i})

    async def scenario() -> None:
        threads = [threading.Thread(target=from_thread, args=(n,)) for n in range(3)]
        for t in threads:
            t.start()
        for i in range(500):
            rec.record("loop", "invoke", "send", {"i": i})
            if i % 7 == 0:
                await asyncio.sleep(0)
        await asyncio.to_thread(lambda: [t.join() for t in threads])

    asyncio.run(scenario())
    rec.close()
    ops = lines(rec.path)
    assert [op["index"] for op in ops] == list(range(2000))
    times = [op["time"] for op in ops]
    assert times == sorted(times)
    for process in ("loop", "t0", "t1", "t2"):
        assert [op["value"]["i"] for op in ops if op["process"] == process] == list(range(500))


def test_closing_writes_what_waits_and_a_later_operation_is_refused(tmp_path: Path) -> None:
    rec = Recorder(tmp_path / "h.jsonl")

    async def record_and_close() -> None:
        rec.record(0, "invoke", "send", {"id": "m1"})
        rec.close()

    asyncio.run(record_and_close())
    assert [op["index"] for op in lines(rec.path)] == [0]
    with pytest.raises(ValueError, match="after the recorder closed"):
        rec.record(0, "ok", "send", {"id": "m1"})
    assert len(lines(rec.path)) == 1
