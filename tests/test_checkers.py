"""Each checker on small hand-written histories: the count, and the evidence it cites."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from checkers import ANOMALIES, check_history, load_history, parse_history
from checkers.causal import find_causal
from checkers.observations import observe
from tests.helpers.history_strategies import Builder


def check(builder: Builder, max_examples: int = 10) -> dict[str, Any]:
    return check_history(parse_history(builder.case.lines(), "t"), max_examples)


def counts(builder: Builder) -> dict[str, int]:
    results = check(builder)
    found = {name: n for name, n in results["anomaly_counts"].items() if n}
    return found | ({"unseen": results["unseen"]} if results["unseen"] else {})


def only(builder: Builder, name: str) -> dict[str, Any]:
    """The single example of the single anomaly ``name``."""
    results = check(builder)
    assert counts(builder) == {name: 1}
    (example,) = results["anomalies"][name]
    return example


def sent_ok(h: Builder, process: int, msg: str, conv: str, sender: str, to: list[str], seq: int):
    return h.send(process, msg, conv, sender, to).ok(process, msg, conv, seq)


# --- verdict and shape -------------------------------------------------------------------------


def test_every_anomaly_name_is_always_a_key() -> None:
    results = check(Builder())
    assert list(results["anomaly_counts"]) == list(ANOMALIES)
    assert list(results["anomalies"]) == list(ANOMALIES)
    assert results["valid"] is True and results["unseen"] == 0
    assert results["stats"]["sends"] == {"ok": 0, "fail": 0, "info": 0}
    assert results["stats"]["availability"] == 1.0


def test_stats_count_every_attempt_and_availability_is_ok_over_all() -> None:
    h = sent_ok(Builder(), 1, "m1", "c", "u1", ["u2"], 1).deliver(2, "m1", "c", "u1", "u2", 1)
    h.send(1, "m2", "c", "u1", ["u2"]).fail(1, "m2", "c")
    h.send(1, "m3", "c", "u1", ["u2"]).info(1, "m3", "c")
    h.send(3, "m3", "c", "u1", ["u2"])  # a retry the harness never saw end: info
    stats = check(h.drain())["stats"]
    assert stats["sends"] == {"ok": 1, "fail": 1, "info": 2}
    assert stats["availability"] == 0.25
    assert (stats["messages"], stats["deliveries"], stats["drain"]) == (3, 1, "completed")


# --- lost and unseen ---------------------------------------------------------------------------


def test_lost_needs_a_completed_drain_and_counts_message_user_pairs() -> None:
    h = sent_ok(Builder(), 1, "m1", "g", "u1", ["u2", "u3", "u4"], 1)
    h.deliver(2, "m1", "g", "u1", "u2", 1)
    assert counts(h) == {"unseen": 2}
    results = check(h.drain())
    assert results["anomaly_counts"]["lost"] == 2 and results["valid"] is False
    example = results["anomalies"]["lost"][0]
    assert example["ids"] == ["m1"] and example["users"] == ["u3"]
    assert example["indexes"] == [0, 1, 4]  # invoke, ok, drain ok
    assert "never saw m1" in example["why"]


def test_without_drain_the_verdict_is_unknown() -> None:
    h = sent_ok(Builder(), 1, "m1", "g", "u1", ["u2"], 1)
    results = check(h.drain(complete=False))
    assert results["valid"] == "unknown" and results["unseen"] == 1
    assert results["unseen_examples"][0]["users"] == ["u2"]


def test_an_ack_after_the_drain_completed_is_not_proven_lost() -> None:
    h = Builder().send(1, "m1", "c", "u1", ["u2"]).drain().ok(1, "m1", "c", 1)
    assert counts(h) == {"unseen": 1}


def test_only_acknowledged_messages_can_be_lost() -> None:
    h = Builder().send(1, "m1", "c", "u1", ["u2"]).info(1, "m1", "c")
    h.send(4, "m2", "c", "u1", ["u2"]).fail(4, "m2", "c")
    assert check(h.drain())["valid"] is True


def test_a_retry_that_succeeds_makes_the_message_acknowledged() -> None:
    h = Builder().send(1, "m1", "c", "u1", ["u2"]).info(1, "m1", "c")
    h.send(4, "m1", "c", "u1", ["u2"]).ok(4, "m1", "c", 1)
    assert counts(h.drain()) == {"lost": 1}


# --- duplicated, unexpected, failed-delivered, corrupt -------------------------------------------


def test_duplicated_counts_pairs_not_arrivals() -> None:
    h = sent_ok(Builder(), 1, "m1", "g", "u1", ["u2", "u3"], 1)
    for _ in range(3):
        h.deliver(2, "m1", "g", "u1", "u2", 1)
    h.deliver(3, "m1", "g", "u1", "u3", 1).deliver(3, "m1", "g", "u1", "u3", 1)
    results = check(h.drain())
    assert results["anomaly_counts"]["duplicated"] == 2
    first = results["anomalies"]["duplicated"][0]
    assert (first["users"], first["indexes"]) == (["u2"], [2, 3, 4])


def test_unexpected_covers_unknown_ids_and_strangers_and_the_sender_itself() -> None:
    h = sent_ok(Builder(), 1, "m1", "c", "u1", ["u2"], 1).deliver(2, "m1", "c", "u1", "u2", 1)
    h.deliver(3, "m1", "c", "u1", "u3", 1)  # not a recipient
    h.deliver(1, "m1", "c", "u1", "u1", 1)  # the sender is not among the recipients
    h.deliver(2, "ghost", "c9", "u7", "u2")  # never sent
    results = check(h.drain())
    assert results["anomaly_counts"]["unexpected"] == 3
    whys = [example["why"] for example in results["anomalies"]["unexpected"]]
    assert "not among its recipients (u2)" in whys[0]
    assert "no send of ghost was ever invoked" in whys[2]


def test_failed_delivered_needs_every_attempt_to_have_failed() -> None:
    h = Builder().send(1, "m1", "c", "u1", ["u2"]).fail(1, "m1", "c")
    h.send(1, "m1", "c", "u1", ["u2"]).fail(1, "m1", "c")
    h.deliver(2, "m1", "c", "u1", "u2").deliver(3, "m1", "c", "u1", "u3")
    results = check(h.drain())
    assert results["anomaly_counts"] == dict.fromkeys(ANOMALIES, 0) | {
        "failed-delivered": 1,
        "unexpected": 1,
    }
    example = results["anomalies"]["failed-delivered"][0]
    assert example["users"] == ["u2", "u3"] and example["indexes"] == [0, 1, 2, 3, 4, 5]
    assert "all 2 sends of it failed" in example["why"]
    retried = Builder().send(1, "m1", "c", "u1", ["u2"]).fail(1, "m1", "c")
    retried.send(1, "m1", "c", "u1", ["u2"]).info(1, "m1", "c")
    assert check(retried.deliver(2, "m1", "c", "u1", "u2").drain())["valid"] is True


def test_corrupt_counts_messages_and_ignores_missing_digests() -> None:
    h = sent_ok(Builder(), 1, "m1", "g", "u1", ["u2", "u3"], 1)
    h.deliver(2, "m1", "g", "u1", "u2", 1, digest="bad1").deliver(3, "m1", "g", "u1", "u3", 1, "b2")
    h.op(4, "ok", "deliver", {"id": "m1", "conv": "g", "from": "u1", "user": "u4"})
    example = check(h)["anomalies"]["corrupt"][0]
    assert check(h)["anomaly_counts"]["corrupt"] == 1
    assert example["users"] == ["u2", "u3"] and example["seen_digest"] == "bad1"


# --- seq-conflict ------------------------------------------------------------------------------


def test_seq_conflict_counts_shared_values_and_messages_with_two_seqs() -> None:
    h = sent_ok(Builder(), 1, "m1", "g", "u1", ["u2"], 1)
    sent_ok(h, 2, "m2", "g", "u2", ["u1"], 1)  # (g, 1) shared by m1 and m2
    sent_ok(h, 1, "m3", "g", "u1", ["u2"], 2)
    h.deliver(2, "m1", "g", "u1", "u2", 1).deliver(1, "m2", "g", "u2", "u1", 1)
    h.deliver(2, "m3", "g", "u1", "u2", 5)  # m3 carries 2 and 5
    sent_ok(h, 1, "m4", "other", "u1", ["u2"], 1)  # same seq, another conversation: fine
    h.deliver(2, "m4", "other", "u1", "u2", 1)
    results = check(h.drain())
    assert results["anomaly_counts"]["seq-conflict"] == 2
    shared, two = results["anomalies"]["seq-conflict"]
    assert (shared["ids"], shared["seq"], shared["indexes"]) == (["m1", "m2"], 1, [1, 3])
    assert (two["ids"], two["seqs"], two["indexes"]) == (["m3"], [2, 5], [5, 8])


# --- fifo-violation ----------------------------------------------------------------------------


def two_sends(to: list[str]) -> Builder:
    h = sent_ok(Builder(), 1, "m1", "g", "u1", to, 1)
    return sent_ok(h, 1, "m2", "g", "u1", to, 2)


def test_fifo_seeing_the_later_send_first() -> None:
    h = two_sends(["u2"]).deliver(2, "m2", "g", "u1", "u2", 2).deliver(2, "m1", "g", "u1", "u2", 1)
    example = only(h.drain(), "fifo-violation")
    assert example["ids"] == ["m1", "m2"] and example["users"] == ["u1", "u2"]
    assert example["indexes"] == [0, 1, 2, 4, 5]
    assert example["why"] == (
        "u2 saw m2 (index 4) before m1 (index 5), but u1 sent m2 (index 2) after m1 was "
        "acknowledged (index 1)."
    )


def test_fifo_seeing_the_later_send_and_never_the_earlier() -> None:
    h = two_sends(["u2", "u3"]).deliver(2, "m2", "g", "u1", "u2", 2)
    h.deliver(3, "m1", "g", "u1", "u3", 1).deliver(3, "m2", "g", "u1", "u3", 2)
    results = check(h.drain())
    assert results["anomaly_counts"]["fifo-violation"] == 1
    assert results["anomaly_counts"]["lost"] == 1
    assert "saw m2 (index 4) and never m1" in results["anomalies"]["fifo-violation"][0]["why"]


def test_fifo_needs_the_first_send_acknowledged_before_the_second_was_invoked() -> None:
    h = Builder().send(1, "m1", "g", "u1", ["u2"]).info(1, "m1", "g")
    sent_ok(h, 5, "m2", "g", "u1", ["u2"], 2)
    h.deliver(2, "m2", "g", "u1", "u2", 2).deliver(2, "m1", "g", "u1", "u2", 1)
    # the system's own seqs still order m1 first: strict order, not FIFO, is what u2 broke
    assert counts(h.drain()) == {"seq-order": 1}


def test_fifo_ignores_a_failed_later_send_and_other_conversations() -> None:
    h = sent_ok(Builder(), 1, "m1", "g", "u1", ["u2"], 1)
    h.send(1, "m2", "g", "u1", ["u2"]).fail(1, "m2", "g")
    sent_ok(h, 1, "m3", "h", "u1", ["u2"], 1)
    h.deliver(2, "m3", "h", "u1", "u2", 1).deliver(2, "m2", "g", "u1", "u2")
    h.deliver(2, "m1", "g", "u1", "u2", 1)
    assert counts(h.drain()) == {"failed-delivered": 1}


# --- causal-violation --------------------------------------------------------------------------


def reply_seen_first() -> Builder:
    """u2 saw m1 and answered m2; u3 sees the answer first."""
    h = sent_ok(Builder(), 1, "m1", "g", "u1", ["u2", "u3"], 1)
    h.deliver(2, "m1", "g", "u1", "u2", 1)
    sent_ok(h, 2, "m2", "g", "u2", ["u1", "u3"], 2)
    h.deliver(1, "m2", "g", "u2", "u1", 2).deliver(3, "m2", "g", "u2", "u3", 2)
    return h.deliver(3, "m1", "g", "u1", "u3", 1)


def test_causal_direct_with_the_plain_words_of_the_issue() -> None:
    example = only(reply_seen_first().drain(), "causal-violation")
    assert example["ids"] == ["m1", "m2"] and example["chain"] == ["m1", "m2"]
    assert example["users"] == ["u3", "u2"]
    assert example["indexes"] == [2, 3, 6, 7]
    assert example["why"] == (
        "u3 saw m2 (index 6) before m1 (index 7), but u2 had seen m1 (index 2) before sending "
        "m2 (index 3)."
    )


def test_causal_through_a_chain_explains_every_step() -> None:
    h = sent_ok(Builder(), 1, "m1", "g", "u1", ["u2", "u4"], 1)
    h.deliver(2, "m1", "g", "u1", "u2", 1)
    sent_ok(h, 2, "m2", "g", "u2", ["u3"], 2)
    h.deliver(3, "m2", "g", "u2", "u3", 2)
    sent_ok(h, 3, "m3", "g", "u3", ["u4"], 3)
    h.deliver(4, "m3", "g", "u3", "u4", 3)
    results = check(h.drain())
    assert counts(h) == {"causal-violation": 1, "lost": 1}  # u4 never saw m1
    example = results["anomalies"]["causal-violation"][0]
    assert example["chain"] == ["m1", "m2", "m3"]
    assert example["why"] == (
        "u4 saw m3 (index 8) and never m1, but m1 happened before m3: u2 saw m1 (index 2) "
        "before sending m2 (index 3), then u3 saw m2 (index 5) before sending m3 (index 6)."
    )
    assert example["indexes"] == [2, 3, 5, 6, 8]


def test_causal_needs_a_common_recipient_and_one_conversation() -> None:
    h = sent_ok(Builder(), 1, "m1", "g", "u1", ["u2"], 1).deliver(2, "m1", "g", "u1", "u2", 1)
    sent_ok(h, 2, "m2", "g", "u2", ["u3"], 2).deliver(3, "m2", "g", "u2", "u3", 2)
    other = sent_ok(Builder(), 1, "m1", "g", "u1", ["u2", "u3"], 1)
    other.deliver(2, "m1", "g", "u1", "u2", 1)
    sent_ok(other, 2, "m2", "k", "u2", ["u3"], 1).deliver(3, "m2", "k", "u2", "u3", 1)
    other.deliver(3, "m1", "g", "u1", "u3", 1)
    assert check(h.drain())["valid"] is True
    assert check(other.drain())["valid"] is True


def test_a_pair_that_is_a_fifo_violation_is_not_counted_again_as_causal() -> None:
    h = sent_ok(Builder(), 1, "m1", "g", "u1", ["u2", "u3"], 1)
    h.deliver(2, "m1", "g", "u1", "u2", 1)
    sent_ok(h, 2, "m2", "g", "u2", ["u1", "u3"], 2)
    sent_ok(h, 1, "m3", "g", "u1", ["u2", "u3"], 3)  # m1 -> m3 by fifo, m2 -> m3? no
    h.deliver(3, "m3", "g", "u1", "u3", 3).deliver(3, "m2", "g", "u2", "u3", 2)
    h.deliver(3, "m1", "g", "u1", "u3", 1)
    h.deliver(1, "m2", "g", "u2", "u1", 2).deliver(2, "m3", "g", "u1", "u2", 3)
    results = check(h.drain())
    assert results["anomaly_counts"]["fifo-violation"] == 1  # (m3, u3), witness m1
    assert results["anomaly_counts"]["causal-violation"] == 1  # (m2, u3) only
    assert results["anomalies"]["causal-violation"][0]["ids"] == ["m1", "m2"]


def test_failed_sends_are_in_no_relation() -> None:
    h = Builder().send(1, "m1", "g", "u1", ["u2", "u3"]).fail(1, "m1", "g")
    h.deliver(2, "m1", "g", "u1", "u2")
    sent_ok(h, 2, "m2", "g", "u2", ["u1", "u3"], 2)
    h.deliver(3, "m2", "g", "u2", "u3", 2).deliver(3, "m1", "g", "u1", "u3")
    h.deliver(1, "m2", "g", "u2", "u1", 2)
    assert counts(h.drain()) == {"failed-delivered": 1}


def test_a_sighting_before_the_invoke_still_carries_the_causes() -> None:
    """u2 "saw" m2 before u3 sent it, and sent m3; u3 had seen m1 before sending m2. So
    m1 -> m2 -> m3, though the file has m3 before m2: u4 saw m3 before m1, and u2 saw m2 before
    m1."""
    h = sent_ok(Builder(), 1, "m1", "g", "u1", ["u2", "u3", "u4"], 1)
    h.deliver(3, "m1", "g", "u1", "u3", 1)
    h.deliver(2, "m2", "g", "u3", "u2", 2)  # before m2's invoke
    sent_ok(h, 2, "m3", "g", "u2", ["u4"], 3)
    sent_ok(h, 3, "m2", "g", "u3", ["u2"], 2)
    h.deliver(4, "m3", "g", "u2", "u4", 3).deliver(4, "m1", "g", "u1", "u4", 1)
    h.deliver(2, "m1", "g", "u1", "u2", 1)
    obs = observe(parse_history(h.case.lines()))
    found = {violation.pair: violation for violation in find_causal(obs)}
    assert set(found) == {("m3", "u4"), ("m2", "u2")}
    assert [step.cause.id for step in found["m3", "u4"].chain()] == ["m1", "m2"]
    assert [step.cause.id for step in found["m2", "u2"].chain()] == ["m1"]


# --- order-divergence --------------------------------------------------------------------------


def test_divergence_counts_distinct_unordered_pairs() -> None:
    h = Builder()
    for n, sender in enumerate(["u1", "u2", "u3"], 1):
        h.send(n, f"m{n}", "g", sender, [u for u in ["u1", "u2", "u3", "u4", "u5"] if u != sender])
    for n in (1, 2, 3):
        h.ok(n, f"m{n}", "g", n)
    orders = {"u4": ["m1", "m2", "m3"], "u5": ["m3", "m2", "m1"]}
    for user, order in orders.items():
        for msg in order:
            h.deliver(4, msg, "g", f"u{msg[1]}", user, int(msg[1]))
    results = check(h)
    assert results["anomaly_counts"]["order-divergence"] == 3  # {m1,m2} {m1,m3} {m2,m3}
    examples = results["anomalies"]["order-divergence"]
    assert {tuple(sorted(example["ids"])) for example in examples} == {
        ("m1", "m2"),
        ("m1", "m3"),
        ("m2", "m3"),
    }
    assert all(example["users"] == ["u4", "u5"] for example in examples)
    assert examples[0]["why"] == (
        "u4 saw m2 (index 7) before m3 (index 8), but u5 saw m3 (index 9) before m2 (index 10)."
    )


@pytest.mark.parametrize("max_examples", [0, 1, 2])
def test_examples_are_capped_but_counts_are_not(max_examples: int) -> None:
    h = sent_ok(Builder(), 1, "m1", "g", "u1", ["u2", "u3", "u4"], 1).drain()
    results = check(h, max_examples)
    assert results["anomaly_counts"]["lost"] == 3
    assert len(results["anomalies"]["lost"]) == max_examples


def test_a_user_outside_to_is_only_unexpected_however_they_saw_it() -> None:
    """Recipients are the users in ``to``: a stranger's repeats and order are not judged."""
    h = Builder()
    for n in (1, 2):
        h.send(n, f"m{n}", "g", f"u{n}", ["u3", "u4"] + (["u2"] if n == 1 else ["u1"]))
        h.ok(n, f"m{n}", "g", n)
    for user in ("u3", "u4"):
        h.deliver(3, "m1", "g", "u1", user, 1).deliver(3, "m2", "g", "u2", user, 2)
    h.deliver(2, "m1", "g", "u1", "u2", 1).deliver(1, "m2", "g", "u2", "u1", 2)
    h.deliver(9, "m2", "g", "u2", "u9", 2).deliver(9, "m1", "g", "u1", "u9", 1)  # reversed
    h.deliver(9, "m2", "g", "u2", "u9", 2)  # and twice
    assert counts(h.drain()) == {"unexpected": 2}


