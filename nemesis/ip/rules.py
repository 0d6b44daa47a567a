"""The pure core of the IP layer: the faults in effect, and the rules each namespace must hold.

Nothing here runs a command. :class:`Faults` is the state (which directed links are cut, which
are impaired and how); :func:`node_rules` places it in the namespaces; the renderers turn one
namespace's :class:`NodeRules` into the exact nft script, iptables-restore input and tc batch
that :mod:`nemesis.ip.control` applies. Each namespace's rules are a function of the state alone,
so healing a link removes exactly that link's rules and nothing else, and applying the same state
twice changes nothing.

A directed link ``(src, dst)`` carries the packets ``src`` sends to ``dst``. Its rules go into
one namespace, chosen so that a fault is silent to the sender, as a pulled cable is:

* a cut and a loss drop packets on ``dst``'s input (by source address), as Jepsen's iptables
  rules do: dropped on the sender's output instead, a UDP ``sendto`` would fail with EPERM. Only
  when ``dst`` is a client group (whose address lives on the harness's side of the bridge, in no
  namespace of the run) do they go to ``src``'s output (TCP, which the clients speak, hides such
  local drops: it retransmits as for a loss);
* a delay and a duplication act on ``src``'s egress, as netem would (the packet left, late or
  twice, and the sender cannot tell), or on ``dst``'s ingress when ``src`` is a client group.

What a one-way cut means for TCP (as in Jepsen and Chaos Mesh): cutting ``(a, b)`` only drops
what ``a`` sends to ``b``. UDP then really flows one way. TCP needs both ways: a new connection
cannot be made in either direction (a's SYN, or a's SYN-ACK to b's SYN, is dropped), and on an
open connection b's data still reaches a, but a's ACKs do not reach b, so b retransmits until its
retransmission timeout closes the connection while a's application has already read the data.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Literal

from nemesis.ip.names import RunNames
from nemesis.ip.netns import Netns

Link = tuple[str, str]
Direction = Literal["out", "in"]
CutMode = Literal["drop", "refuse"]
SHARE_SCALE = 10000  # nft numgen draws 0..9999: shares have a resolution of 0.01 %
HTB_CLASS = "htb rate 10gbit quantum 60000"  # no shaping: netem leaves do the work


@dataclass(frozen=True)
class Impairment:
    """What happens to the packets of a link: each held ``delay_ms`` +- ``jitter_ms`` (uniform,
    so a jitter reorders packets, as netem's does), ``reorder`` of them sent at once without the
    delay (netem's ``reorder``; needs a delay), ``loss`` of them dropped and ``duplicate`` of the
    rest sent twice. Shares are in [0, 1]."""

    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    reorder: float = 0.0
    loss: float = 0.0
    duplicate: float = 0.0

    def __post_init__(self) -> None:
        for name in ("delay_ms", "jitter_ms"):
            value = getattr(self, name)
            if not math.isfinite(value) or not 0 <= value <= 60_000:
                raise ValueError(f"{name} must be between 0 and 60000 ms, not {value}")
        for name in ("reorder", "loss", "duplicate"):
            value = getattr(self, name)
            if not math.isfinite(value) or not 0 <= value <= 1:
                raise ValueError(f"{name} is a share of packets between 0 and 1, not {value}")
        if self.reorder and not self.delays:
            raise ValueError("reorder sends some packets ahead of delayed ones: it needs a delay")

    @property
    def delays(self) -> bool:
        return self.delay_ms > 0 or self.jitter_ms > 0

    @property
    def empty(self) -> bool:
        return not (self.delays or self.loss or self.duplicate)

    def delay_only(self) -> Impairment:
        return Impairment(self.delay_ms, self.jitter_ms, self.reorder)


@dataclass(frozen=True)
class Faults:
    """The network faults in effect: cut directed links (``cuts``: silently dropped;
    ``refusals``: refused, as a host with nothing listening refuses: TCP reset, ICMP port
    unreachable) and impaired directed links. A link is in at most one of the two cut sets."""

    cuts: frozenset[Link] = frozenset()
    impairments: Mapping[Link, Impairment] = field(default_factory=dict)
    refusals: frozenset[Link] = frozenset()

    def cut(self, links: Iterable[Link], mode: CutMode = "drop") -> Faults:
        """Cut ``links``; cutting a cut link in the other mode moves it to that mode."""
        if mode not in ("drop", "refuse"):
            raise ValueError(f"cut mode must be 'drop' or 'refuse', not {mode!r}")
        new = _links(links)
        if mode == "drop":
            return replace(self, cuts=self.cuts | new, refusals=self.refusals - new)
        return replace(self, cuts=self.cuts - new, refusals=self.refusals | new)

    def heal(self, links: Iterable[Link] | None = None) -> Faults:
        """Without ``links``, every cut heals."""
        if links is None:
            return replace(self, cuts=frozenset(), refusals=frozenset())
        gone = _links(links)
        return replace(self, cuts=self.cuts - gone, refusals=self.refusals - gone)

    def impair(self, links: Iterable[Link], impairment: Impairment) -> Faults:
        """``impairment`` replaces whatever impaired these links (an empty one removes it)."""
        changed = dict(self.impairments)
        for link in _links(links):
            if impairment.empty:
                changed.pop(link, None)
            else:
                changed[link] = impairment
        return replace(self, impairments=changed)

    def unimpair(self, links: Iterable[Link] | None = None) -> Faults:
        """Without ``links``, every impairment goes."""
        if links is None:
            return replace(self, impairments={})
        gone = _links(links)
        return replace(
            self, impairments={k: v for k, v in self.impairments.items() if k not in gone}
        )

    def links(self) -> frozenset[Link]:
        return self.cuts | self.refusals | frozenset(self.impairments)


def _links(links: Iterable[Link]) -> frozenset[Link]:
    found = frozenset((str(a), str(b)) for a, b in links)
    for a, b in found:
        if a == b:
            raise ValueError(f"a link joins two different ends, not {a} to itself")
    return found


@dataclass(frozen=True)
class Endpoint:
    """One end of links: a node (``netns`` set: the namespace its rules go to, with its
    interface ``device``) or a client group (``netns`` None: an address on the harness's side)."""

    name: str
    address: str
    netns: Netns | None = None
    device: str = "eth0"


@dataclass
class NodeRules:
    """What one node's namespace holds, by the peer address each rule matches: ``*_from`` act
    on the input (packets from that source), ``*_to`` on the output (packets to that
    destination). ``loss_*`` and ``dup_*`` are shares; ``delay_*`` carry the delay, jitter and
    reorder of an :class:`Impairment`. Compared by value: equal rules need no rewrite."""

    address: str
    device: str
    drop_from: set[str] = field(default_factory=set)
    drop_to: set[str] = field(default_factory=set)
    refuse_from: set[str] = field(default_factory=set)
    refuse_to: set[str] = field(default_factory=set)
    loss_from: dict[str, float] = field(default_factory=dict)
    loss_to: dict[str, float] = field(default_factory=dict)
    dup_from: dict[str, float] = field(default_factory=dict)
    dup_to: dict[str, float] = field(default_factory=dict)
    delay_from: dict[str, Impairment] = field(default_factory=dict)
    delay_to: dict[str, Impairment] = field(default_factory=dict)

    @property
    def delays(self) -> bool:
        return bool(self.delay_from or self.delay_to)


def node_rules(faults: Faults, endpoints: Mapping[str, Endpoint]) -> dict[str, NodeRules]:
    """The rules of every endpoint that has a namespace (empty ones included)."""
    for a, b in faults.links():
        for end in (a, b):
            if end not in endpoints:
                raise KeyError(f"link {a}->{b}: {end!r} is not a node or client group of this run")
        if endpoints[a].netns is None and endpoints[b].netns is None:
            raise ValueError(
                f"link {a}->{b} joins two client groups: its packets never cross a node, so "
                "no rule of the run can act on them; name links that have a node at one end"
            )
    rules = {
        name: NodeRules(end.address, end.device) for name, end in endpoints.items() if end.netns
    }

    def address(name: str) -> str:
        return endpoints[name].address

    for src, dst in faults.cuts:
        if dst in rules:
            rules[dst].drop_from.add(address(src))
        else:
            rules[src].drop_to.add(address(dst))
    for src, dst in faults.refusals:
        if dst in rules:
            rules[dst].refuse_from.add(address(src))
        else:
            rules[src].refuse_to.add(address(dst))
    for (src, dst), imp in faults.impairments.items():
        if imp.loss and dst in rules:
            rules[dst].loss_from[address(src)] = imp.loss
        elif imp.loss:
            rules[src].loss_to[address(dst)] = imp.loss
        if imp.duplicate and src in rules:
            rules[src].dup_to[address(dst)] = imp.duplicate
        elif imp.duplicate:
            rules[dst].dup_from[address(src)] = imp.duplicate
        if imp.delays and src in rules:
            rules[src].delay_to[address(dst)] = imp.delay_only()
        elif imp.delays:
            rules[dst].delay_from[address(src)] = imp.delay_only()
    return dict(sorted(rules.items()))


def _draw(share: float) -> str:
    """The match that picks ``share`` of the packets (none for all of them: numgen's draws
    stop at 9999)."""
    threshold = round(share * SHARE_SCALE)
    return "" if threshold >= SHARE_SCALE else f"numgen random mod {SHARE_SCALE} < {threshold} "


def nft_script(names: RunNames, rules: NodeRules) -> str:
    """The nft input that replaces the run's table in one namespace, atomically (one
    transaction): cuts, loss and duplication. Hooks run at priority filter - 10, before any
    iptables chain (so a cut or a loss acts before a packet is queued for delay)."""
    table = names.table
    # The clone `dup` makes of a received packet comes back in on lo: matching only the
    # node's interface keeps it from being cloned again (which would loop for ever).
    iif = f'iifname "{rules.device}" '
    into = [f"ip saddr {_set(rules.drop_from)} drop"] if rules.drop_from else []
    into += _refuse("ip saddr", rules.refuse_from)
    into += [f"{iif}ip saddr {a} {_draw(p)}drop" for a, p in sorted(rules.loss_from.items())]
    into += [
        f"{iif}ip saddr {a} {_draw(p)}dup to {rules.address}"
        for a, p in sorted(rules.dup_from.items())
    ]
    out = [f"ip daddr {_set(rules.drop_to)} drop"] if rules.drop_to else []
    out += _refuse("ip daddr", rules.refuse_to)
    out += [f"ip daddr {a} {_draw(p)}drop" for a, p in sorted(rules.loss_to.items())]
    out += [f"ip daddr {a} {_draw(p)}dup to {a}" for a, p in sorted(rules.dup_to.items())]
    lines = [f"add table ip {table}", f"delete table ip {table}", f"table ip {table} {{"]
    for chain, body in (("input", into), ("output", out)):
        lines.append(f"  chain {chain} {{")
        lines.append(f"    type filter hook {chain} priority filter - 10; policy accept;")
        lines.extend(f"    {rule}" for rule in body)
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _refuse(match: str, addresses: set[str]) -> list[str]:
    """Refuse what ``match``es ``addresses``: TCP with a reset, the rest with ICMP port
    unreachable. Resets and ICMP errors pass, so that the refusals of a link cut both ways reach
    the sender instead of being refused in turn."""
    if not addresses:
        return []
    peers = f"{match} {_set(addresses)}"
    return [
        f"{peers} tcp flags rst accept",
        f"{peers} meta l4proto icmp accept",
        f"{peers} meta l4proto tcp reject with tcp reset",
        f"{peers} reject",
    ]


def nft_delete(names: RunNames) -> str:
    """The nft input that removes the run's table, whether or not it exists."""
    return f"add table ip {names.table}\ndelete table ip {names.table}\n"


def _set(addresses: Iterable[str]) -> str:
    return "{ " + ", ".join(sorted(addresses)) + " }"


@dataclass(frozen=True)
class DelayRule:
    """A delay the NFQUEUE delayer applies: to packets sent to ``peer`` (``out``) or received
    from it (``in``)."""

    direction: Direction
    peer: str
    delay_ms: float
    jitter_ms: float = 0.0
    reorder: float = 0.0

    def to_json(self) -> dict[str, object]:
        return {
            "direction": self.direction,
            "peer": self.peer,
            "delay_ms": self.delay_ms,
            "jitter_ms": self.jitter_ms,
            "reorder": self.reorder,
        }


@dataclass(frozen=True)
class DelayPlacement:
    """Where one namespace's delays go: ``netem`` (by destination, on the node's egress) and
    ``queued`` (rules for the NFQUEUE delayer)."""

    netem: Mapping[str, Impairment]
    queued: tuple[DelayRule, ...]


def place_delays(rules: NodeRules, netem: bool) -> DelayPlacement:
    """With ``netem`` (the kernel has it), egress delays go to netem; every other delay (all
    of them without netem, and delays of packets received from client groups, which netem on
    egress cannot reach) goes to the delayer."""
    queued = [
        DelayRule("in", a, i.delay_ms, i.jitter_ms, i.reorder)
        for a, i in sorted(rules.delay_from.items())
    ]
    if netem:
        return DelayPlacement(dict(rules.delay_to), tuple(queued))
    out = [
        DelayRule("out", a, i.delay_ms, i.jitter_ms, i.reorder)
        for a, i in sorted(rules.delay_to.items())
    ]
    return DelayPlacement({}, (*out, *queued))


def iptables_script(names: RunNames, device: str, queued: Iterable[DelayRule]) -> str:
    """iptables-legacy-restore input (``--noflush``) that sets the run's two chains to queue
    exactly the delayed packets to the run's NFQUEUE. ``--queue-bypass``: if the delayer is
    gone, packets pass undelayed rather than vanish (the control notices a dead delayer and
    says so)."""
    target = f"-j NFQUEUE --queue-num {names.queue} --queue-bypass"
    lines = ["*filter", f":{names.chain_in} - [0:0]", f":{names.chain_out} - [0:0]"]
    for rule in queued:
        if rule.direction == "out":
            lines.append(f"-A {names.chain_out} -o {device} -d {rule.peer}/32 {target}")
        else:
            lines.append(f"-A {names.chain_in} -i {device} -s {rule.peer}/32 {target}")
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def netem_batch(device: str, shaped: Mapping[str, Impairment], limit: int = 10000) -> str:
    """``tc -batch`` input that gives each destination in ``shaped`` its own netem (an HTB class
    per destination, picked by a u32 filter on the destination address; other traffic takes
    the default class, unshaped). Empty when nothing is shaped: then the root qdisc is only
    deleted."""
    if not shaped:
        return ""
    lines = [
        f"qdisc add dev {device} root handle 1: htb default 1",
        f"class add dev {device} parent 1: classid 1:1 {HTB_CLASS}",
    ]
    for k, (peer, imp) in enumerate(sorted(shaped.items()), start=16):
        handle = f"{k:x}"
        netem = f"netem limit {limit} delay {imp.delay_ms:g}ms"
        if imp.jitter_ms:
            netem += f" {imp.jitter_ms:g}ms"
        if imp.reorder:
            netem += f" reorder {imp.reorder * 100:g}%"
        lines += [
            f"class add dev {device} parent 1: classid 1:{handle} {HTB_CLASS}",
            f"qdisc add dev {device} parent 1:{handle} handle {handle}: {netem}",
            f"filter add dev {device} parent 1: protocol ip prio 1 u32 "
            f"match ip dst {peer}/32 flowid 1:{handle}",
        ]
    return "\n".join(lines) + "\n"
