"""Network faults on packets, for the nodes and client groups of one run: cut, heal, impair.

:class:`PacketControl` keeps the faults in effect (:class:`~nemesis.ip.rules.Faults`) and, on each
change, rewrites the rules of exactly the namespaces whose rules changed. Which part does what:

=================  ======================================================================
cut / one-way cut  nftables, the run's table in the receiver's namespace (``drop`` by address;
                   see :mod:`nemesis.ip.rules` for which end holds what, and why)
loss               nftables ``numgen random mod 10000 < N drop``
duplication        nftables ``dup to ADDR`` (a clone sent to the same neighbour)
delay, jitter,     ``tc netem`` on the node's egress when the kernel has netem; otherwise (the
reordering         CI kernels have no netem) iptables-legacy ``NFQUEUE`` and the delayer
                   process (:mod:`nemesis.ip.delayer`), which holds each packet in the kernel's
                   queue for delay +- jitter; delays of packets *from* a client group always go
                   this way (netem shapes only what an interface sends)
=================  ======================================================================

Every method blocks until the rules are in place, is bounded by ``timeout`` per command, and is
thread-safe. Errors are :class:`~nemesis.ip.netns.IpNetworkError`; after one, the faults asked
for are still recorded, so the next call (a heal, :meth:`clear`) rewrites every namespace it
failed on.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import replace

from nemesis.ip.delayer_process import DelayerProcess
from nemesis.ip.names import RunNames
from nemesis.ip.netem import kernel_has_netem
from nemesis.ip.netns import DEFAULT_TIMEOUT, IpNetworkError, Netns, run
from nemesis.ip.rules import (
    CutMode,
    Endpoint,
    Faults,
    Impairment,
    Link,
    NodeRules,
    iptables_script,
    netem_batch,
    nft_delete,
    nft_script,
    node_rules,
    place_delays,
)

IPT = ("iptables-legacy", "-w", "5")


class PacketControl:
    """The packet faults of the run ``names`` on ``endpoints`` (nodes have a ``netns``).

    ``netem``: True or False to say whether to use tc netem for delays; None detects it once
    (on the first delay). ``seed`` seeds the delayers' draws. ``delay_limit`` bounds the packets
    one node's delayer holds (netem's ``limit``).
    """

    def __init__(
        self,
        names: RunNames,
        endpoints: Mapping[str, Endpoint],
        *,
        seed: int = 0,
        netem: bool | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        delay_limit: int = 10000,
    ) -> None:
        self.names = names
        self.endpoints = dict(endpoints)
        self.seed = seed
        self.timeout = timeout
        self.delay_limit = delay_limit
        self._netem = netem
        self._netem_why = "" if netem is None else "given by the caller"
        self._faults = Faults()
        self._applied: dict[str, NodeRules] = {}
        self._shaped: set[str] = set()
        self._delayers: dict[str, DelayerProcess] = {}
        self._lock = threading.RLock()
        self._closed = False

    # -- what the nemesis calls ------------------------------------------------------------

    def cut(self, links: Iterable[Link], mode: CutMode = "drop") -> None:
        """Cut each directed link ``(src, dst)``: ``drop`` its packets silently (a pulled
        cable), or ``refuse`` them (TCP reset, ICMP port unreachable: a host that is up but
        closed, as Toxiproxy's disabled proxy). Cutting a cut link again is harmless."""
        with self._lock:
            self._set(self._faults.cut(links, mode))

    def heal(self, links: Iterable[Link] | None = None) -> None:
        """Remove the cuts of exactly ``links`` (every cut when None). Impairments stay."""
        with self._lock:
            self._set(self._faults.heal(links))

    def impair(self, links: Iterable[Link], impairment: Impairment) -> None:
        """Impair each directed link as ``impairment`` says, replacing its earlier impairment."""
        with self._lock:
            self._set(self._faults.impair(links, impairment))

    def delay(self, links: Iterable[Link], ms: float, jitter: float = 0.0) -> None:
        """Delay each directed link's packets by ``ms`` +- ``jitter`` milliseconds (a round trip
        gains ``2 * ms`` only if both directions are delayed), replacing its impairment."""
        self.impair(links, Impairment(delay_ms=ms, jitter_ms=jitter))

    def clear_impairments(self, links: Iterable[Link] | None = None) -> None:
        """Remove the impairments of ``links`` (all when None). Cuts stay."""
        with self._lock:
            self._set(self._faults.unimpair(links))

    def clear(self) -> None:
        """Heal every cut and remove every impairment."""
        with self._lock:
            self._set(Faults())

    @property
    def faults(self) -> Faults:
        """The faults in effect (or being put in effect)."""
        return self._faults

    def mechanisms(self) -> dict[str, str]:
        """What carries each kind of fault here, for the run's record."""
        netem = self._netem
        delay = (
            "not used yet"
            if netem is None
            else "tc netem on egress (NFQUEUE delayer for packets from client groups)"
            if netem
            else f"iptables-legacy NFQUEUE + delayer process ({self._netem_why})"
        )
        return {
            "cut": "nftables drop (refuse: nftables reject)",
            "loss": "nftables numgen",
            "duplicate": "nftables dup",
            "delay": delay,
        }

    def check(self) -> None:
        """Raise if a delayer died since its delays were set (they no longer hold)."""
        with self._lock:
            for node, delayer in sorted(self._delayers.items()):
                if not delayer.alive():
                    raise IpNetworkError(
                        f"the packet delayer of {node} died (exit {delayer.process.returncode}): "
                        "the delays of its links no longer hold; clear and delay them again"
                    )

    def rebind(self, node: str, netns: Netns, address: str | None = None) -> None:
        """``node`` now lives in ``netns`` (a container that restarted gets a new namespace):
        forget what its old one held and put its faults in the new one."""
        with self._lock:
            old = self.endpoints[node]
            self.endpoints[node] = replace(old, netns=netns, address=address or old.address)
            self._applied.pop(node, None)
            self._shaped.discard(node)
            delayer = self._delayers.pop(node, None)
            if delayer is not None:
                delayer.stop()
            self._set(self._faults)

    def close(self, remove_rules: bool = True) -> None:
        """Stop the delayers and remove every rule and qdisc this control made, in the
        namespaces that still exist (``remove_rules`` False: leave the rules, for namespaces
        about to be deleted anyway). Idempotent; errors are raised after all were tried."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            errors: list[str] = []
            for node in sorted(set(self._applied) | set(self._delayers)):
                netns = self.endpoints[node].netns
                try:
                    if netns is not None and remove_rules:
                        self._remove_from(node, netns)
                except IpNetworkError as exc:
                    errors.append(str(exc))
                delayer = self._delayers.pop(node, None)
                if delayer is not None:
                    delayer.stop()
            self._applied.clear()
            if errors:
                raise IpNetworkError("; ".join(errors))

    def __enter__(self) -> PacketControl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- applying --------------------------------------------------------------------------

    def _set(self, faults: Faults) -> None:
        if self._closed:
            raise IpNetworkError("this packet control was closed: make a new one for a new run")
        self._faults = faults
        wanted = node_rules(faults, self.endpoints)
        errors = []
        for node, rules in wanted.items():
            if self._applied.get(node) == rules and self._delayer_ok(node):
                continue
            self._applied.pop(node, None)
            try:
                self._apply(node, rules)
            except IpNetworkError as exc:
                errors.append(str(exc))
                continue
            self._applied[node] = rules
        if errors:
            raise IpNetworkError("; ".join(errors))

    def _delayer_ok(self, node: str) -> bool:
        delayer = self._delayers.get(node)
        return delayer is None or delayer.alive()

    def _apply(self, node: str, rules: NodeRules) -> None:
        netns = self.endpoints[node].netns
        assert netns is not None
        run(
            ["nft", "-f", "-"],
            netns=netns,
            input=nft_script(self.names, rules),
            timeout=self.timeout,
            what=f"the nft rules of {node}",
        )
        netem = self._netem_available() if rules.delays else bool(self._netem)
        placement = place_delays(rules, netem=netem)
        if placement.netem or node in self._shaped:
            self._shape(node, netns, rules.device, placement.netem)
        if placement.queued or node in self._delayers:
            delayer = self._delayer(node, netns)
            delayer.configure(placement.queued)
            script = iptables_script(self.names, rules.device, placement.queued)
            run(
                ["iptables-legacy-restore", "-w", "5", "--noflush"],
                netns=netns,
                input=script,
                timeout=self.timeout,
                what=f"the delay queue rules of {node}",
            )

    def _shape(
        self, node: str, netns: Netns, device: str, shaped: Mapping[str, Impairment]
    ) -> None:
        run(
            ["tc", "qdisc", "del", "dev", device, "root"],
            netns=netns,
            check=False,
            timeout=self.timeout,
        )
        self._shaped.discard(node)
        batch = netem_batch(device, shaped, limit=self.delay_limit)
        if batch:
            run(
                ["tc", "-batch", "-"],
                netns=netns,
                input=batch,
                timeout=self.timeout,
                what=f"the netem qdiscs of {node}",
            )
            self._shaped.add(node)

    def _delayer(self, node: str, netns: Netns) -> DelayerProcess:
        """The node's delayer, started (with the chains that feed it) on first use or after it
        died."""
        delayer = self._delayers.get(node)
        if delayer is not None and delayer.alive():
            return delayer
        if delayer is not None:
            delayer.stop()
        device = self.endpoints[node].device
        run(
            ["iptables-legacy-restore", "-w", "5", "--noflush"],
            netns=netns,
            input=iptables_script(self.names, device, ()),
            timeout=self.timeout,
            what=f"the delay queue chains of {node}",
        )
        for hook, chain in (("INPUT", self.names.chain_in), ("OUTPUT", self.names.chain_out)):
            jump = [hook, "-j", chain]
            if run([*IPT, "-C", *jump], netns=netns, check=False, timeout=self.timeout).returncode:
                run([*IPT, "-I", *jump], netns=netns, timeout=self.timeout)
        index = sorted(self.endpoints).index(node)
        delayer = DelayerProcess(
            netns,
            self.names.queue,
            seed=self.seed * 1009 + index,
            limit=self.delay_limit,
            timeout=self.timeout,
        )
        self._delayers[node] = delayer
        return delayer

    def _netem_available(self) -> bool:
        if self._netem is None:
            self._netem, self._netem_why = kernel_has_netem(self.names, timeout=self.timeout)
        return self._netem

    def _remove_from(self, node: str, netns: Netns) -> None:
        run(
            ["nft", "-f", "-"],
            netns=netns,
            input=nft_delete(self.names),
            timeout=self.timeout,
            what=f"removing the nft table of {node}",
        )
        if node in self._shaped:
            run(
                ["tc", "qdisc", "del", "dev", self.endpoints[node].device, "root"],
                netns=netns,
                check=False,
                timeout=self.timeout,
            )
            self._shaped.discard(node)
        if node in self._delayers:
            remove_chains(self.names, netns, self.timeout)


def remove_chains(names: RunNames, netns: Netns, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Remove the run's iptables-legacy jumps and chains from ``netns`` (absent ones too)."""
    for hook, chain in (("INPUT", names.chain_in), ("OUTPUT", names.chain_out)):
        while (
            run(
                [*IPT, "-D", hook, "-j", chain], netns=netns, check=False, timeout=timeout
            ).returncode
            == 0
        ):
            pass
        run([*IPT, "-F", chain], netns=netns, check=False, timeout=timeout)
        run([*IPT, "-X", chain], netns=netns, check=False, timeout=timeout)