# --- seq-order ---------------------------------------------------------------------------------


def two_senders(seq_a: int = 1, seq_b: int = 2) -> Builder:
    """u1 and u2 send concurrently to a group; u3 is the only recipient of both."""
    h = Builder().send(1, "a", "g", "u1", ["u2", "u3"]).send(2, "b", "g", "u2", ["u1", "u3"])
    return h.ok(1, "a", "g", seq_a).ok(2, "b", "g", seq_b)


def test_seq_order_names_both_messages_the_recipient_both_seqs_and_the_lines() -> None:
    h = two_senders().deliver(3, "b", "g", "u2", "u3", 2).deliver(3, "a", "g", "u1", "u3", 1)
    h.deliver(2, "a", "g", "u1", "u2", 1).deliver(1, "b", "g", "u2", "u1", 2)
    example = only(h.drain(), "seq-order")
    assert example["ids"] == ["a", "b"] and example["users"] == ["u3"]
    assert example["seqs"] == [1, 2] and example["conv"] == "g"
    assert example["indexes"] == [2, 3, 4, 5]
    assert example["why"] == (
        "In g the system promised a (seq 1, reported at index 2) before b (seq 2, index 3), but "
        "u3 saw b first (index 4) and a only later (index 5)."
    )


def test_seq_order_counts_seeing_the_later_and_never_the_earlier() -> None:
    h = two_senders().deliver(3, "b", "g", "u2", "u3", 2).deliver(2, "a", "g", "u1", "u2", 1)
    h.deliver(1, "b", "g", "u2", "u1", 2)
    assert counts(h.drain()) == {"lost": 1, "seq-order": 1}
    assert "and never a." in check(h)["anomalies"]["seq-order"][0]["why"]


