"""Hypothesis fuzzing of a real node's peer and client ports (bounded: a few seconds each).

- Peer port, no secret: random and structured frames (peer messages with huge and mistyped
  numbers, forged and replayed peer-auth answers) never get past the handshake: every connection
  is closed with 4001 and logged.
- Peer port, with the secret: a well-formed message with one field broken (wrong JSON type,
  integer out of range, missing or unknown field, a broken entry), alone or hidden among
  well-formed ones in a batch frame, is refused whole and logged at ERROR, every one of them, and
  the link goes on.
- Client port, authenticated: every malformed frame gets exactly one error frame, echoing its
  ``req`` when it had a usable one.

After each: no node crashed, committed entries are unchanged, and an honest client is served
within HONEST_BOUND seconds. The counts (frames tried, refusals, crashes) are printed at the end
of the module (``pytest -s``). SPLITBRAIN_FUZZ_EXAMPLES sets the examples per fuzzer (40).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.sut_attacks import (
    HONEST_BOUND,
    Lab,
    client_login,
    closed_code,
    peer_login,
    raw,
    send_quietly,
    start_lab,
    wait_for,
)

pytestmark = pytest.mark.timeout(300)
FUZZ = settings(
    max_examples=int(os.environ.get("SPLITBRAIN_FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
REFUSED = "ERROR splitbrain.node peer n3: frame refused"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    started = start_lab(Path(tmp_path_factory.mktemp("fuzz")))
    started.serve_honest_send("warm")
    before = started.snapshot()
    try:
        yield started
        started.assert_history_kept(before)
        crashes = sum(1 for p in started.cluster.procs.values() if p.poll() is not None)
        started.counts["crashes"] = crashes
        print("\nfuzz counts:", json.dumps(started.counts, sort_keys=True))
        assert crashes == 0
    finally:
        started.cluster.stop()


def after_fuzz(lab: Lab, name: str) -> None:
    assert lab.alive(), "a node died"
    took = lab.serve_honest_send(f"honest-after-{name}-{lab.counts.get(name, 0)}")
    assert took < HONEST_BOUND


# -- values ---------------------------------------------------------------------------------------

BAD_INTS = [-1, 2**53, 2**64 - 1, 2**64, 10**30, 1.5, 1e300, True, False, "1", None, [], {}]
BAD_BOOLS = [0, 1, "true", None, [], 2.0]
BAD_STRS = [1, None, [], {}, True, "x" * 2000]
NAMES = st.sampled_from(["n1", "n2", "n3", "n9", "", "u1", "x" * 300])
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
    st.text(max_size=5),
)
JSON = st.recursive(
    st.none() | st.booleans() | NUMBERS | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def valid_templates() -> dict[str, dict[str, Any]]:
    """One well-formed peer message of each type, as n3 would send it; field kinds for breaking."""
    msg = {"id": "f1", "conv": "g1", "from": "u1", "bodies": {"u2": "eA==", "u3": "eA=="}}
    return {
        "AppendEntries": {"t": "AppendEntries", "term": 0, "leader": "n3", "prev_index": 0,
                          "prev_term": 0, "entries": [[0, "noop", {}, "", 0]], "commit": 0,
                          "round": 0},
        "AppendReply": {"t": "AppendReply", "term": 0, "ok": False, "match": 0, "hint": 0,
                        "round": 0},
        "RequestVote": {"t": "RequestVote", "term": 0, "candidate": "n3", "last_index": 0,
                        "last_term": 0, "pre": True},
        "VoteReply": {"t": "VoteReply", "term": 0, "granted": False, "pre": True},
        "Forward": {"t": "Forward", "fid": 1, "request": {"kind": "msg", "data": msg}},
        "ForwardReply": {"t": "ForwardReply", "fid": 99,
                         "result": {"status": "ok", "seq": 1, "message": ""}},
        "Pull": {"t": "Pull", "have": {"n3": 0}},
        "Entries": {"t": "Entries", "entries": [[0, "ack", {"user": "u2", "ids": []}, "n3", 1]]},
    }  # fmt: skip


INT_FIELDS = {"term", "prev_index", "prev_term", "commit", "round", "match", "hint", "last_index",
              "last_term", "fid"}  # fmt: skip
BOOL_FIELDS = {"ok", "pre", "granted"}
STR_FIELDS = {"leader", "candidate"}
REQUIRED = {"term", "leader", "prev_index", "prev_term", "entries", "commit", "ok", "match",
            "hint", "candidate", "last_index", "last_term", "granted", "fid", "request",
            "result", "have"}  # fmt: skip
BAD_ENTRIES = [
    [[0, "msg", {"id": "x", "conv": "g1", "seq": 1, "bodies": {}}, "", 0]],  # no "from"
    [[0, "msg", {"id": "x", "conv": "g1", "from": "u1", "seq": 1.0, "bodies": {}}, "", 0]],
    [[0, "msg", {"id": "x", "conv": "g1", "from": "u1", "seq": 1, "bodies": []}, "", 0]],
    [[0, "msg", {"id": "", "conv": "g1", "from": "u1", "seq": 1, "bodies": {}}, "", 0]],
    [[0, "ack", {"user": "u2", "ids": ["bare-id"]}, "", 0]],
    [[0, "ack", {"user": "u2", "ids": [["u1", "x"]] * 1001}, "", 0]],
    [[0, "noop", {"x": 1}, "", 0]],
    [[0, "drop-table", {}, "", 0]],
    [[0, "noop", {}, ""]],
    [[-1, "noop", {}, "", 0]],
    "not a list",
    [[0, "noop", {}, "", 0]] * 1025,
]


@st.composite
def broken_peer_message(draw) -> str:
    """A well-formed peer message with exactly one thing broken, so it must be refused."""
    templates = valid_templates()
    frame = dict(templates[draw(st.sampled_from(sorted(templates)))])
    fields = [k for k in frame if k != "t"]
    how = draw(st.sampled_from(["type", "missing", "extra", "nested", "kind"]))
    if how == "kind":
        frame["t"] = draw(st.sampled_from(["Nope", "", 5, None, "appendentries"]))
    elif how == "extra":
        frame[draw(st.sampled_from(["evil", "digest", "t2"]))] = draw(JSON)
    elif how == "missing" and REQUIRED & set(fields):
        del frame[draw(st.sampled_from(sorted(REQUIRED & set(fields))))]
    elif how == "nested" and ("entries" in frame or "request" in frame or "result" in frame):
        if "entries" in frame:
            frame["entries"] = draw(st.sampled_from(BAD_ENTRIES))
        elif "request" in frame:
            frame["request"] = draw(st.sampled_from([
                {"kind": "msg", "data": {"id": "x", "conv": "g1", "bodies": {}}},
                {"kind": "ack", "data": {"user": "u2", "ids": "x"}},
                {"kind": "barrier", "data": {"x": 1}},
                {"kind": "noop", "data": {}},
                {"kind": "msg"},
            ]))  # fmt: skip
        else:
            frame["result"] = draw(st.sampled_from([
                {"status": "maybe", "seq": 1, "message": ""},
                {"status": "ok", "seq": -1, "message": ""},
                {"status": "ok", "seq": 1, "message": "m" * 2000},
                {"status": "ok", "seq": 1.5},
            ]))  # fmt: skip
    else:
        field = draw(st.sampled_from(fields))
        if field in INT_FIELDS:
            frame[field] = draw(st.sampled_from(BAD_INTS))
        elif field in BOOL_FIELDS:
            frame[field] = draw(st.sampled_from(BAD_BOOLS))
        elif field in STR_FIELDS:
            frame[field] = draw(st.sampled_from(BAD_STRS))
        elif field == "have":
            frame[field] = draw(st.sampled_from([{"n3": -1}, {"n3": 1.0}, [], {"n3": True}]))
        else:
            frame[field] = draw(st.sampled_from([None, 7, "x"]))
    return json.dumps(frame)


@st.composite
def broken_peer_frame(draw) -> str:
    """A broken message alone, or hidden among well-formed ones in a batch (a JSON array):
    either way the whole frame must be refused, once."""
    broken = draw(broken_peer_message())
    if not draw(st.booleans()):
        return broken
    templates = valid_templates()
    items = [json.dumps(templates[k]) for k in draw(st.lists(st.sampled_from(sorted(templates))))]
    items.insert(draw(st.integers(0, len(items))), broken)
    return "[" + ",".join(items) + "]"


def random_frame() -> st.SearchStrategy[str | bytes]:
    return st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200),
        JSON.map(json.dumps),
        broken_peer_frame(),
        st.builds(
            lambda name, nonce, mac: json.dumps(
                {"t": "peer-auth", "from": name, "nonce": nonce, "mac": mac}
            ),
            NAMES,
            st.one_of(st.text(max_size=40), st.just("00" * 16), NUMBERS),
            st.one_of(st.text(max_size=70), st.just("ab" * 32), NUMBERS),
        ),
    )


# -- the fuzzers ----------------------------------------------------------------------------------


@FUZZ
@given(frames=st.lists(random_frame(), min_size=1, max_size=3))
def test_peer_port_without_the_secret_never_gets_past_the_handshake(lab: Lab, frames):
    ws = raw(lab.url("n1", "/peer"))
    assert json.loads(ws.recv(timeout=3))["t"] == "peer-challenge"
    for frame in frames:
        if send_quietly(ws, frame):
            lab.bump("peer_no_secret_frames")
    assert closed_code(ws, 3) == 4001
    ws.close()
    lab.bump("peer_no_secret_refusals")


def test_peer_port_without_the_secret_is_logged_and_the_cluster_serves(lab: Lab):
    text = lab.log_text("n1")
    assert text.count("ERROR splitbrain.node inbound peer connection") >= lab.counts.get(
        "peer_no_secret_refusals", 1
    )
    after_fuzz(lab, "peer_no_secret")


@FUZZ
@given(frames=st.lists(broken_peer_frame(), min_size=1, max_size=5))
def test_peer_port_with_the_secret_refuses_every_broken_message(lab: Lab, frames):
    ws = peer_login(lab, "n1", "n3")
    assert json.loads(ws.recv(timeout=3))["t"] == "peer-welcome"
    before = lab.count_in_log("n1", REFUSED)
    for frame in frames:
        ws.send(frame)
    lab.bump("peer_broken_frames", len(frames))
    wait_for(lambda: lab.count_in_log("n1", REFUSED) >= before + len(frames), 3, "refusals")
    assert lab.count_in_log("n1", REFUSED) == before + len(frames)
    lab.bump("peer_broken_refusals", len(frames))
    ws.close()


def test_peer_port_with_the_secret_keeps_serving_after_broken_messages(lab: Lab):
    after_fuzz(lab, "peer_broken")


NOT_INTS = [1.5, 1e300, True, False, "7", None, [], {}]
SEND_FIELDS = {"req": NOT_INTS, "id": [*BAD_STRS, ""], "conv": BAD_STRS,
               "bodies": [None, [], "x", {"u2": 5}, {"nobody": "eA=="}]}  # fmt: skip


@st.composite
def broken_client_frame(draw) -> tuple[str | bytes, int | None]:
    """A client frame that must be refused, and the req its error must echo (None if unusable)."""
    how = draw(st.sampled_from(["bytes", "json", "type", "send", "ack", "sync"]))
    if how == "bytes":
        return draw(st.binary(min_size=1, max_size=100).filter(lambda b: b[:1] != b"{")), None
    if how == "json":
        return json.dumps(draw(JSON.filter(lambda v: not isinstance(v, dict)))), None
    frame: dict[str, Any]
    if how == "type":
        frame = {"t": draw(st.sampled_from(["auth", "msg", "nope", "", 5, None, ["send"]]))}
    elif how == "send":
        frame = {"t": "send", "id": "fz", "conv": "d-u1-u2", "bodies": {"u2": "eA=="}}
        field = draw(st.sampled_from(sorted(SEND_FIELDS)))
        frame[field] = draw(st.sampled_from(SEND_FIELDS[field]))
    elif how == "ack":
        frame = {"t": "ack", "ids": draw(st.sampled_from(
            [None, "x", [["u1"]], [[1, "x"]], [["u1", "x"]] * 1001, ["bare"], [["", "x"]]]
        ))}  # fmt: skip
    else:
        frame = {"t": "sync", "req": draw(st.sampled_from(NOT_INTS))}
    if "req" not in frame and draw(st.booleans()):
        frame["req"] = draw(st.integers(min_value=-(2**70), max_value=2**70))
    return json.dumps(frame), expected_req(frame)


def expected_req(frame: dict[str, Any]) -> int | None:
    """The req an error must echo: the frame's, when the frame is an object with a string type
    and its req is an integer (not a bool) that a 64-bit JSON reader takes (else the frame is
    not JSON to the node)."""
    req = frame.get("req")
    usable = isinstance(req, int) and not isinstance(req, bool) and -(2**63) <= req < 2**64
    return req if usable and isinstance(frame.get("t"), str) else None


@FUZZ
@given(frames=st.lists(broken_client_frame(), min_size=1, max_size=5))
def test_client_port_answers_every_malformed_frame_with_one_error(lab: Lab, frames):
    ws = client_login(lab, "n1", "u1")
    assert json.loads(ws.recv(timeout=3))["t"] == "synced"
    for frame, req in frames:
        ws.send(frame)
        lab.bump("client_frames")
        reply = json.loads(ws.recv(timeout=3))
        assert reply["t"] == "error" and reply["code"] in ("bad-frame", "unknown-type"), reply
        assert reply["req"] == req
        lab.bump("client_refusals")
    ws.close()


def test_client_port_keeps_serving_after_malformed_frames(lab: Lab):
    assert lab.count_in_log("n1", "WARNING splitbrain.node session") >= lab.counts.get(
        "client_refusals", 1
    )
    after_fuzz(lab, "client")
