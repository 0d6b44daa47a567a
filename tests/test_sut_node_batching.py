"""Batching in the node's I/O layer: peer frames that carry several messages, client frames joined
for a client that reads batches, and group commit (no frame leaves before the saves it depends on
are committed)."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from system_under_test import keys, wire
from system_under_test.client import frames_of
from system_under_test.node import JOIN_CHARS, NodeArgs, NodeServer, Outbox, split_by_size
from system_under_test.records import (
    MSG,
    AppendEntries,
    AppendReply,
    Entry,
    Forward,
    FromPeer,
    Request,
)
from system_under_test.replication import Timing
from system_under_test.store import Store


def entry(i: int) -> Entry:
    return Entry(1, MSG, {"id": f"m{i}", "conv": "g1", "from": "u1", "seq": i, "bodies": {}})


def stored_rows(db: Path) -> int:
    with sqlite3.connect(db) as other:
        return other.execute("SELECT count(*) FROM log").fetchone()[0]


def test_a_batch_frame_decodes_to_its_messages_in_order():
    msgs = [
        AppendEntries(2, "n1", 0, 0, [entry(1), entry(2)], 1, 7),
        Forward(3, Request(MSG, {"id": "x", "conv": "g1", "from": "u1", "bodies": {"u2": "AA=="}})),
        AppendReply(2, True, 2, 0, 7),
    ]
    assert wire.decode_frame(wire.batch([wire.encode(m) for m in msgs])) == msgs
    assert wire.decode_frame(wire.batch([wire.encode(msgs[1])])) == [msgs[1]]
    assert wire.decode_frame(wire.encode(msgs[2])) == [msgs[2]]
    broken = b"[" + wire.encode(msgs[1]) + b',{"t":"Nope"}]'
    with pytest.raises(ValueError, match="malformed"):
        wire.decode_frame(broken)
    with pytest.raises(ValueError, match="malformed"):
        wire.decode_frame(b"[1,")


@pytest.mark.parametrize(
    ("frame", "why"),
    [
        (b"[]", "a batch must hold 1"),
        (b"[[]]", "batch item 0: .*not a JSON object"),
        (b'[{"t":"Pull","have":{}},7]', "batch item 1: .*not a JSON object"),
        (b'[{"t":"Pull","have":{},"evil":1}]', "batch item 0: .*unknown fields"),
        (b'[{"t":"Pull","have":{"n1":-1}}]', "batch item 0: .*Pull.have count"),
        (b"[" + b",".join([b'{"t":"Pull","have":{}}'] * (wire.MAX_BATCH + 1)) + b"]", "1..4096"),
    ],
)
def test_every_message_of_a_batch_is_decoded_strictly(frame, why):
    with pytest.raises(wire.Malformed, match=why):
        wire.decode_frame(frame)


def test_split_by_size_keeps_order_and_bounds_each_part():
    frames = [b"a" * 4, b"b" * 4, b"c" * 9, b"d", b"e" * 3]
    parts = split_by_size(frames, 8)
    assert [f for part in parts for f in part] == frames
    assert parts == [[b"a" * 4, b"b" * 4], [b"c" * 9], [b"d", b"e" * 3]]
    assert split_by_size(frames, 100, max_count=2) == [frames[:2], frames[2:4], frames[4:]]


def test_store_saves_become_durable_together_on_commit(tmp_path):
    store = Store(tmp_path / "n1.sqlite")
    store.load()
    store.save_entries(1, [entry(1)])
    store.save_entries(2, [entry(2)])
    store.save_commit(2)
    assert store.dirty and stored_rows(tmp_path / "n1.sqlite") == 0
    store.commit()
    assert not store.dirty and stored_rows(tmp_path / "n1.sqlite") == 2
    store.close()
    again = Store(tmp_path / "n1.sqlite").load()
    assert again.log == [entry(1), entry(2)] and again.commit == 2


def test_a_follower_replies_to_an_append_only_after_it_committed_it(tmp_path):
    prov = keys.provision(["u1", "u2"], {"g1": ["u1", "u2"]}, 1)
    keys.write_users_file(tmp_path / "users.json", prov)
    keys.write_cluster_secret(tmp_path / "cluster.secret")
    args = NodeArgs(
        name="n2",
        host="127.0.0.1",
        port=0,
        peers={"n1": ("127.0.0.1", 1), "n3": ("127.0.0.1", 2)},
        db=tmp_path / "n2.sqlite",
        users=tmp_path / "users.json",
        mode="cp",
        bugs=frozenset(),
        e2e=True,
        log=None,
        timing=Timing(),
        cluster_secret=tmp_path / "cluster.secret",
    )

    async def scenario() -> None:
        node = NodeServer(args)
        outbox = Outbox()
        node.inbound[5] = outbox
        for k in (1, 2):
            prev_term = 1 if k > 1 else 0
            append = AppendEntries(1, "n1", k - 1, prev_term, [entry(k)], 0, k)
            node.feed(FromPeer(0.0, "n1", append, 5))
        assert len(outbox) == 0, "a reply left before its entries were committed"
        assert stored_rows(args.db) == 0
        await asyncio.sleep(0)  # the flush runs on the next turn of the loop
        assert stored_rows(args.db) == 2
        assert len(outbox) == 1, "the two replies travel as one frame"
        replies = wire.decode_frame(outbox.take()[0])
        assert [(r.ok, r.match) for r in replies] == [(True, 1), (True, 2)]
        node.store.close()

    asyncio.run(scenario())


CLIENT_FRAMES = st.lists(
    st.one_of(
        st.builds(lambda n, pad: orjson.dumps({"t": "msg", "n": n, "b": "x" * pad}).decode(),
                  st.integers(0, 10**6), st.sampled_from([0, 10, 5000, JOIN_CHARS])),
        st.binary(min_size=1, max_size=20),
    ),
    max_size=150,
)  # fmt: skip


@given(CLIENT_FRAMES, st.booleans())
def test_an_outbox_lets_out_every_frame_once_in_order_joined_only_for_a_batch_reader(items, join):
    outbox = Outbox()
    outbox.joinable = join
    for item in items:
        outbox.put(item)
    out, sizes, takes = [], 0, 0
    while len(outbox):
        data, size = outbox.take()
        sizes += size
        takes += 1
        if isinstance(data, bytes):
            out.append(data)
            continue
        parts = frames_of(data)
        if len(parts) > 1:
            assert join and len(data) <= JOIN_CHARS + len(parts) + 1
        out += [orjson.dumps(p).decode() for p in parts]
    assert out == items
    joinable_pair = any(
        isinstance(a, str) and isinstance(b, str) and len(a) + len(b) <= JOIN_CHARS
        for a, b in itertools.pairwise(items)
    )
    assert takes < len(items) if join and joinable_pair else takes == len(items)
    assert sizes == sum(len(i) for i in items) == outbox.size
