"""The gateway (client protocol) and the AP store as pure state machines, plus keys and wire."""

from __future__ import annotations

import json

import pytest

from system_under_test import crypto, keys, wire
from system_under_test.antientropy import ApReplica
from system_under_test.gateway import (
    Ask,
    ClientFrame,
    CloseClient,
    Drained,
    Gateway,
    JoinFrames,
    Opened,
    ToClient,
)
from system_under_test.records import (
    MAX_BATCH_BYTES,
    MSG,
    AppendEntries,
    Applied,
    ClientOrigin,
    Entries,
    Entry,
    Forward,
    FromPeer,
    LinkState,
    Pull,
    ReplyConn,
    Request,
    RequestVote,
    Respond,
    Result,
    SendPeer,
    Submit,
    Tick,
    entry_size,
    fit,
)

PROV = keys.provision(["u1", "u2", "u3"], {"g1": ["u1", "u2", "u3"], "d": ["u1", "u2"]}, seed=3)


def frames(actions, kind=None) -> list[dict]:
    return [a.frame for a in actions if isinstance(a, ToClient) and kind in (None, a.frame["t"])]


def login(gw: Gateway, sid: int, user: str, have=()) -> list:
    """Authenticate and answer the first barrier ok; the frames of both, in order."""
    nonce = bytes([sid]) * 16
    gw.handle(Opened(sid, nonce))
    sig = crypto.sign_challenge(keys.signing_key(PROV.secrets[user]), "n1", nonce)
    auth = {"t": "auth", "user": user, "sig": sig, "have": list(have)}
    out = gw.handle(ClientFrame(sid, json.dumps(auth)))
    assert isinstance(out[-1], Ask) and out[-1].request.kind == "barrier"
    return out + gw.handle(Respond(out[-1].origin, Result("ok", seq=0)))


def msg(msg_id: str, seq: int, conv: str = "g1", sender: str = "u1") -> Entry:
    bodies = {m: "Ym9keQ==" for m in PROV.directory.members(conv) if m != sender}
    data = {"id": msg_id, "conv": conv, "from": sender, "seq": seq, "bodies": bodies}
    return Entry(1, MSG, data)


def gateway(bugs=frozenset()) -> Gateway:
    return Gateway("n1", "cp", PROV.directory, e2e=True, bugs=bugs)


def test_provisioning_is_random_unless_seeded_and_files_round_trip(tmp_path):
    convs = {"g1": ["u1", "u2", "u3"], "d": ["u1", "u2"]}
    again = keys.provision(["u1", "u2", "u3"], convs, seed=3)
    assert again.secrets == PROV.secrets
    fresh = [keys.provision(["u1", "u2", "u3"], convs).secrets for _ in range(2)]
    assert fresh[0] != fresh[1] and fresh[0]["u1"] != PROV.secrets["u1"]
    keys.write_users_file(tmp_path / "users.json", PROV)
    keys.write_secrets(tmp_path / "secrets.json", PROV)
    assert (tmp_path / "secrets.json").stat().st_mode & 0o777 == 0o600
    assert keys.load_directory(tmp_path / "users.json") == PROV.directory
    assert keys.load_secrets(tmp_path / "secrets.json") == dict(PROV.secrets)
    assert "secrets" not in (tmp_path / "users.json").read_text()
    with pytest.raises(ValueError, match="not a users file"):
        keys.load_directory(tmp_path / "secrets.json")


def test_sealed_bodies_open_only_for_the_pair_and_nonces_never_repeat():
    u1, u2, u3 = (keys.box_private_key(PROV.secrets[u]) for u in ("u1", "u2", "u3"))
    to_u2 = crypto.shared_box(u1, PROV.directory.box_key("u2"))
    nonces = crypto.Nonces()
    drawn = [next(nonces) for _ in range(1000)] + [next(crypto.Nonces()) for _ in range(100)]
    assert len(set(drawn)) == len(drawn) and {len(n) for n in drawn} == {24}
    sealed = crypto.seal(to_u2, b"hello", True, next(nonces))
    assert crypto.open_body(crypto.shared_box(u2, PROV.directory.box_key("u1")), sealed, True)
    assert (
        crypto.open_body(crypto.shared_box(u3, PROV.directory.box_key("u1")), sealed, True) is None
    )
    assert crypto.seal(to_u2, b"hello", True) != crypto.seal(to_u2, b"hello", True)


