"""Properties of the checkers over histories of a correct system, with and without one anomaly.

- A correct system's history has no anomaly (``valid`` is true once drained).
- Each injector adds one anomaly: the checkers report exactly that one, once, and nothing else.
- On histories mutated at random, every count equals the brute-force reference.
- ``seq-order`` in particular: none when everyone saw everything in seq order; exactly one when
  one recipient saw two unrelated messages of different senders swapped.
"""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from checkers import ANOMALIES, check_history, parse_history
from checkers.causal import find_causal
from checkers.fifo import find_fifo
from checkers.observations import observe
from checkers.ordered import sweep_scope
from checkers.seq_order import find_seq_order
from tests.helpers.history_strategies import (
    INJECTORS,
    Case,
    correct_histories,
    drop_last_delivery,
    edited_histories,
    reference_counts,
    seq_order_swap,
)


def check(case: Case, max_examples: int = 3) -> dict:
    return check_history(parse_history(case.lines(), "generated"), max_examples)


def nonzero(results: dict) -> dict[str, int]:
    return {name: n for name, n in results["anomaly_counts"].items() if n}


@given(correct_histories())
def test_a_correct_system_has_no_anomaly(case: Case) -> None:
    results = check(case)
    assert nonzero(results) == {}
    assert results["valid"] == ("unknown" if results["unseen"] else True)


@given(correct_histories(drain=True))
def test_a_drained_correct_system_is_valid(case: Case) -> None:
    results = check(case)
    assert results["valid"] is True, results["anomalies"]
    assert results["unseen"] == 0


# Conversation sizes that give each injector a place to act in most histories: a one-to-one
# conversation for fifo, three members for causal and seq-order (one common recipient), four for
# divergence.
SHAPES = {
    "fifo-violation": (2,),
    "causal-violation": (3,),
    "order-divergence": (4,),
    "seq-order": (3,),
}


@pytest.mark.parametrize("anomaly", list(INJECTORS))
@given(data=st.data(), choice=st.integers(0, 1000))
def test_one_injected_anomaly_is_reported_alone(
    anomaly: str, data: st.DataObject, choice: int
) -> None:
    shapes = SHAPES.get(anomaly, (2, 3, 4))
    case = data.draw(correct_histories(drain=True, shapes=shapes, min_steps=15), label="case")
    injected = INJECTORS[anomaly](case.ops, choice)
    assume(injected is not None)
    results = check(Case(injected))
    assert nonzero(results) == {anomaly: 1}, Case(injected)
    assert results["valid"] is False
    assert len(results["anomalies"][anomaly]) == 1


@given(correct_histories())
def test_delivered_in_seq_order_to_everyone_there_is_no_seq_order(case: Case) -> None:
    obs = observe(parse_history(case.lines()))
    assert find_seq_order(obs) == []  # not even a pair that fifo or causal order would claim


@given(
    case=correct_histories(drain=True, shapes=(3, 3), min_steps=15),
    choice=st.integers(0, 1000),
)
def test_swapping_two_deliveries_of_different_senders_makes_exactly_one(
    case: Case, choice: int
) -> None:
    swapped = seq_order_swap(case.ops, choice)
    assume(swapped is not None)
    results = check(Case(swapped))
    assert nonzero(results) == {"seq-order": 1}, Case(swapped)
    (example,) = results["anomalies"]["seq-order"]
    earlier, later = example["seqs"]
    assert earlier < later


@given(case=correct_histories(drain=False, min_steps=10), choice=st.integers(0, 1000))
def test_a_missing_sighting_without_drain_is_unseen_not_lost(case: Case, choice: int) -> None:
    injected = drop_last_delivery(case.ops, choice)
    assume(injected is not None)
    results = check(Case(injected))
    assert nonzero(results) == {}
    assert results["unseen"] >= 1
    assert results["valid"] == "unknown"


@given(edited_histories())
def test_counts_equal_the_brute_force_reference(case: Case) -> None:
    results = check(case)
    expected = reference_counts(case.ops)
    assert {**results["anomaly_counts"], "unseen": results["unseen"]} == expected


@given(edited_histories())
def test_sweeping_only_the_suspects_changes_no_finding(case: Case) -> None:
    obs = observe(parse_history(case.lines()))
    scope = sweep_scope(obs)
    fifo = [v.pair for v in find_fifo(obs)]
    assert [v.pair for v in find_fifo(obs, scope)] == fifo
    full = [v.pair for v in find_causal(obs, fifo)]
    assert [v.pair for v in find_causal(obs, fifo, scope)] == full


@given(edited_histories(), st.integers(0, 3))
def test_examples_are_capped_and_cite_real_lines(case: Case, max_examples: int) -> None:
    results = check(case, max_examples)
    ids = {op["value"].get("id") for op in case.ops if isinstance(op["value"], dict)}
    for name in ANOMALIES:
        examples = results["anomalies"][name]
        assert len(examples) == min(max_examples, results["anomaly_counts"][name])
        for item in examples:
            assert item["why"] and set(item["ids"]) <= ids
            assert all(0 <= index < len(case.ops) for index in item["indexes"])
