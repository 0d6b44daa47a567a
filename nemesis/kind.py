"""What one fault kind is: the unit every kind of :mod:`nemesis.kinds` implements.

A kind says what it needs of a system (:meth:`FaultKind.lacks`), how a step of it is drawn
(:meth:`~FaultKind.draw`) and checked (:meth:`~FaultKind.check`), how it is said in words, and
how it starts against a running cluster (:meth:`~FaultKind.begin`: which items it holds, and the
blocking call that starts it on one item). What it leaves in effect until undone is its
:class:`Effect`, which also knows the undo; kinds may share one (``kill`` and ``power-loss``
both leave nodes killed, and a restart undoes either). The schedule and the runner only look
kinds up; they never branch on a kind's name.

Pure apart from :meth:`FaultKind.begin`, which may ask the cluster for its primary.
"""

from __future__ import annotations

import random
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Collection, Hashable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from nemesis.interface import Capabilities, NetworkControl, Target
from nemesis.profiles import Profile

Params = dict[str, Any]
"""A step's parameters: plain JSON data (see each kind's docstring)."""


@dataclass(frozen=True)
class Controls:
    """What a fault acts through: the cluster's processes and its network."""

    target: Target
    network: NetworkControl


Action = Callable[[Controls, Any], None]
"""A blocking call that changes one item (a link, a node) through the controls."""


@dataclass(frozen=True)
class Effect:
    """What a started fault holds until it is undone, and how it is undone.

    ``name`` is what the runner counts as held (``cut``, ``latency``, ``killed``, ``paused``);
    ``undo_f`` the history ``f`` of the undo; ``undo`` the blocking call that undoes one item;
    ``value`` the history ``value`` of an undo of some items. ``lane``: changes to one item in
    one lane happen one at a time in the order decided (a node's kill, pause, resume and restart
    share the lane ``process``; a link's cut and its delay are independent lanes). ``heal_rank``:
    the final heal undoes lower ranks first (the network before the processes).
    """

    name: str
    undo_f: str
    lane: str
    undo: Action
    value: Callable[[Collection[Any]], Params]
    heal_rank: int


@dataclass(frozen=True)
class Fault:
    """A step's fault as it starts now: the history ``value`` of its start, the ``items`` it
    holds (links or nodes) and the blocking call that starts it on one item."""

    value: Params
    items: frozenset[Hashable]
    start: Action


@dataclass(frozen=True)
class Cluster:
    """The names a step's params may use: the nodes and the client groups."""

    nodes: tuple[str, ...]
    client_groups: tuple[str, ...]


class _OnCluster:
    """The cluster's names, for a context that has a ``cluster``."""

    cluster: Cluster

    @property
    def nodes(self) -> tuple[str, ...]:
        return self.cluster.nodes

    @property
    def client_groups(self) -> tuple[str, ...]:
        return self.cluster.client_groups


@dataclass(frozen=True)
class DrawContext(_OnCluster):
    """Everything a kind may draw a step from, besides its ``random.Random``.

    ``profile`` says how aimed and how strong faults are; ``capabilities`` what the system
    allows; ``partition_mode`` and ``shapes`` what the user asked of partitions. ``seed`` is the
    schedule's: :meth:`run_rng` gives a kind choices that hold for a whole run.
    """

    cluster: Cluster
    profile: Profile
    capabilities: Capabilities
    partition_mode: str = "drop"
    shapes: tuple[str, ...] = ()
    seed: int | None = None

    def run_rng(self, purpose: str) -> random.Random:
        """A generator that gives the same draws for every step of one run, for choices made
        once per run (such as the fixed minority of nodes whose disks a fault damages);
        ``purpose`` keeps the choices of different kinds apart. The step's own ``rng`` is left
        untouched, so the other kinds' draws do not move."""
        return random.Random(f"{self.seed}/{purpose}")


@dataclass
class StartContext(_OnCluster):
    """What a kind may use when its step starts: the cluster's names, the system's
    capabilities, the run's default partition mode, and the current primary (asked of the
    cluster on demand; how long asking took is kept in ``asked_s``, so a late start can say
    why)."""

    cluster: Cluster
    capabilities: Capabilities
    partition_mode: str
    ask_primary: Callable[[], Awaitable[str | None]]
    asked_s: float = 0.0

    async def primary(self) -> str | None:
        """The node that is primary now, or ``None`` when the cluster names none of its nodes."""
        began = time.monotonic()
        try:
            return await self.ask_primary()
        finally:
            self.asked_s += time.monotonic() - began


class FaultKind(ABC):
    """One kind of fault, as a unit: what it needs, how it is drawn, checked, said, started, and
    (through its :attr:`effect`) undone.

    Subclasses set the class attributes: ``name`` (as ``--nemesis`` spells it),
    ``description`` (for ``--help``), ``start_f`` (the history ``f`` of its start op),
    ``effect``, and the report's ``colour`` and ``label``. ``companions_aimed``: whether a fault
    a profile overlaps with this one may aim at the primary (not during a partition, whose
    isolation of the primary it would undo).
    """

    name: ClassVar[str]
    description: ClassVar[str]
    start_f: ClassVar[str]
    effect: ClassVar[Effect]
    colour: ClassVar[str]
    label: ClassVar[str]
    companions_aimed: ClassVar[bool] = True

    @property
    def undo_f(self) -> str:
        """The history ``f`` of the op that ends this kind's faults."""
        return self.effect.undo_f

    @property
    def holds(self) -> str:
        """What this kind's faults hold while in effect (its effect's name)."""
        return self.effect.name

    @abstractmethod
    def lacks(self, capabilities: Capabilities) -> str | None:
        """Why this kind cannot run against a system with ``capabilities`` (a sentence naming
        the system), or ``None`` when it can."""

    def can_draw(self, context: DrawContext) -> None:
        """Raise ``ValueError`` saying what to change when no step of this kind can be drawn
        for ``context`` (too few nodes, no usable shape); by default every context works."""
        return None

    @abstractmethod
    def draw(self, context: DrawContext, rng: random.Random) -> Params:
        """Concrete params of one step, drawn from ``rng`` only (and :meth:`DrawContext.run_rng`
        for run-wide choices), so a schedule is a pure function of its seed."""

    @abstractmethod
    def check(self, params: Mapping[str, Any], cluster: Cluster) -> None:
        """Raise ``ValueError`` saying what is wrong when ``params`` cannot run on ``cluster``
        (the caller adds which step)."""

    @abstractmethod
    def words(self, params: Mapping[str, Any]) -> str:
        """The step's fault as a short phrase, e.g. ``"kill the primary (n1 if none is
        known)"``."""

    @abstractmethod
    async def begin(self, params: Mapping[str, Any], context: StartContext) -> Fault:
        """The fault ``params`` describe, aimed now (the current primary swapped in where the
        step aims at it). Asks nothing of the cluster but, where needed, its primary."""


def links_json(links: Collection[tuple[str, str]]) -> list[list[str]]:
    """Links as history JSON: ``[[src, dst], ...]``, sorted."""
    return [list(link) for link in sorted(links)]


def links_value(links: Collection[Any]) -> Params:
    """The history ``value`` of an op on ``links``: ``{"links": [[src, dst], ...]}``."""
    return {"links": links_json(links)}


def nodes_value(nodes: Collection[Any]) -> Params:
    """The history ``value`` of an op on ``nodes``: ``{"nodes": [...]}``, sorted."""
    return {"nodes": sorted(nodes)}
