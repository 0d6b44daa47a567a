"""Partition shapes: who sees whom, and which links each shape cuts (pure, no I/O)."""

from __future__ import annotations

import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nemesis import partitions
from nemesis.catalogue import SHAPES, parse_kinds, parse_shapes

node_lists = st.integers(min_value=2, max_value=7).map(
    lambda n: tuple(f"n{i}" for i in range(1, n + 1))
)
client_lists = st.integers(min_value=0, max_value=4).map(lambda n: tuple(f"c{i}" for i in range(n)))


@st.composite
def drawn(draw):
    """(shape, nodes, client groups, partition, placement) from a seed."""
    nodes = draw(node_lists)
    clients = draw(client_lists)
    shape = draw(st.sampled_from(partitions.shapes_for(len(nodes))))
    rng = random.Random(draw(st.integers()))
    params = partitions.draw_params(shape, nodes, rng)
    partition = partitions.from_params(params, nodes)
    placement = partitions.draw_placement(clients, len(partition.sides), rng)
    return shape, nodes, clients, partition, placement


def majority(nodes) -> int:
    return len(nodes) // 2 + 1


@given(drawn())
def test_every_shape_is_symmetric_and_cuts_something(case):
    _, nodes, _, partition, _ = case
    cut = partition.node_links_cut()
    assert cut, "a partition that cuts nothing is no fault"
    assert all((b, a) in cut for a, b in cut)
    for a in nodes:
        assert a in partition.views[a]
        assert all(a in partition.views[b] for b in partition.views[a])


@given(drawn())
def test_grouped_shapes_cut_exactly_the_links_between_groups(case):
    shape, nodes, _, partition, _ = case
    if shape not in ("one-alone", "primary-alone", "halves"):
        return
    group_of = {n: i for i, g in enumerate(partition.groups) for n in g}
    assert sorted(group_of) == sorted(nodes)
    expected = {(a, b) for a in nodes for b in nodes if group_of[a] != group_of[b]}
    assert partition.node_links_cut() == expected
    if shape == "halves":
        sizes = sorted(len(g) for g in partition.groups)
        assert sizes == [len(nodes) // 2, len(nodes) - len(nodes) // 2]
    else:
        assert min(len(g) for g in partition.groups) == 1


@given(drawn())
def test_bridge_node_sees_everything_and_the_halves_do_not_meet(case):
    shape, nodes, _, partition, _ = case
    if shape != "bridge":
        return
    left, (middle,), right = partition.groups
    assert partition.views[middle] == frozenset(nodes)
    cut = partition.node_links_cut()
    assert {(a, b) for a in left for b in right} <= cut
    assert not any(middle in link for link in cut)


@given(drawn())
def test_majorities_ring_gives_each_node_a_distinct_majority(case):
    shape, nodes, _, partition, _ = case
    if shape != "majorities-ring":
        return
    views = [partition.views[n] for n in nodes]
    assert all(len(v) >= majority(nodes) for v in views)
    assert len(set(views)) == len(nodes)


def test_majorities_ring_of_five_is_jepsens_ring():
    nodes = ("n1", "n2", "n3", "n4", "n5")
    partition = partitions.majorities_ring(["n1", "n3", "n5", "n2", "n4"], nodes)
    assert partition.views["n1"] == {"n4", "n1", "n3"}
    assert all(len(v) == 3 for v in partition.views.values())
    assert len(partition.node_links_cut()) == 5 * 2


def test_majorities_ring_of_three_is_a_path():
    partition = partitions.majorities_ring(["n2", "n1", "n3"], ("n1", "n2", "n3"))
    assert partition.node_links_cut() == {("n2", "n3"), ("n3", "n2")}


@given(drawn())
def test_client_groups_reach_their_side_only_and_are_spread(case):
    _, nodes, clients, partition, placement = case
    links = partitions.cut_links(partition, nodes, clients, placement)
    reach = partitions.client_reach(partition, clients, placement)
    for c in clients:
        assert reach[c]
        assert {n for n in nodes if (c, n) not in links} == reach[c]
    assert {(a, b) for a, b in links if a in nodes} == partition.node_links_cut()
    if len(clients) >= 2:
        assert reach[clients[0]] != reach[clients[1]]


@given(drawn())
def test_history_value_is_plain_json_naming_the_cut_links(case):
    _, nodes, clients, partition, placement = case
    value = partitions.history_value(partition, clients, placement, "drop")
    assert json.loads(json.dumps(value)) == value
    links = partitions.cut_links(partition, nodes, clients, placement)
    assert {tuple(link) for link in value["links_cut"]} == links
    assert set(value["clients"]) == set(clients)


def test_primary_alone_isolates_the_primary_or_the_seeded_node():
    nodes = ("n1", "n2", "n3")
    params = {"shape": "primary-alone", "node": "n3"}
    assert partitions.from_params(params, nodes, primary="n2").groups == (("n2",), ("n1", "n3"))
    assert partitions.from_params(params, nodes).groups == (("n3",), ("n1", "n2"))


@pytest.mark.parametrize(
    "params",
    [
        {"shape": "halves", "groups": [["n1"], ["n2"]]},
        {"shape": "halves", "groups": [["n1", "n2", "n3"], []]},
        {"shape": "one-alone", "groups": [["n1"], ["n1", "n2", "n3"]]},
        {"shape": "bridge", "groups": [["n1"], ["n2", "n3"]]},
        {"shape": "majorities-ring", "ring": ["n1", "n2"]},
        {"shape": "square"},
    ],
)
def test_params_that_do_not_fit_the_nodes_are_refused(params):
    with pytest.raises(ValueError):
        partitions.from_params(params, ("n1", "n2", "n3"))


def test_unknown_names_are_refused_with_the_valid_ones_listed():
    with pytest.raises(ValueError, match=r"partition.*kill.*pause.*latency"):
        parse_kinds("partition,explode")
    with pytest.raises(ValueError, match="majorities-ring"):
        parse_shapes(["ring"])
    assert parse_kinds(" kill, partition,kill ") == ("kill", "partition")
    assert parse_kinds("") == ()
    assert set(parse_shapes(",".join(SHAPES))) == set(SHAPES)
