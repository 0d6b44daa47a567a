"""The same packet faults inside Docker containers' namespaces, applied from the host: a cut
holds (one way too, and again after the container restarts in a new namespace), a delay adds
its delay, a client group on the host is cut by its source address, and nothing of the run stays
in the containers after close. The containers get no NET_ADMIN."""

from __future__ import annotations

import json
import random
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import docker
import pytest
from docker.models.containers import Container
from docker.models.networks import Network

from harness.backends.docker_images import ensure_node_image
from nemesis.ip import ContainerFaults, container_netns
from nemesis.ip.addressing import claim_subnet, subnet
from nemesis.ip.leases import Leases
from nemesis.ip.netns import run
from tests.helpers.docker_daemon import require_daemon
from tests.helpers.ipnet import median_round_trip, require_ip_layer, udp_arrives, udp_echo

pytestmark = pytest.mark.docker


@dataclass
class Setup:
    client: docker.DockerClient
    network: Network
    containers: dict[str, Container]
    addresses: dict[str, str]
    group_address: str

    def pid(self, name: str) -> int:
        self.containers[name].reload()
        return int(self.containers[name].attrs["State"]["Pid"])


@pytest.fixture(scope="module")
def s() -> Iterator[Setup]:
    """Two containers on a network whose /24 is claimed like a local run's, and a client
    group's address on the network's bridge in the host."""
    require_ip_layer()
    client = require_daemon()
    leases = Leases()
    routes = [str(r["dst"]) for r in json.loads(run(["ip", "-4", "-j", "route"]).stdout)]
    index, holder = claim_subnet(leases, routes, random.Random())
    leases.record_owner(holder)
    net = subnet(index)
    image = ensure_node_image(client)
    pool = docker.types.IPAMPool(subnet=str(net), iprange=f"{net.network_address}/25")
    network = client.networks.create(
        f"{holder}-net", driver="bridge", ipam=docker.types.IPAMConfig(pool_configs=[pool])
    )
    containers: dict[str, Container] = {}
    bridge = f"br-{network.id[:12]}"
    group = str(net.network_address + 200)
    try:
        for name in ("a", "b"):
            containers[name] = client.containers.run(
                image.tag,
                ["sleep", "600"],
                detach=True,
                name=f"{holder}-{name}",
                network=network.name,
                mounts=list(image.mounts),
            )
        run(["ip", "addr", "add", f"{group}/24", "dev", bridge])
        addresses = {}
        for name, container in containers.items():
            container.reload()
            addresses[name] = container.attrs["NetworkSettings"]["Networks"][network.name][
                "IPAddress"
            ]
            assert not container.attrs["HostConfig"].get("CapAdd")  # no NET_ADMIN asked
        yield Setup(client, network, containers, addresses, group)
    finally:
        run(["ip", "addr", "del", f"{group}/24", "dev", bridge], check=False)
        for container in containers.values():
            container.remove(force=True)
        network.remove()
        leases.release(holder)


def faults_for(s: Setup) -> ContainerFaults:
    return ContainerFaults(
        {n: (s.pid(n), s.addresses[n]) for n in s.containers}, {"g": s.group_address}, seed=3
    )


def test_cuts_and_delays_act_inside_the_containers_and_close_leaves_nothing(s: Setup) -> None:
    ns_a, ns_b = container_netns(s.pid("a"), "a"), container_netns(s.pid("b"), "b")
    with udp_echo(ns_b):
        before = median_round_trip(ns_a, s.addresses["b"])
        with faults_for(s) as faults:
            faults.control.cut([("a", "b")])
            assert not udp_arrives(ns_a, ns_b, s.addresses["b"])
            assert udp_arrives(ns_b, ns_a, s.addresses["a"])  # one way only
            faults.control.heal()
            assert udp_arrives(ns_a, ns_b, s.addresses["b"])
            faults.control.delay([("a", "b")], 50)
            added = median_round_trip(ns_a, s.addresses["b"]) - before
            faults.control.cut([("g", "b"), ("b", "g")])
            from_group = median_round_trip(
                None, s.addresses["b"], bind=s.group_address, count=3, timeout=0.3
            )
            from_host = median_round_trip(None, s.addresses["b"], count=3)
            delayer = faults.control._delayers["a"].pid
            run_id = faults.run_id
        assert 0.048 <= added <= 0.090, added
        assert from_group >= 0.3 and from_host < 0.05, (from_group, from_host)
        for name in s.containers:
            netns = container_netns(s.pid(name), name)
            assert run_id not in run(["nft", "list", "tables"], netns=netns).stdout
            assert run_id not in run(["iptables-legacy", "-S"], netns=netns).stdout
        assert subprocess.run(["kill", "-0", str(delayer)], capture_output=True).returncode != 0
        assert run_id not in Leases().run_ids()


def test_a_container_that_restarts_gets_its_cut_back(s: Setup) -> None:
    with faults_for(s) as faults:
        faults.control.cut([("a", "b")])
        old = s.pid("b")
        s.containers["b"].kill()
        s.containers["b"].start()
        new = s.pid("b")
        assert new != old
        ns_a, ns_b = container_netns(s.pid("a"), "a"), container_netns(new, "b")
        assert udp_arrives(ns_a, ns_b, s.addresses["b"])  # a new namespace has no rules
        s.containers["b"].reload()
        address = s.containers["b"].attrs["NetworkSettings"]["Networks"][s.network.name][
            "IPAddress"
        ]
        faults.restarted("b", new, address)
        assert not udp_arrives(ns_a, ns_b, address)
