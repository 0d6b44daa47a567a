"""The local backend's IP network: a namespace per node, a bridge, and the harness on it.

Layout of one run (``R`` its run id, ``10.213.X.0/24`` its own /24)::

    root namespace (harness)        R-hub                      R-<node>
    R-h 10.213.X.254   <veth>  R-hh --+
        10.213.X.101..                R-br (bridge) -- R-v<i>  <veth>  eth0 10.213.X.<i+1>, lo
        (client groups)

* The bridge sits in a namespace of its own, not in the root one: this kernel has
  ``br_netfilter``, so a bridge in the root namespace would pass its traffic through the host's
  iptables FORWARD chain, which Docker sets to DROP; and the bridge then holds no address and no
  route at all.
* Nothing leaves: the nodes' only route is their /24 (no default route, no NAT), the hub has no
  route, and the root end ``R-h`` has forwarding off, so the root namespace never routes what
  arrives from the run. IPv6 is off in every namespace of the run and on ``R-h``, so no
  link-local address offers a path around the nft rules.
* Client groups: the harness's clients run in the harness process (asyncio), so each group's
  address is an extra address on ``R-h``. A client binds its socket to it (``local_addr=(address,
  0)`` in ``loop.create_connection``, ``websockets.connect``, ...) and is then cut by that source
  address in the nodes' namespaces. A namespace per group would isolate more, but every client
  library would need its sockets made inside it; an address per group needs only a bind. The
  primary address ``.254`` (what an unbound socket gets) is never cut: it is how the harness
  watches a node the nemesis has isolated.
* Node processes: ``Popen(..., preexec_fn=topology.preexec(node, die_with_parent))`` (setns, see
  :mod:`nemesis.ip.netns`), or :meth:`LocalTopology.exec_argv` for ``ip netns exec``.

``close()`` (also on leaving a ``with`` block, and on an error mid-setup) removes everything of
the run by name (:func:`nemesis.ip.cleanup.remove_run`), so it is safe after a partial setup and a
second time.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nemesis.ip.addressing import AddressPlan, claim_subnet, plan_addresses
from nemesis.ip.cleanup import remove_run
from nemesis.ip.control import PacketControl
from nemesis.ip.leases import Leases
from nemesis.ip.names import RunNames
from nemesis.ip.netns import DEFAULT_TIMEOUT, IpNetworkError, Netns, enter_preexec, run
from nemesis.ip.rules import Endpoint

DEVICE = "eth0"
NO_IPV6 = ("net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")


@dataclass(frozen=True)
class NodeNet:
    """A node's place in the network: its namespace (``netns_name`` for ``ip netns``) and its
    address on ``eth0``."""

    name: str
    address: str
    netns_name: str

    @property
    def netns(self) -> Netns:
        return Netns.named(self.netns_name)


class LocalTopology:
    """The IP network of one local run, for ``nodes`` and ``client_groups`` (names).

    Use as ``with LocalTopology(["n1", "n2", "n3"], ["c0", "c1"]) as net: ...``, or call
    :meth:`start` and :meth:`close`. ``seed`` seeds the /24 choice's order and the delayers.
    """

    def __init__(
        self,
        nodes: Sequence[str],
        client_groups: Sequence[str] = (),
        *,
        seed: int | None = None,
        leases: Leases | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._node_names = list(nodes)
        self._group_names = list(client_groups)
        plan_addresses(0, self._node_names, self._group_names)  # names checked before anything
        self.seed = seed
        self.leases = leases or Leases()
        self.timeout = timeout
        self._names: RunNames | None = None
        self._plan: AddressPlan | None = None
        self._control: PacketControl | None = None
        self._closed = False

    # -- what a backend reads ----------------------------------------------------------------

    @property
    def names(self) -> RunNames:
        if self._names is None:
            raise IpNetworkError("the topology is not started: call start() or use it in `with`")
        return self._names

    @property
    def run_id(self) -> str:
        return self.names.run_id

    @property
    def plan(self) -> AddressPlan:
        if self._plan is None:
            raise IpNetworkError("the topology is not started: call start() or use it in `with`")
        return self._plan

    @property
    def nodes(self) -> dict[str, NodeNet]:
        return {
            n: NodeNet(n, self.plan.nodes[n], self.names.node_netns(n)) for n in self._node_names
        }

    @property
    def client_addresses(self) -> dict[str, str]:
        """Client group -> the source address its sockets bind to."""
        return dict(self.plan.client_groups)

    @property
    def harness_address(self) -> str:
        """The harness's own address on the run's network; never cut."""
        return self.plan.harness

    def endpoints(self) -> dict[str, Endpoint]:
        """Every node and client group as :class:`~nemesis.ip.control.PacketControl` needs."""
        found = {n.name: Endpoint(n.name, n.address, n.netns, DEVICE) for n in self.nodes.values()}
        found |= {g: Endpoint(g, a) for g, a in self.client_addresses.items()}
        return found

    @property
    def control(self) -> PacketControl:
        """The packet faults of this run (made on first use, closed with the topology)."""
        if self._control is None:
            self._control = PacketControl(
                self.names, self.endpoints(), seed=self.seed or 0, timeout=self.timeout
            )
        return self._control

    def preexec(self, node: str, then: Callable[[], None] | None = None) -> Callable[[], None]:
        """A ``preexec_fn`` that starts a process inside ``node``'s namespace."""
        return enter_preexec(self.nodes[node].netns, then)

    def exec_argv(self, node: str, argv: Sequence[str]) -> list[str]:
        """``argv`` wrapped in ``ip netns exec`` (which also gives it a mount namespace of its
        own with a fresh /sys; :meth:`preexec` does not)."""
        return ["ip", "netns", "exec", self.nodes[node].netns_name, *argv]

    # -- life ------------------------------------------------------------------------------

    def start(self) -> LocalTopology:
        """Make the whole network; on any error remove what was made and raise."""
        if self._names is not None:
            raise IpNetworkError("this topology was started already: make a new one per run")
        try:
            self._start()
        except BaseException:
            with contextlib.suppress(IpNetworkError):
                self.close()
            raise
        return self

    def _start(self) -> None:
        routes = run(
            ["ip", "-4", "-j", "route", "show", "table", "all"],
            timeout=self.timeout,
            what="reading the routes, to pick a free /24",
        )
        dsts = [str(r.get("dst", "")) for r in json.loads(routes.stdout or "[]")]
        index, run_id = claim_subnet(self.leases, dsts, random.Random(self.seed))
        self._names = names = RunNames(run_id)
        self.leases.record_owner(run_id)
        self._plan = plan = plan_addresses(index, self._node_names, self._group_names)
        prefix = f"/{plan.prefixlen}"
        self._new_netns(names.hub)
        self._batch(
            names.hub,
            [
                "link set lo up",
                f"link add {names.bridge} type bridge forward_delay 0 stp_state 0",
                f"link set {names.bridge} up",
            ],
        )
        for i, node in enumerate(self._node_names):
            ns, port = names.node_netns(node), names.node_port(i)
            self._new_netns(ns)
            self._ip(
                [
                    "link",
                    "add",
                    port,
                    "netns",
                    names.hub,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    DEVICE,
                    "netns",
                    ns,
                ]
            )
            self._batch(names.hub, [f"link set {port} master {names.bridge} up"])
            self._batch(
                ns,
                [
                    "link set lo up",
                    f"addr add {plan.nodes[node]}{prefix} dev {DEVICE}",
                    f"link set {DEVICE} up",
                ],
            )
        leg = names.host_leg
        self._ip(
            ["link", "add", leg, "type", "veth", "peer", "name", names.hub_leg, "netns", names.hub]
        )
        self._sysctl(
            None, [f"net.ipv6.conf.{leg}.disable_ipv6=1", f"net.ipv4.conf.{leg}.forwarding=0"]
        )
        self._batch(names.hub, [f"link set {names.hub_leg} master {names.bridge} up"])
        self._batch(
            None,
            [
                f"addr add {plan.harness}{prefix} dev {leg}",
                *(f"addr add {a}{prefix} dev {leg}" for a in plan.client_groups.values()),
                f"link set {leg} up",
            ],
        )

    def close(self) -> None:
        """Remove everything of the run: delayers, rules, processes left in its namespaces,
        interfaces, namespaces, leases. Idempotent; safe after a failed start."""
        if self._closed:
            return
        self._closed = True
        errors: list[str] = []
        if self._control is not None:
            try:
                self._control.close(remove_rules=False)
            except IpNetworkError as exc:
                errors.append(str(exc))
        if self._names is not None:
            try:
                remove_run(self._names.run_id, self.leases, timeout=self.timeout)
            except IpNetworkError as exc:
                errors.append(str(exc))
        if errors:
            raise IpNetworkError("; ".join(errors))

    def __enter__(self) -> LocalTopology:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- commands --------------------------------------------------------------------------

    def _new_netns(self, name: str) -> None:
        self._ip(["netns", "add", name])
        self._sysctl(name, NO_IPV6)

    def _ip(self, args: Sequence[str]) -> None:
        run(["ip", *args], timeout=self.timeout, what=f"setting up run {self.run_id}")

    def _batch(self, netns: str | None, commands: Sequence[str]) -> None:
        argv = ["ip", "-batch", "-"] if netns is None else ["ip", "-n", netns, "-batch", "-"]
        run(
            argv,
            input="\n".join(commands) + "\n",
            timeout=self.timeout,
            what=f"setting up run {self.run_id}",
        )

    def _sysctl(self, netns: str | None, settings: Sequence[str]) -> None:
        where = Netns.named(netns) if netns is not None else None
        run(
            ["sysctl", "-q", "-w", *settings],
            netns=where,
            timeout=self.timeout,
            what=f"setting up run {self.run_id}",
        )
