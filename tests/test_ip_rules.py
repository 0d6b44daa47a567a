"""The IP layer's pure core, without root: names, addresses, leases, where each fault's rules
go, the exact rules rendered, and the delayer's hold times and queue."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nemesis.ip.addressing import claim_subnet, free_indexes, plan_addresses, subnet
from nemesis.ip.delay_plan import DelayPlan, Holding, direction_of, peer_of
from nemesis.ip.leases import Leases, Owner, owner_state
from nemesis.ip.names import RunNames, check_node_name, new_run_id, run_id_of
from nemesis.ip.netns import IpNetworkError, Netns
from nemesis.ip.rules import (
    DelayRule,
    Endpoint,
    Faults,
    Impairment,
    NodeRules,
    iptables_script,
    netem_batch,
    nft_script,
    node_rules,
    place_delays,
)
from splitbrain.processes import process_start_time

NAMES = RunNames("sbip2a0b0c")
NODES = ("n1", "n2", "n3")
GROUPS = ("c0", "c1")
ENDPOINTS = {
    **{n: Endpoint(n, f"10.213.42.{i + 1}", Netns.named(f"x-{n}")) for i, n in enumerate(NODES)},
    **{g: Endpoint(g, f"10.213.42.{101 + i}") for i, g in enumerate(GROUPS)},
}
ADDRESS = {name: end.address for name, end in ENDPOINTS.items()}
NAME_OF = {address: name for name, address in ADDRESS.items()}
ENDS = st.sampled_from(sorted(ENDPOINTS))
LINKS = st.tuples(ENDS, ENDS).filter(
    lambda link: link[0] != link[1] and not set(link) <= set(GROUPS)
)
LINK_SETS = st.frozensets(LINKS, max_size=12)
IMPAIRMENTS = st.builds(
    Impairment,
    delay_ms=st.sampled_from([0.0, 5.0, 100.0]),
    jitter_ms=st.sampled_from([0.0, 3.0]),
    loss=st.sampled_from([0.0, 0.1, 1.0]),
    duplicate=st.sampled_from([0.0, 0.25]),
).filter(lambda imp: not imp.empty)


def dropped_links(faults: Faults) -> set[tuple[str, str]]:
    """The directed links whose packets the rendered rules drop, read back from the rules."""
    found = set()
    for node, rules in node_rules(faults, ENDPOINTS).items():
        found |= {(node, NAME_OF[a]) for a in rules.drop_to}
        found |= {(NAME_OF[a], node) for a in rules.drop_from}
    return found


# -- names, addresses, leases ---------------------------------------------------------------


def test_every_name_of_a_run_carries_its_id_and_fits_an_interface() -> None:
    run_id = new_run_id(0x2A)
    names = RunNames(run_id)
    assert names.subnet_index == 0x2A and run_id.startswith("sbip2a")
    owned = [
        names.hub,
        names.bridge,
        names.host_leg,
        names.hub_leg,
        names.node_netns("n1"),
        names.node_port(999),
        names.chain_in,
        names.table,
        names.probe_netns(),
    ]
    assert {run_id_of(n) for n in owned} == {run_id}
    assert max(len(n) for n in (names.host_leg, names.hub_leg, names.node_port(999))) <= 15
    assert run_id_of("sbip2a0b0cx") is None and run_id_of("docker0") is None
    with pytest.raises(ValueError, match="over 15"):
        names.node_port(1000)
    with pytest.raises(ValueError, match="cannot name a node"):
        check_node_name("-n1")
    with pytest.raises(ValueError, match="not a run id"):
        RunNames("sbipzz")


def test_the_address_plan_keeps_nodes_clients_and_the_harness_apart() -> None:
    plan = plan_addresses(7, ["n1", "n2"], ["c0"])
    assert plan.nodes == {"n1": "10.213.7.1", "n2": "10.213.7.2"}
    assert plan.client_groups == {"c0": "10.213.7.101"} and plan.harness == "10.213.7.254"
    assert str(plan.network) == "10.213.7.0/24" and plan.address("c0") == "10.213.7.101"
    with pytest.raises(ValueError, match="distinct"):
        plan_addresses(7, ["n1"], ["n1"])
    with pytest.raises(ValueError, match="at most 100 nodes"):
        plan_addresses(7, [f"n{i}" for i in range(101)], [])


def test_a_subnet_is_never_one_the_machine_already_routes() -> None:
    assert len(free_indexes(["default", "192.0.2.0/24", "127.0.0.1"])) == 256
    assert 5 not in free_indexes(["10.213.5.0/24"]) and 6 in free_indexes(["10.213.5.0/24"])
    assert free_indexes(["10.0.0.0/8"]) == [] and free_indexes(["10.213.9.77"]) == [
        i for i in range(256) if i != 9
    ]
    assert str(subnet(255)) == "10.213.255.0/24"


def test_concurrent_claims_never_share_a_subnet_and_exhaustion_says_what_to_do(
    tmp_path: Path,
) -> None:
    leases = Leases(tmp_path)
    routes = [f"10.213.{i}.0/24" for i in range(250)]
    claimed = [claim_subnet(leases, routes, random.Random(1)) for _ in range(6)]
    assert sorted(i for i, _ in claimed) == [250, 251, 252, 253, 254, 255]
    assert all(run_id_of(r) == r and RunNames(r).subnet_index == i for i, r in claimed)
    with pytest.raises(IpNetworkError, match="splitbrain clean"):
        claim_subnet(leases, routes, random.Random(1))
    leases.release(claimed[0][1])
    assert claim_subnet(leases, routes, random.Random(1))[0] == claimed[0][0]


def test_an_owner_is_alive_only_while_its_process_runs(tmp_path: Path) -> None:
    leases = Leases(tmp_path)
    leases.record_owner("sbip010000")
    assert owner_state(leases.owner("sbip010000"))[0] == "alive"
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert owner_state(Owner(gone.pid, "1", Owner.me().host)) == (
        "dead",
        f"owner pid {gone.pid} is gone",
    )
    reused = Owner(Owner.me().pid, "not-" + str(process_start_time(Owner.me().pid)), "")
    assert owner_state(reused)[0] == "dead"
    assert owner_state(Owner(1, None, "elsewhere"))[0] == "foreign"
    assert owner_state(None)[0] == "dead"
    assert leases.claim_run("sbip010000") is False and leases.claim_run("sbip010001")
    assert leases.run_ids() == {"sbip010000", "sbip010001"}
    leases.release("sbip010000")
    assert leases.run_ids() == {"sbip010001"}


# -- where rules go ---------------------------------------------------------------------------


@given(LINK_SETS, LINK_SETS)
def test_heal_removes_exactly_the_rules_of_the_links_healed(
    cut: frozenset[tuple[str, str]], healed: frozenset[tuple[str, str]]
) -> None:
    faults = Faults().cut(cut)
    assert dropped_links(faults) == set(cut)  # a one-way cut drops one way only
    after = faults.heal(healed)
    assert node_rules(after, ENDPOINTS) == node_rules(Faults().cut(cut - healed), ENDPOINTS)
    assert dropped_links(after) == set(cut - healed)


@given(LINK_SETS)
def test_a_cut_drops_at_the_receiver_or_if_it_has_no_namespace_at_the_sender(
    cut: frozenset[tuple[str, str]],
) -> None:
    rules = node_rules(Faults().cut(cut), ENDPOINTS)
    for src, dst in cut:
        if dst in NODES:
            assert ADDRESS[src] in rules[dst].drop_from
            assert src not in NODES or ADDRESS[dst] not in rules[src].drop_to
        else:
            assert ADDRESS[dst] in rules[src].drop_to
    assert set(rules) == set(NODES)


def placed(faults: Faults) -> set[tuple[str, tuple[str, str], object]]:
    """(kind, link, value) for every impairment rule, read back from the rules."""
    found: set[tuple[str, tuple[str, str], object]] = set()
    for node, r in node_rules(faults, ENDPOINTS).items():
        for kind, into, out in (
            ("loss", r.loss_from, r.loss_to),
            ("dup", r.dup_from, r.dup_to),
            ("delay", r.delay_from, r.delay_to),
        ):
            found |= {(kind, (NAME_OF[a], node), v) for a, v in into.items()}
            found |= {(kind, (node, NAME_OF[a]), v) for a, v in out.items()}
    return found


@given(st.dictionaries(LINKS, IMPAIRMENTS, max_size=8), st.frozensets(LINKS, max_size=4))
def test_loss_acts_at_the_receiver_and_delay_and_duplication_at_the_sender_each_once(
    impaired: dict[tuple[str, str], Impairment], cleared: frozenset[tuple[str, str]]
) -> None:
    faults = Faults()
    for link, imp in impaired.items():
        faults = faults.impair([link], imp)
    faults = faults.unimpair(cleared)
    expected: set[tuple[str, tuple[str, str], object]] = set()
    for link, imp in impaired.items():
        if link not in cleared:
            expected |= {("loss", link, imp.loss)} if imp.loss else set()
            expected |= {("dup", link, imp.duplicate)} if imp.duplicate else set()
            expected |= {("delay", link, imp.delay_only())} if imp.delays else set()
    assert placed(faults) == expected
    for node, r in node_rules(faults, ENDPOINTS).items():
        assert all(NAME_OF[a] in GROUPS for a in (*r.loss_to, *r.dup_from, *r.delay_from)), node


@given(LINK_SETS, LINK_SETS, LINK_SETS)
def test_a_link_is_cut_in_one_mode_at_a_time_and_heal_ends_both(
    dropped: frozenset[tuple[str, str]],
    refused: frozenset[tuple[str, str]],
    healed: frozenset[tuple[str, str]],
) -> None:
    faults = Faults().cut(dropped).cut(refused, "refuse").heal(healed)
    assert faults.refusals == refused - healed
    assert faults.cuts == dropped - refused - healed
    rules = node_rules(faults, ENDPOINTS)
    found = {(NAME_OF[a], n) for n, r in rules.items() for a in r.refuse_from}
    found |= {(n, NAME_OF[a]) for n, r in rules.items() for a in r.refuse_to}
    assert found == set(faults.refusals) and dropped_links(faults) == set(faults.cuts)
    with pytest.raises(ValueError, match="'drop' or 'refuse'"):
        Faults().cut([("n1", "n2")], "reset")  # type: ignore[arg-type]


def test_faults_refuse_unknown_ends_and_self_links_and_bad_shares() -> None:
    with pytest.raises(KeyError, match="'n9' is not a node"):
        node_rules(Faults().cut([("n1", "n9")]), ENDPOINTS)
    with pytest.raises(ValueError, match="joins two client groups"):
        node_rules(Faults().cut([("c0", "c1")]), ENDPOINTS)
    with pytest.raises(ValueError, match="to itself"):
        Faults().cut([("n1", "n1")])
    with pytest.raises(ValueError, match="share of packets"):
        Impairment(loss=1.5)
    with pytest.raises(ValueError, match="needs a delay"):
        Impairment(reorder=0.5)
    with pytest.raises(ValueError, match="between 0 and 60000"):
        Impairment(delay_ms=-1)
    assert Faults().impair([("n1", "n2")], Impairment()).impairments == {}


# -- the rules themselves ---------------------------------------------------------------------


def test_the_nft_script_replaces_the_table_atomically_with_exactly_the_rules() -> None:
    rules = NodeRules(
        address="10.213.42.2",
        device="eth0",
        drop_from={"10.213.42.3", "10.213.42.1"},
        drop_to={"10.213.42.101"},
        loss_from={"10.213.42.1": 0.25},
        loss_to={"10.213.42.102": 0.0001},
        dup_from={"10.213.42.102": 1.0},
        dup_to={"10.213.42.1": 0.5},
    )
    assert nft_script(NAMES, rules) == (
        "add table ip sbip2a0b0c\n"
        "delete table ip sbip2a0b0c\n"
        "table ip sbip2a0b0c {\n"
        "  chain input {\n"
        "    type filter hook input priority filter - 10; policy accept;\n"
        "    ip saddr { 10.213.42.1, 10.213.42.3 } drop\n"
        '    iifname "eth0" ip saddr 10.213.42.1 numgen random mod 10000 < 2500 drop\n'
        '    iifname "eth0" ip saddr 10.213.42.102 dup to 10.213.42.2\n'
        "  }\n"
        "  chain output {\n"
        "    type filter hook output priority filter - 10; policy accept;\n"
        "    ip daddr { 10.213.42.101 } drop\n"
        "    ip daddr 10.213.42.102 numgen random mod 10000 < 1 drop\n"
        "    ip daddr 10.213.42.1 numgen random mod 10000 < 5000 dup to 10.213.42.1\n"
        "  }\n"
        "}\n"
    )
    refusing = nft_script(NAMES, NodeRules("10.213.42.2", "eth0", refuse_from={"10.213.42.1"}))
    assert [line.strip() for line in refusing.splitlines() if "10.213.42.1" in line] == [
        "ip saddr { 10.213.42.1 } tcp flags rst accept",
        "ip saddr { 10.213.42.1 } meta l4proto icmp accept",
        "ip saddr { 10.213.42.1 } meta l4proto tcp reject with tcp reset",
        "ip saddr { 10.213.42.1 } reject",
    ]
    empty = nft_script(NAMES, NodeRules("10.213.42.2", "eth0"))
    assert "drop" not in empty and "dup" not in empty and "hook output" in empty


def test_delays_go_to_netem_on_egress_when_there_is_netem_and_to_the_delayer_otherwise() -> None:
    rules = NodeRules(
        "10.213.42.2",
        "eth0",
        delay_to={"10.213.42.1": Impairment(100, 10, 0.25)},
        delay_from={"10.213.42.101": Impairment(delay_ms=7)},
    )
    with_netem = place_delays(rules, netem=True)
    assert with_netem.netem == {"10.213.42.1": Impairment(100, 10, 0.25)}
    assert with_netem.queued == (DelayRule("in", "10.213.42.101", 7),)
    without = place_delays(rules, netem=False)
    assert without.netem == {}
    assert without.queued == (
        DelayRule("out", "10.213.42.1", 100, 10, 0.25),
        DelayRule("in", "10.213.42.101", 7),
    )
    assert iptables_script(NAMES, "eth0", without.queued) == (
        "*filter\n"
        ":sbip2a0b0c-in - [0:0]\n"
        ":sbip2a0b0c-out - [0:0]\n"
        "-A sbip2a0b0c-out -o eth0 -d 10.213.42.1/32 -j NFQUEUE --queue-num 2042 --queue-bypass\n"
        "-A sbip2a0b0c-in -i eth0 -s 10.213.42.101/32 -j NFQUEUE --queue-num 2042 --queue-bypass\n"
        "COMMIT\n"
    )
    assert netem_batch("eth0", with_netem.netem, limit=500) == (
        "qdisc add dev eth0 root handle 1: htb default 1\n"
        "class add dev eth0 parent 1: classid 1:1 htb rate 10gbit quantum 60000\n"
        "class add dev eth0 parent 1: classid 1:10 htb rate 10gbit quantum 60000\n"
        "qdisc add dev eth0 parent 1:10 handle 10: netem limit 500 delay 100ms 10ms reorder 25%\n"
        "filter add dev eth0 parent 1: protocol ip prio 1 u32 match ip dst 10.213.42.1/32 "
        "flowid 1:10\n"
    )
    assert netem_batch("eth0", {}) == ""


# -- the delayer's core -----------------------------------------------------------------------


def test_hold_times_stay_within_the_jitter_and_reorder_sends_the_share_at_once() -> None:
    plan = DelayPlan(
        [DelayRule("out", "10.0.0.2", 100, 30), DelayRule("in", "10.0.0.9", 50, 0, 0.4)],
        random.Random(3),
    )
    holds = [plan.hold("out", "10.0.0.2") for _ in range(2000)]
    assert 0.070 <= min(holds) < 0.075 and 0.125 < max(holds) <= 0.130
    assert 0.098 < sum(holds) / len(holds) < 0.102
    at_once = [plan.hold("in", "10.0.0.9") for _ in range(2000)].count(0.0)
    assert 700 < at_once < 900  # 40 % of 2000, with room for chance
    assert plan.hold("in", "10.0.0.2") == 0.0 and plan.hold("out", "10.0.0.3") == 0.0
    assert DelayPlan([DelayRule("out", "x", 5, 50)], random.Random(0)).hold("out", "x") >= 0


@given(st.lists(st.floats(0, 10, allow_nan=False), max_size=60), st.integers(1, 40))
def test_holding_releases_in_time_order_and_never_holds_more_than_its_limit(
    times: list[float], limit: int
) -> None:
    held: Holding[int] = Holding(limit)
    accepted = [i for i, t in enumerate(times) if held.push(t, i)]
    assert accepted == list(range(min(limit, len(times))))
    first = held.due(5.0)
    assert all(times[i] <= 5.0 for i in first) and all(times[i] > 5.0 for i in held.drain())
    assert [times[i] for i in first] == sorted(times[i] for i in first) and len(held) == 0


def test_the_peer_is_read_from_the_ip_header_by_direction() -> None:
    header = bytes([0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2])
    assert peer_of(header, "out") == "10.0.0.2" and peer_of(header, "in") == "10.0.0.1"
    assert peer_of(b"\x60" + header[1:], "out") is None and peer_of(header[:10], "in") is None
    assert direction_of(1) == "in" and direction_of(3) == "out" and direction_of(2) is None
