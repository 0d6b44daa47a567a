"""The IP layer on real namespaces (root): packets across a cut never arrive, a delayed link adds
its delay, loss and duplication act on about the asked share, and a run leaves nothing behind,
even when its owner is SIGKILLed. The fast cases come first; every case here runs in CI."""

from __future__ import annotations

import contextlib
import gzip
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nemesis.ip import Impairment, IpNetworkError, LocalTopology, cleanup_leftovers
from nemesis.ip.cleanup import find_leftovers, netns_names, root_links
from nemesis.ip.leases import Leases
from nemesis.ip.names import run_id_of
from nemesis.ip.netem import kernel_has_netem
from nemesis.ip.netns import Netns, run, socket_in
from nemesis.ip.rules import NodeRules, netem_batch, nft_script
from splitbrain.processes import die_with_parent
from tests.helpers.ipnet import (
    PORT,
    median_round_trip,
    require_ip_layer,
    tcp_connects,
    tcp_echo,
    tcp_refused,
    udp_arrives,
    udp_echo,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def net() -> Iterator[LocalTopology]:
    """Three nodes and two client groups for the module; each test leaves it fault-free."""
    require_ip_layer()
    with LocalTopology(["n1", "n2", "n3"], ["c0", "c1"], seed=1) as topology:
        yield topology


@pytest.fixture(autouse=True)
def _no_faults_left(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "net" in request.fixturenames:
        request.getfixturevalue("net").control.clear()


def ns(net: LocalTopology, node: str) -> Netns:
    return net.nodes[node].netns


def addr(net: LocalTopology, name: str) -> str:
    return net.plan.address(name)


def gone(pid: int | str) -> bool:
    """Whether process ``pid`` has exited (a zombie waiting for its reaper counts)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def leftovers_of(run_id: str) -> list[str]:
    """Everything on the machine that still carries ``run_id``: namespaces, root links, leases,
    processes inside them."""
    found = [n for n in netns_names() if run_id_of(n) == run_id]
    found += [n for n in root_links() if run_id_of(n) == run_id]
    found += [f"lease {r}" for r in Leases().run_ids() if r == run_id]
    return found


# -- the topology ---------------------------------------------------------------------------


def test_every_node_reaches_every_node_and_every_client_address_and_nothing_else(
    net: LocalTopology,
) -> None:
    for node in net.nodes:
        with udp_echo(ns(net, node)), tcp_echo(ns(net, node)):
            for other in net.nodes:
                if other != node:
                    assert udp_arrives(ns(net, other), ns(net, node), addr(net, node))
                    assert tcp_connects(ns(net, other), addr(net, node))
            for group, source in net.client_addresses.items():
                assert tcp_connects(None, addr(net, node), bind=source), group
    routes = json.loads(run(["ip", "-j", "route"], netns=ns(net, "n1")).stdout)
    assert [r["dst"] for r in routes] == [str(net.plan.network)]  # no default route
    hub = Netns.named(net.names.hub)
    assert json.loads(run(["ip", "-j", "route"], netns=hub).stdout) == []
    forwarding = Path(f"/proc/sys/net/ipv4/conf/{net.names.host_leg}/forwarding").read_text()
    assert forwarding.strip() == "0"
    six = run(["ip", "-6", "-j", "addr"], netns=ns(net, "n1")).stdout
    assert json.loads(six or "[]") == [] or "inet6" not in six


def test_a_node_process_runs_inside_its_namespace_and_signals_reach_it(
    net: LocalTopology,
) -> None:
    code = "import socket,time; s=socket.socket(); s.bind(('0.0.0.0', 0)); time.sleep(60)"
    process = subprocess.Popen(
        [sys.executable, "-c", code], preexec_fn=net.preexec("n2", die_with_parent)
    )
    try:
        inode = os.stat(f"/proc/{process.pid}/ns/net").st_ino
        assert inode == os.stat(ns(net, "n2").path).st_ino  # the pid is the program itself
        mounts = os.stat(f"/proc/{process.pid}/ns/mnt").st_ino
        assert mounts == os.stat("/proc/self/ns/mnt").st_ino  # so it sees later lazyfs mounts
        os.kill(process.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 5
        while Path(f"/proc/{process.pid}/stat").read_text().split(")")[1].split()[0] != "T":
            assert time.monotonic() < deadline, "SIGSTOP did not stop it"
            time.sleep(0.01)
        os.kill(process.pid, signal.SIGCONT)
        process.kill()
        assert process.wait(timeout=5) == -signal.SIGKILL
    finally:
        process.kill()
        process.wait()
    assert net.exec_argv("n1", ["true"]) == [
        "ip",
        "netns",
        "exec",
        net.nodes["n1"].netns_name,
        "true",
    ]
    assert subprocess.run(net.exec_argv("n1", ["true"]), timeout=10).returncode == 0


# -- cuts -------------------------------------------------------------------------------------


def test_a_two_way_cut_drops_udp_and_tcp_both_ways_and_heal_restores_them(
    net: LocalTopology,
) -> None:
    n1, n2 = ns(net, "n1"), ns(net, "n2")
    with tcp_echo(n1, PORT + 10), tcp_echo(n2, PORT + 10):
        net.control.cut([("n1", "n2"), ("n2", "n1")])
        assert not udp_arrives(n1, n2, addr(net, "n2"))
        assert not udp_arrives(n2, n1, addr(net, "n1"))
        assert not tcp_connects(n1, addr(net, "n2"), port=PORT + 10)
        assert not tcp_connects(n2, addr(net, "n1"), port=PORT + 10)
        assert udp_arrives(n1, ns(net, "n3"), addr(net, "n3"))  # other links untouched
        net.control.heal([("n1", "n2"), ("n2", "n1")])
        assert udp_arrives(n1, n2, addr(net, "n2")) and udp_arrives(n2, n1, addr(net, "n1"))
        assert tcp_connects(n1, addr(net, "n2"), port=PORT + 10)
        assert tcp_connects(n2, addr(net, "n1"), port=PORT + 10)


def test_a_one_way_cut_passes_udp_one_way_and_no_new_tcp_connection_either_way(
    net: LocalTopology,
) -> None:
    n1, n2 = ns(net, "n1"), ns(net, "n2")
    with tcp_echo(n1, PORT + 11), tcp_echo(n2, PORT + 11):
        net.control.cut([("n1", "n2")])  # n1 cannot send to n2; n2 can send to n1
        assert not udp_arrives(n1, n2, addr(net, "n2"))
        assert udp_arrives(n2, n1, addr(net, "n1"))
        assert not tcp_connects(n1, addr(net, "n2"), port=PORT + 11)  # SYN dropped
        assert not tcp_connects(n2, addr(net, "n1"), port=PORT + 11)  # SYN-ACK dropped
        net.control.heal([("n1", "n2")])
        assert udp_arrives(n1, n2, addr(net, "n2"))


def test_on_an_open_connection_a_one_way_cut_delivers_data_but_not_its_answer(
    net: LocalTopology,
) -> None:
    got: list[bytes] = []
    server = socket_in(ns(net, "n2"), socket.SOCK_STREAM)
    server.bind(("0.0.0.0", PORT + 12))
    server.listen(1)
    client = socket.create_connection(
        (addr(net, "n2"), PORT + 12), timeout=2, source_address=(net.client_addresses["c0"], 0)
    )
    conn, _ = server.accept()
    conn.settimeout(2)

    def serve() -> None:
        with contextlib.suppress(OSError):
            got.append(conn.recv(64))
            conn.sendall(b"answer")

    with server, client, conn:
        net.control.cut([("n2", "c0")])  # c0 can send to n2, n2 cannot send to c0
        thread = threading.Thread(target=serve)
        thread.start()
        client.sendall(b"request")
        thread.join(timeout=3)
        assert got == [b"request"]  # the data crossed the open direction
        client.settimeout(0.5)
        with pytest.raises(TimeoutError):
            client.recv(64)  # n2's answer (and its ACKs) never arrive
        net.control.heal()
        client.settimeout(3)
        assert client.recv(64) == b"answer"  # TCP retransmits once the link is back


def test_a_refused_link_resets_tcp_at_once_both_ways_and_to_and_from_a_client_group(
    net: LocalTopology,
) -> None:
    n1, n2 = ns(net, "n1"), ns(net, "n2")
    c0 = net.client_addresses["c0"]
    with tcp_echo(n1, PORT + 13), tcp_echo(n2, PORT + 13), tcp_echo(None, PORT + 14):
        net.control.cut([("n1", "n2"), ("n2", "n1"), ("c0", "n2"), ("n2", "c0")], mode="refuse")
        refusals = [
            tcp_refused(n1, addr(net, "n2"), port=PORT + 13),
            tcp_refused(n2, addr(net, "n1"), port=PORT + 13),
            tcp_refused(None, addr(net, "n2"), bind=c0, port=PORT + 13),
            tcp_refused(n2, c0, port=PORT + 14),  # refused in n2's output: c0 has no namespace
        ]
        assert all(r is not None and r < 0.2 for r in refusals), refusals
        assert not udp_arrives(n1, n2, addr(net, "n2"))
        assert tcp_connects(ns(net, "n3"), addr(net, "n2"), port=PORT + 13)
        net.control.cut([("n1", "n2")])  # the same link, now dropped instead
        assert tcp_refused(n1, addr(net, "n2"), port=PORT + 13, timeout=0.5) is None
        net.control.heal()
        assert tcp_connects(n1, addr(net, "n2"), port=PORT + 13)
        assert tcp_connects(n2, c0, port=PORT + 14)


def test_a_client_group_is_cut_by_its_source_address_and_the_harness_never_is(
    net: LocalTopology,
) -> None:
    with udp_echo(ns(net, "n2")):
        net.control.cut([("c0", "n2"), ("n2", "c0")])
        c0, c1 = net.client_addresses["c0"], net.client_addresses["c1"]
        assert median_round_trip(None, addr(net, "n2"), bind=c0, count=3, timeout=0.3) >= 0.3
        assert median_round_trip(None, addr(net, "n2"), bind=c1, count=3) < 0.05
        assert median_round_trip(None, addr(net, "n2"), count=3) < 0.05  # the harness address
        assert udp_arrives(None, ns(net, "n1"), addr(net, "n1"), bind=c0)  # c0 -> n1 is open


def test_heal_removes_exactly_the_rules_of_the_links_healed_in_the_kernel(
    net: LocalTopology,
) -> None:
    n1 = ns(net, "n1")
    net.control.cut([("n1", "n2"), ("n1", "n3"), ("c1", "n1")])
    net.control.heal([("n1", "n2")])
    assert udp_arrives(n1, ns(net, "n2"), addr(net, "n2"))
    assert not udp_arrives(n1, ns(net, "n3"), addr(net, "n3"))
    assert not udp_arrives(None, n1, addr(net, "n1"), bind=net.client_addresses["c1"])

    def table(node: str) -> str:
        return run(["nft", "list", "table", "ip", net.names.table], netns=ns(net, node)).stdout

    assert "drop" not in table("n2")  # the healed link's rule is gone, at its receiver
    assert f"ip saddr {addr(net, 'n1')} drop" in table("n3")
    assert f"ip saddr {net.client_addresses['c1']} drop" in table("n1")
    net.control.heal()
    assert not any("drop" in table(n) for n in net.nodes)


@settings(max_examples=25, deadline=None)
@given(
    st.frozensets(st.integers(1, 3), max_size=3),
    st.frozensets(st.integers(101, 102), max_size=2),
    st.sampled_from([0.0, 0.0001, 0.37, 1.0]),
    st.sampled_from([0.0, 0.5]),
)
def test_nft_accepts_every_script_the_renderer_makes(
    net: LocalTopology, nodes: frozenset[int], groups: frozenset[int], loss: float, dup: float
) -> None:
    base = str(net.plan.network.network_address)[:-1]
    rules = NodeRules(
        address=addr(net, "n1"),
        device="eth0",
        drop_from={base + str(i) for i in nodes | groups},
        drop_to={base + str(i) for i in groups},
        refuse_from={base + str(i) for i in groups},
        refuse_to={base + str(i) for i in nodes},
        loss_from={base + str(i): loss for i in nodes if loss},
        loss_to={base + str(i): loss for i in groups if loss},
        dup_from={base + str(i): dup for i in groups if dup},
        dup_to={base + str(i): dup for i in nodes if dup},
    )
    checked = run(
        ["nft", "-c", "-f", "-"],
        netns=ns(net, "n3"),
        input=nft_script(net.names, rules),
        check=False,
    )
    assert checked.returncode == 0, checked.stderr


# -- latency, loss, duplication ---------------------------------------------------------------


def test_the_kernel_probe_tells_whether_there_is_netem(net: LocalTopology) -> None:
    has, why = kernel_has_netem(net.names)
    config = Path("/proc/config.gz")
    if config.exists():
        built = "CONFIG_NET_SCH_NETEM=" in gzip.decompress(config.read_bytes()).decode()
        assert has == built
    assert has or "no netem" in why
    net.control.delay([("n1", "n2")], 1)
    assert ("netem on egress" in net.control.mechanisms()["delay"]) == has
    assert f"{net.names.probe_netns()}" not in netns_names()


def test_the_netem_path_classifies_each_peer_into_its_own_class(net: LocalTopology) -> None:
    """The netem path cannot run on a kernel without netem; all of it but the netem leaf can:
    the HTB classes and u32 filters netem_batch renders, applied with a plain FIFO leaf in
    netem's place, carry each destination's packets and nothing else."""
    n3 = ns(net, "n3")
    batch = netem_batch("eth0", {addr(net, "n1"): Impairment(delay_ms=5)})
    leafless = "\n".join(
        line.split(" netem ")[0] + " pfifo limit 100" if " netem " in line else line
        for line in batch.splitlines()
    )
    run(["tc", "-batch", "-"], netns=n3, input=leafless + "\n")
    try:
        numbered_datagrams(net, n3, addr(net, "n1"), count=50, gap=0)
        numbered_datagrams(net, n3, addr(net, "n2"), count=20, gap=0)
        shown = run(["tc", "-s", "class", "show", "dev", "eth0"], netns=n3).stdout  # htb: no -j
        sent = {
            m[1]: int(m[2])
            for m in re.finditer(r"class htb (\S+) .*\n Sent \d+ bytes (\d+) pkt", shown)
        }
        assert sent["1:10"] >= 50 and sent["1:1"] >= 20 and sent["1:10"] < 50 + 20, sent
    finally:
        run(["tc", "qdisc", "del", "dev", "eth0", "root"], netns=n3)


def test_a_delayed_link_adds_its_delay_one_way_and_clear_takes_it_away(
    net: LocalTopology,
) -> None:
    n1, target = ns(net, "n1"), addr(net, "n2")
    with udp_echo(ns(net, "n2")):
        before = median_round_trip(n1, target)
        net.control.delay([("n1", "n2")], 60)
        net.control.delay([("n2", "n1")], 40)
        both = median_round_trip(n1, target) - before
        net.control.clear_impairments([("n2", "n1")])
        one = median_round_trip(n1, target) - before
        from_n3 = median_round_trip(ns(net, "n3"), target)
        net.control.clear()
        after = median_round_trip(n1, target)
    assert 0.095 <= both <= 0.140, both
    assert 0.057 <= one <= 0.090, one
    assert from_n3 < 0.020 and after < 0.020, (from_n3, after)


def test_a_delay_set_from_a_worker_thread_outlives_the_thread(net: LocalTopology) -> None:
    """The nemesis calls from worker threads; a delayer tied to its starting thread (a
    parent-death signal) would die with it and the delay would silently end."""
    worker = threading.Thread(target=net.control.delay, args=([("n3", "n1")], 40))
    worker.start()
    worker.join()
    time.sleep(0.3)
    with udp_echo(ns(net, "n1")):
        held = median_round_trip(ns(net, "n3"), addr(net, "n1"), count=5)
    net.control.check()
    assert 0.038 <= held <= 0.080, held


def test_a_delay_of_what_a_client_group_sends_holds_only_that_group(net: LocalTopology) -> None:
    target = addr(net, "n2")
    c0, c1 = net.client_addresses["c0"], net.client_addresses["c1"]
    with udp_echo(ns(net, "n2")):
        net.control.delay([("c0", "n2")], 80)
        slow = median_round_trip(None, target, bind=c0)
        fast = median_round_trip(None, target, bind=c1)
    assert 0.078 <= slow <= 0.120 and fast < 0.020, (slow, fast)


def numbered_datagrams(
    net: LocalTopology,
    src: Netns | None,
    dst: str,
    *,
    bind: str = "",
    count: int = 1000,
    gap: float = 0.0003,
) -> list[int]:
    """Send ``count`` numbered datagrams to ``dst`` (a node); the numbers received, in arrival
    order."""
    node = next(n for n in net.nodes.values() if n.address == dst)
    received: list[int] = []
    with (
        socket_in(node.netns, socket.SOCK_DGRAM) as server,
        socket_in(src, socket.SOCK_DGRAM) as client,
    ):
        server.bind(("0.0.0.0", PORT + 20))
        server.settimeout(0.6)
        client.bind((bind, 0))

        def receive() -> None:
            with contextlib.suppress(TimeoutError):
                while True:
                    received.append(int(server.recv(32)))

        thread = threading.Thread(target=receive)
        thread.start()
        for i in range(count):
            client.sendto(str(i).encode(), (dst, PORT + 20))
            time.sleep(gap)
        thread.join(timeout=30)
    return received


def test_jitter_reorders_packets_and_reorder_sends_a_share_ahead(net: LocalTopology) -> None:
    n1, dst = ns(net, "n1"), addr(net, "n2")
    net.control.delay([("n1", "n2")], 30, jitter=25)
    jittered = numbered_datagrams(net, n1, dst, count=300, gap=0.001)
    net.control.impair([("n1", "n2")], Impairment(delay_ms=100, reorder=0.5))
    reordered = numbered_datagrams(net, n1, dst, count=300, gap=0.001)
    net.control.clear()
    plain = numbered_datagrams(net, n1, dst, count=300, gap=0.001)
    inversions = [
        sum(a > b for a, b in itertools.pairwise(x)) for x in (jittered, reordered, plain)
    ]
    assert sorted(jittered) == list(range(300)) and sorted(reordered) == list(range(300))
    assert inversions[0] > 20 and inversions[1] > 20 and inversions[2] == 0, inversions


def test_loss_drops_about_the_asked_share_on_both_placements(net: LocalTopology) -> None:
    net.control.impair([("n1", "n2")], Impairment(loss=0.3))
    net.control.impair([("c0", "n2")], Impairment(loss=0.6))
    from_node = len(numbered_datagrams(net, ns(net, "n1"), addr(net, "n2"), count=2000))
    from_group = len(
        numbered_datagrams(net, None, addr(net, "n2"), bind=net.client_addresses["c0"], count=2000)
    )
    from_other = len(numbered_datagrams(net, ns(net, "n3"), addr(net, "n2"), count=500))
    # binomial: sd about 20 of 2000; these bounds are five of them
    assert 1300 <= from_node <= 1500 and 700 <= from_group <= 900, (from_node, from_group)
    assert from_other == 500


def test_duplication_sends_about_the_asked_share_twice(net: LocalTopology) -> None:
    net.control.impair([("n1", "n2")], Impairment(duplicate=0.5))
    net.control.impair([("c1", "n2")], Impairment(duplicate=1.0))
    from_node = numbered_datagrams(net, ns(net, "n1"), addr(net, "n2"), count=1000)
    from_group = numbered_datagrams(
        net, None, addr(net, "n2"), bind=net.client_addresses["c1"], count=300
    )
    assert 1420 <= len(from_node) <= 1580 and set(from_node) == set(range(1000))
    assert sorted(from_group) == sorted(list(range(300)) * 2)  # every one twice, no more


def test_a_delayer_holds_at_most_its_limit_and_one_that_dies_is_reported_and_replaced() -> None:
    require_ip_layer()
    small = LocalTopology(["a", "b"]).start()
    try:
        small.control.delay_limit = 40
        small.control.delay([("a", "b")], 300)
        burst = numbered_datagrams(small, ns(small, "a"), addr(small, "b"), count=200, gap=0)
        assert 30 <= len(burst) <= 45, len(burst)  # the rest were dropped, as by netem's limit
        small.control._delayers["a"].process.kill()
        small.control._delayers["a"].process.wait(timeout=5)
        with pytest.raises(IpNetworkError, match="delayer of a died"):
            small.control.check()
        small.control.delay([("a", "b")], 60)
        small.control.check()
        with udp_echo(ns(small, "b")):
            assert 0.058 <= median_round_trip(ns(small, "a"), addr(small, "b"), count=5) <= 0.1
    finally:
        small.close()


# -- life of a run ----------------------------------------------------------------------------


def test_two_topologies_at_once_have_their_own_subnets_and_faults(net: LocalTopology) -> None:
    with LocalTopology(["n1", "n2"], ["c0"]) as other, udp_echo(ns(other, "n2")):
        assert other.plan.network != net.plan.network and other.run_id != net.run_id
        assert other.names.queue != net.names.queue
        net.control.cut([("n1", "n2")])
        other.control.delay([("n1", "n2")], 50)
        net.control.delay([("n2", "n3")], 30)
        assert not udp_arrives(ns(net, "n1"), ns(net, "n2"), addr(net, "n2"))
        assert udp_arrives(ns(other, "n1"), ns(other, "n2"), addr(other, "n2"))
        assert 0.048 <= median_round_trip(ns(other, "n1"), addr(other, "n2"), count=5) <= 0.090
        other_id = other.run_id
    assert leftovers_of(other_id) == []
    assert not udp_arrives(ns(net, "n1"), ns(net, "n2"), addr(net, "n2"))  # still cut


def test_teardown_removes_everything_and_can_run_twice() -> None:
    require_ip_layer()
    topology = LocalTopology(["a", "b", "c"], ["g"]).start()
    topology.control.delay([("a", "b")], 20)
    sleeper = subprocess.Popen(["sleep", "300"], preexec_fn=topology.preexec("c"))
    delayer = topology.control._delayers["a"].pid
    assert len(leftovers_of(topology.run_id)) == 6  # 4 namespaces, the host leg, the lease
    topology.close()
    assert leftovers_of(topology.run_id) == []
    assert sleeper.wait(timeout=5) == -signal.SIGKILL
    assert gone(delayer)
    topology.close()
    with pytest.raises(IpNetworkError, match="not started"):
        _ = LocalTopology(["x"]).run_id


def test_an_error_mid_setup_removes_what_was_made(monkeypatch: pytest.MonkeyPatch) -> None:
    require_ip_layer()
    made: list[str] = []
    original = LocalTopology._sysctl

    def fail_on_the_host_leg(self: LocalTopology, netns: str | None, values: object) -> None:
        made.append(self.run_id)
        if netns is None:
            raise IpNetworkError("planted failure on the host leg")
        original(self, netns, values)  # type: ignore[arg-type]

    monkeypatch.setattr(LocalTopology, "_sysctl", fail_on_the_host_leg)
    with pytest.raises(IpNetworkError, match="planted"), LocalTopology(["a", "b"]):
        pass
    assert made and leftovers_of(made[0]) == []


OWNER = textwrap.dedent(
    """
    import subprocess, sys, time
    from nemesis.ip import LocalTopology
    net = LocalTopology(["a", "b"], ["g"]).start()
    net.control.delay([("a", "b")], 10)
    net.control.cut([("g", "b")])
    sleeper = subprocess.Popen(["sleep", "300"], preexec_fn=net.preexec("b"))
    print(net.run_id, net.control._delayers["a"].pid, sleeper.pid, flush=True)
    time.sleep(300)
    """
)


def test_what_a_sigkilled_owner_left_is_found_and_removed_and_live_runs_are_kept(
    net: LocalTopology,
) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert owner.stdout is not None
        run_id, delayer, sleeper = owner.stdout.readline().split()
        owner.kill()
        owner.wait(timeout=10)
        deadline = time.monotonic() + 5
        while not gone(delayer):  # it dies with its owner
            assert time.monotonic() < deadline, "the delayer outlived its owner"
            time.sleep(0.05)
        left = {p.run_id: p for p in find_leftovers()}
        assert left[run_id].state == "dead" and left[net.run_id].state == "alive"
        assert any("bridge" in c for c in left[run_id].contents)
        assert any(f"process {sleeper}" in c for c in left[run_id].contents)
        assert any("nft table ip " + run_id in c for c in left[run_id].contents)
        would, _ = cleanup_leftovers(dry_run=True)
        assert run_id in {p.run_id for p in would} and len(leftovers_of(run_id)) == 5
        removed, kept = cleanup_leftovers()
        assert run_id in {p.run_id for p in removed} and net.run_id in {p.run_id for p in kept}
        assert leftovers_of(run_id) == [] and gone(sleeper)
        assert udp_arrives(ns(net, "n1"), ns(net, "n2"), addr(net, "n2"))  # the live run works
    finally:
        owner.kill()
        owner.wait()