def test_wire_round_trip():
    for m in (
        AppendEntries(3, "n1", 2, 1, [msg("a", 1)], 2),
        Forward(4, Request(MSG, {"id": "x", "conv": "d", "from": "u1", "bodies": {"u2": "eA=="}})),
        Entries([Entry(0, "ack", {"user": "u2", "ids": [["u1", "y"]]}, "n2", 5)]),
        RequestVote(7, "n2", 4, 6, pre=True),
    ):
        assert wire.decode(wire.encode(m)) == m
    with pytest.raises(ValueError, match="malformed"):
        wire.decode(b'{"t": "Nope"}')


def test_wrong_signature_is_refused_and_closed():
    gw = gateway()
    gw.handle(Opened(1, b"\0" * 16))
    out = gw.handle(ClientFrame(1, json.dumps({"t": "auth", "user": "u1", "sig": "00" * 64})))
    assert frames(out, "error")[0]["code"] == "auth-failed"
    assert any(isinstance(a, CloseClient) and a.code == 4001 for a in out)
    assert gw.sessions[1].user is None


def test_backlog_in_seq_order_once_per_session_and_not_after_ack():
    gw = gateway()
    gw.handle(Applied([msg("b", 2), msg("a", 1), msg("mine", 3, sender="u2")]))
    out = login(gw, 1, "u2")
    assert [f["id"] for f in frames(out, "msg")] == ["a", "b"]
    assert frames(out)[-1] == {"t": "synced", "req": None}
    gw.handle(Applied([Entry(1, "ack", {"user": "u2", "ids": [["u1", "a"]]})]))
    assert [f["id"] for f in frames(login(gw, 2, "u2"), "msg")] == ["b"]
    assert frames(login(gw, 3, "u2", have=[["u1", "b"]]), "msg") == []


def test_sync_that_could_not_confirm_the_primary_answers_an_error_not_synced():
    gw = gateway()
    gw.handle(Applied([msg("a", 1)]))
    login(gw, 1, "u2")
    [ask] = gw.handle(ClientFrame(1, json.dumps({"t": "sync", "req": 9})))
    out = gw.handle(Respond(ask.origin, Result("rejected", message="no primary")))
    assert [f["t"] for f in frames(out)] == ["error"]
    assert frames(out)[0]["req"] == 9 and frames(out)[0]["code"] == "rejected"


def test_nothing_is_pushed_before_the_first_barrier_so_a_late_ack_is_not_redelivered():
    gw = gateway()
    gw.handle(Applied([msg("a", 1)]))
    gw.handle(Opened(1, b"\1" * 16))
    sig = crypto.sign_challenge(keys.signing_key(PROV.secrets["u2"]), "n1", b"\1" * 16)
    out = gw.handle(ClientFrame(1, json.dumps({"t": "auth", "user": "u2", "sig": sig})))
    assert frames(out, "msg") == [] and gw.handle(Applied([msg("b", 2)])) == []
    gw.handle(
        Applied([Entry(1, "ack", {"user": "u2", "ids": [["u1", "a"]]})])
    )  # confirmed elsewhere
    synced = gw.handle(Respond(out[-1].origin, Result("ok", seq=4)))
    assert [f.get("id", f["t"]) for f in frames(synced)] == ["b", "synced"]


def test_a_failed_first_barrier_pushes_nothing_and_is_asked_again_once_entries_apply():
    # A node cut off from the primary does not know acks the majority committed meanwhile:
    # pushing its stale backlog would redeliver them (seen as `duplicated` after a heal).
    gw = gateway()
    gw.handle(Applied([msg("a", 1)]))
    gw.handle(Opened(1, b"\1" * 16))
    sig = crypto.sign_challenge(keys.signing_key(PROV.secrets["u2"]), "n1", b"\1" * 16)
    out = gw.handle(ClientFrame(1, json.dumps({"t": "auth", "user": "u2", "sig": sig})))
    assert gw.handle(Respond(out[-1].origin, Result("rejected", message="no primary"))) == []
    retry = gw.handle(Applied([msg("b", 2)]))
    [ask] = [a for a in retry if isinstance(a, Ask)]
    assert ask.request.kind == "barrier" and frames(retry, "msg") == []
    assert gw.handle(Applied([Entry(1, "ack", {"user": "u2", "ids": [["u1", "a"]]})])) == []
    synced = gw.handle(Respond(ask.origin, Result("ok", seq=5)))
    assert [f.get("id", f["t"]) for f in frames(synced)] == ["b", "synced"]