def test_seq_order_counts_pairs_of_later_message_and_recipient() -> None:
    h = two_senders(1, 3).send(4, "c", "g", "u4", ["u3"]).ok(4, "c", "g", 2)
    # u3 sees b (3), then c (2), then a (1): b has two earlier messages after it, c one
    h.deliver(3, "b", "g", "u2", "u3", 3).deliver(3, "c", "g", "u4", "u3", 2)
    h.deliver(3, "a", "g", "u1", "u3", 1)
    found = check(h)["anomalies"]["seq-order"]
    assert [(e["ids"][1], e["users"][0], e["seqs"][0]) for e in found] == [
        ("b", "u3", 1),
        ("c", "u3", 1),
    ]


@pytest.mark.parametrize(
    "variant",
    ["failed", "two-seqs", "no-seq", "not-addressed", "other-conversation"],
)
def test_seq_order_leaves_out_what_the_contract_leaves_out(variant: str) -> None:
    h = Builder().send(1, "a", "g", "u1", ["u2", "u3"])
    if variant == "failed":
        h.fail(1, "a", "g")
    else:
        h.ok(1, "a", "g", None if variant == "no-seq" else 1)
    to = ["u1"] if variant == "not-addressed" else ["u1", "u3"]
    conv = "h" if variant == "other-conversation" else "g"
    h.send(2, "b", conv, "u2", to).ok(2, "b", conv, 2)
    if variant != "not-addressed":
        h.deliver(3, "b", conv, "u2", "u3", 2)
    seen_seq = 3 if variant == "two-seqs" else (None if variant == "no-seq" else 1)
    if variant != "failed":
        h.deliver(3, "a", "g", "u1", "u3", seen_seq)
    assert check(h.drain())["anomaly_counts"]["seq-order"] == 0


