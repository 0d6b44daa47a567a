"""The one home of every fault kind: what it is, which history ops start and undo it, what it
holds while in effect, what it needs of a system, and how a report and a shrink show it.

Every other module reads :data:`FAULT_KINDS` (or the helpers below) instead of spelling kinds
out: the catalogue for ``--help`` and parsing, the schedule for validation and words, the runner
for what an undo releases, and the harness's report, timeline and progress line for colours,
labels and which ops end a fault. Adding a kind is one entry here plus its start/undo in
:mod:`nemesis.runner`.

Pure data; no I/O. The mappings are read-only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

Holds = Literal["cut", "latency", "killed", "paused"]


def _nodes(params: Mapping[str, Any]) -> str:
    nodes = params.get("nodes")
    if isinstance(nodes, list) and nodes:
        return ",".join(map(str, nodes))
    return str(params.get("node", "?"))


def _flat(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [name for item in value for name in _flat(item)]
    return [str(value)]


def _aimed(verb: str, params: Mapping[str, Any]) -> str:
    choose = params.get("choose", "random")
    if choose == "primary":
        return f"{verb} the primary ({_nodes(params)} if none is known)"
    if choose == "majority":
        return f"{verb} a majority with the primary ({_nodes(params)} if none is known)"
    if choose == "all":
        return f"{verb} every node ({_nodes(params)})"
    return f"{verb} {_nodes(params)}"


def _partition_words(params: Mapping[str, Any]) -> str:
    shape = params.get("shape", "?")
    if "groups" in params:
        what = f"{shape} " + " | ".join(",".join(_flat(g)) for g in params["groups"])
    elif "ring" in params:
        what = f"{shape} " + ",".join(map(str, params["ring"]))
    elif shape == "primary-alone":
        what = f"{shape} ({params.get('node', '?')} if no primary is known)"
    else:
        what = f"{shape} {params.get('node', '?')}"
    return f"partition {what}"


def _latency_words(params: Mapping[str, Any]) -> str:
    ms, jitter = params.get("ms", "?"), params.get("jitter", 0)
    choose = params.get("choose", "random")
    where = {
        "primary": f"the primary's links ({params.get('node', '?')} if none is known)",
        "all": "every link",
    }.get(choose, f"the links of {params.get('node', '?')}")
    return f"latency {ms} ms (jitter {jitter}) on {where}"


@dataclass(frozen=True)
class FaultKind:
    """One kind of fault.

    ``start_f`` and ``undo_f`` are the history ``f`` of the ops that start and end it (several
    kinds may share an undo, as ``kill`` and ``power-loss`` share ``restart``). ``holds`` is what
    the runner counts as in effect until the undo succeeds. ``needs_process_control``: only for
    nodes the backend started (not an external server); ``aims_at_primary`` lists the ``choose``
    values that need a system naming its primary. ``words`` turns a step's params into a phrase
    for shrink output; ``colour`` and ``label`` are the report's.
    """

    name: str
    description: str
    start_f: str
    undo_f: str
    holds: Holds
    needs_process_control: bool
    colour: str
    label: str
    words: Callable[[Mapping[str, Any]], str]


_KINDS = (
    FaultKind(
        name="partition",
        description="cut the network into a partition shape, then heal it",
        start_f="partition",
        undo_f="heal",
        holds="cut",
        needs_process_control=False,
        colour="#7e57c2",
        label="partition",
        words=_partition_words,
    ),
    FaultKind(
        name="kill",
        description="kill -9 nodes (the primary, a majority with it, all, or one at random), "
        "then restart them",
        start_f="kill",
        undo_f="restart",
        holds="killed",
        needs_process_control=True,
        colour="#d84315",
        label="kill",
        words=lambda p: _aimed("kill", p),
    ),
    FaultKind(
        name="pause",
        description="SIGSTOP nodes (the primary, a majority with it, all, or one at random), "
        "then resume them",
        start_f="pause",
        undo_f="resume",
        holds="paused",
        needs_process_control=True,
        colour="#00838f",
        label="pause",
        words=lambda p: _aimed("pause", p),
    ),
    FaultKind(
        name="latency",
        description="add latency with jitter on the links of one node, of the primary, or on "
        "every link, then clear it",
        start_f="latency",
        undo_f="clear-latency",
        holds="latency",
        needs_process_control=False,
        colour="#6d4c41",
        label="latency",
        words=_latency_words,
    ),
    FaultKind(
        name="power-loss",
        description="kill nodes and drop their writes that were never fsynced (the target's "
        "power_loss), then restart them",
        start_f="power-loss",
        undo_f="restart",
        holds="killed",
        needs_process_control=True,
        colour="#37474f",
        label="power loss",
        words=lambda p: _aimed("power-loss", p),
    ),
)

FAULT_KINDS: Mapping[str, FaultKind] = MappingProxyType({k.name: k for k in _KINDS})
"""Every fault kind by name, in the order ``--help`` lists them."""

OTHER_COLOUR = "#546e7a"
"""The report's colour of a nemesis op no kind here names (a history from another version)."""

UNDO_FS: frozenset[str] = frozenset(k.undo_f for k in _KINDS)
"""Every history ``f`` that ends a fault (``heal``, ``restart``, ``resume``, ``clear-latency``)."""

NODE_CHOICES: Mapping[str, str] = MappingProxyType(
    {
        "primary": "the node that is primary when the fault starts (the seeded node if none)",
        "majority": "a majority of nodes that includes the primary when one is known",
        "all": "every node at once",
        "random": "nodes drawn from the seed",
    }
)
"""How a kill, pause, power loss or latency step picks its nodes (the step's ``choose``)."""

PRIMARY_CHOICES = frozenset({"primary", "majority"})
"""``choose`` values that aim at the primary, so need a system that names it."""


def kind(name: str) -> FaultKind:
    """The kind named ``name``; ``ValueError`` listing every kind when there is none."""
    try:
        return FAULT_KINDS[name]
    except KeyError:
        raise ValueError(
            f"unknown nemesis kind {name!r}; valid kinds are: {', '.join(FAULT_KINDS)}"
        ) from None


def kinds_ended_by(undo_f: str) -> tuple[str, ...]:
    """The kinds (by start ``f``) whose faults an op ``undo_f`` ends; ``()`` if it ends none."""
    return tuple(k.start_f for k in _KINDS if k.undo_f == undo_f)


def colour(f: str) -> str:
    """The report colour of the fault whose start op is ``f``."""
    known = FAULT_KINDS.get(f)
    return known.colour if known else OTHER_COLOUR


def label(f: str) -> str:
    """The report's label of the fault whose start op is ``f`` (``f`` itself if unknown)."""
    known = FAULT_KINDS.get(f)
    return known.label if known else f