def test_a_failed_barrier_is_asked_again_on_a_tick_when_no_entry_comes():
    # The barrier may fail after the node applied everything there is (a primary killed while
    # it was in flight): ticks, not only new entries, must lead to another try.
    gw = gateway()
    gw.handle(Applied([msg("a", 1)]))
    gw.handle(Tick(10.0))
    gw.handle(Opened(1, b"\1" * 16))
    sig = crypto.sign_challenge(keys.signing_key(PROV.secrets["u2"]), "n1", b"\1" * 16)
    out = gw.handle(ClientFrame(1, json.dumps({"t": "auth", "user": "u2", "sig": sig})))
    assert gw.handle(Respond(out[-1].origin, Result("indeterminate", message="gone"))) == []
    assert gw.handle(Tick(10.1)) == []  # not before BARRIER_RETRY has passed
    [ask] = gw.handle(Tick(10.3))
    assert isinstance(ask, Ask) and ask.request.kind == "barrier"
    assert gw.handle(Tick(11.0)) == []  # one barrier in flight at a time
    synced = gw.handle(Respond(ask.origin, Result("ok", seq=1)))
    assert [f.get("id", f["t"]) for f in frames(synced)] == ["a", "synced"]


def test_unordered_backlog_bug_reverses_each_conversation():
    gw = gateway(frozenset({"unordered-backlog"}))
    gw.handle(Applied([msg("a", 1), msg("b", 2), msg("c", 3)]))
    assert [f["seq"] for f in frames(login(gw, 1, "u3"), "msg")] == [3, 2, 1]


def test_send_outside_membership_is_refused_and_live_pushes_reach_members_only():
    gw = gateway()
    login(gw, 1, "u3"), login(gw, 2, "u2")
    refused = gw.handle(ClientFrame(1, json.dumps(
        {"t": "send", "req": 5, "id": "x", "conv": "d", "bodies": {"u1": ""}}
    )))  # fmt: skip
    assert frames(refused, "error")[0] == {
        "t": "error", "req": 5, "code": "not-member", "message": frames(refused)[0]["message"]
    }  # fmt: skip
    pushed = gw.handle(Applied([msg("d1", 1, conv="d")]))
    assert [(a.sid, a.frame["id"]) for a in pushed] == [(2, "d1")]
    assert gw.handle(Applied([msg("d1", 1, conv="d")])) == [], "a re-applied entry is not pushed"


def test_ap_replica_accepts_alone_and_pulls_what_it_missed_per_origin():
    a, b = ApReplica("n1", ["n2"]), ApReplica("n2", ["n1"])
    req = Request(MSG, {"id": "m", "conv": "g1", "from": "u1", "bodies": {}})
    out = a.handle(Submit(0.0, ClientOrigin(1, 1), req))
    assert Respond(ClientOrigin(1, 1), Result("ok", seq=1)) in out
    assert a.handle(Submit(0.0, ClientOrigin(1, 2), req))[0].result.seq == 1, "retry deduped"
    b.handle(Submit(0.0, ClientOrigin(1, 1), Request(MSG, {**req.data, "id": "other"})))
    [pull] = [x.msg for x in b.handle(Tick(1.0)) if isinstance(x, SendPeer)]
    assert pull == Pull({"n2": 1})
    [reply] = a.handle(FromPeer(1.0, "n2", pull, conn=9))
    assert isinstance(reply, ReplyConn) and [e.data["id"] for e in reply.msg.entries] == ["m"]
    b.handle(FromPeer(1.0, "n1", reply.msg, conn=None))
    assert sorted((e.data["id"], e.data["seq"]) for e in b.log) == [("m", 1), ("other", 1)]
    assert b.handle(LinkState(1.05, "n1", True)) == [SendPeer("n1", Pull({"n1": 1, "n2": 1}))]
    assert b.handle(LinkState(1.06, "n1", False)) == []