def test_seq_order_does_not_count_a_fifo_or_causal_pair_again() -> None:
    fifo = sent_ok(sent_ok(Builder(), 1, "a", "g", "u1", ["u2"], 1), 1, "b", "g", "u1", ["u2"], 2)
    fifo.deliver(2, "b", "g", "u1", "u2", 2).deliver(2, "a", "g", "u1", "u2", 1)
    assert counts(fifo.drain()) == {"fifo-violation": 1}
    causal = sent_ok(Builder(), 1, "a", "g", "u1", ["u2", "u3"], 1)
    causal.deliver(2, "a", "g", "u1", "u2", 1)
    sent_ok(causal, 2, "b", "g", "u2", ["u1", "u3"], 2)
    causal.deliver(3, "b", "g", "u2", "u3", 2).deliver(3, "a", "g", "u1", "u3", 1)
    causal.deliver(1, "b", "g", "u2", "u1", 2)
    assert counts(causal.drain()) == {"causal-violation": 1}


def test_a_real_nats_redelivery_reordering_is_a_seq_order() -> None:
    """Conversation g3 of a real run (``splitbrain run --system nats --nemesis partition,kill
    --seed 7 --time-limit 30``, trimmed to g3 and the nemesis and drain lines, renumbered; each
    line keeps its ``original-index``): u6 got stream sequences 10 and 11 at about 6 s, and 9
    only when JetStream redelivered it, 14 s later."""
    path = Path(__file__).resolve().parent / "data" / "nats-redelivery-g3.jsonl"
    results = check_history(load_history(path))
    found = results["anomalies"]["seq-order"]
    assert results["anomaly_counts"]["seq-order"] == 2
    assert [(e["users"], e["ids"], e["seqs"]) for e in found] == [
        (["u6"], ["m12-8", "m7-6"], [9, 10]),
        (["u6"], ["m12-8", "m7-8"], [9, 11]),
    ]
    ops = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    late, early = (ops[i] for i in (found[0]["indexes"][-1], found[0]["indexes"][-2]))
    assert (late["value"]["id"], early["value"]["id"]) == ("m12-8", "m7-6")
    assert late["time"] - early["time"] > 10 * 10**9  # past the consumer's 10 s ack wait