def test_a_large_backlog_is_pushed_in_parts_as_the_session_drains_and_stays_in_order():
    gw = Gateway("n1", "cp", PROV.directory, e2e=True, bugs=frozenset(), backlog_budget=400)
    gw.handle(Applied([msg(f"m{i}", i + 1) for i in range(6)]))
    first = login(gw, 1, "u2")
    assert [f["id"] for f in frames(first, "msg")] == ["m0", "m1"] and not frames(first, "synced")
    assert frames(gw.handle(Applied([msg("live", 7)]))) == [], "live waits for the backlog"
    second = gw.handle(Drained(1))
    assert [f["id"] for f in frames(second, "msg")] == ["m2", "m3"]
    rest = gw.handle(Drained(1)) + gw.handle(Drained(1))
    assert [f.get("id", f["t"]) for f in frames(rest)] == ["m4", "m5", "live", "synced"]
    assert gw.handle(Drained(1)) == []


def test_acks_name_sender_and_id_and_only_pushed_messages_can_be_acked():
    gw = gateway()
    gw.handle(Applied([msg("same", 1), msg("same", 2, sender="u3")]))
    login(gw, 1, "u2")
    out = gw.handle(ClientFrame(1, json.dumps({"t": "ack", "ids": [["u1", "same"], ["u1", "x"]]})))
    [ask] = [a for a in out if isinstance(a, Ask)]
    assert ask.request.data == {"user": "u2", "ids": [["u1", "same"]]}
    gw.handle(Applied([Entry(1, "ack", ask.request.data)]))
    assert [(f["from"], f["id"]) for f in frames(login(gw, 2, "u2"), "msg")] == [("u3", "same")]
    bad = gw.handle(ClientFrame(1, json.dumps({"t": "ack", "ids": ["same"], "req": 4})))
    assert frames(bad)[0]["code"] == "bad-frame" and frames(bad)[0]["req"] == 4


def test_peer_batches_stay_under_the_byte_limit_yet_always_move():
    big = [msg(f"b{i}", i + 1) for i in range(3)]
    big = [Entry(1, MSG, {**e.data, "bodies": {"u2": "x" * 200_000}}) for e in big]
    assert fit(big, limit=450_000) == big[:2]
    assert fit(big[:1], limit=10) == big[:1], "one entry always goes"
    a = ApReplica("n1", ["n2"])
    for i in range(60):
        data = {"id": f"m{i}", "conv": "d", "from": "u1", "bodies": {"u2": "x" * 250_000}}
        a.handle(Submit(0.0, ClientOrigin(1, i), Request(MSG, data)))
    [reply] = a.handle(FromPeer(1.0, "n2", Pull({}), conn=9))
    sent = reply.msg.entries
    assert 0 < len(sent) < 60 and sum(map(entry_size, sent)) <= MAX_BATCH_BYTES
    assert [e.n for e in sent] == list(range(1, len(sent) + 1))


def test_a_too_large_frame_is_refused_naming_its_request():
    gw = gateway()
    login(gw, 1, "u1")
    frame = {"t": "send", "req": 3, "id": "big", "conv": "d", "bodies": {"u2": "x" * 300_000}}
    [log, reply] = gw.handle(ClientFrame(1, json.dumps(frame)))
    assert (reply.frame["code"], reply.frame["req"]) == ("too-large", 3)
    assert "too-large" in log.text and "262144 bytes" in reply.frame["message"]
    [_, unparsable] = gw.handle(ClientFrame(1, "x" * 300_000))
    assert (unparsable.frame["code"], unparsable.frame["req"]) == ("too-large", None)


def test_a_client_that_reads_batches_is_told_so_and_others_are_not():
    gw = gateway()
    plain = login(gw, 1, "u2")
    assert not any(isinstance(a, JoinFrames) for a in plain)
    assert "batch" not in frames(plain, "welcome")[0]
    nonce = bytes([2]) * 16
    gw.handle(Opened(2, nonce))
    sig = crypto.sign_challenge(keys.signing_key(PROV.secrets["u3"]), "n1", nonce)
    auth = {"t": "auth", "user": "u3", "sig": sig, "have": [], "batch": True}
    out = gw.handle(ClientFrame(2, json.dumps(auth)))
    assert [a.sid for a in out if isinstance(a, JoinFrames)] == [2]
    assert frames(out, "welcome")[0]["batch"] is True
