"""Seeded fault schedules as plain data: generated before a run, saved in ``test.json``, replayed.

A schedule is a list of :class:`FaultStep`. Each step starts its fault at ``at`` seconds after the
nemesis starts and undoes it ``duration`` seconds later; steps never overlap and every step ends
by the time limit, so any sub-list of a schedule (what shrinking produces) is a valid schedule.
Every parameter a step needs is concrete in the step (nodes, groups, links, milliseconds), except
what only the running cluster knows: which node is primary. A saved schedule is replayed from its
JSON, never regenerated, so replays do not depend on the Python version's ``random``.

Pure: no I/O.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nemesis import partitions, power
from nemesis.catalogue import (
    KINDS,
    NODE_CHOICES,
    check_partition_mode,
    parse_kinds,
    parse_shapes,
)

SCHEDULE_VERSION = 1
DEFAULT_INTERVAL = 8.0
LATENCIES_MS = (50, 100, 200, 500)


@dataclass(frozen=True)
class FaultStep:
    """One fault, from ``at`` to ``at + duration`` seconds after the nemesis starts.

    ``params`` is JSON data, by ``kind``:

    - ``partition``: ``shape``; ``groups`` (one-alone, halves, bridge as [half, [bridge], half]),
      ``ring`` (majorities-ring) or ``node`` (primary-alone: isolated when no primary is known);
      ``clients`` (client group -> side index, see :mod:`nemesis.partitions`); ``mode``
      (``drop`` | ``refuse``, optional: the nemesis's default when absent).
    - ``kill``, ``pause``: ``choose`` (``primary`` | ``random``) and ``node`` (the node hit, or
      when choosing the primary, the node hit if no primary is known).
    - ``power-loss``: ``nodes`` (one node, a minority or all; see :mod:`nemesis.power`).
    - ``latency``: ``links`` ([[src, dst], ...]), ``ms``, ``jitter`` (ms), and the ``node``
      whose links they are (for reading).
    """

    at: float
    kind: str
    duration: float
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def end(self) -> float:
        return self.at + self.duration

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "kind": self.kind,
            "duration": self.duration,
            "params": copy.deepcopy(self.params),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FaultStep:
        try:
            return cls(
                at=float(data["at"]),
                kind=str(data["kind"]),
                duration=float(data["duration"]),
                params=copy.deepcopy(dict(data.get("params", {}))),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"bad fault step {data!r}: needs at, kind, duration: {exc}") from exc


@dataclass(frozen=True)
class Schedule:
    """A validated list of non-overlapping fault steps over one cluster's nodes.

    Construction raises ``ValueError`` naming the first bad step when steps overlap, are out of
    order, end after ``time_limit``, have an unknown kind, or name nodes not in ``nodes``.
    """

    steps: tuple[FaultStep, ...]
    nodes: tuple[str, ...]
    client_groups: tuple[str, ...]
    time_limit: float
    seed: int | None = None
    kinds: tuple[str, ...] = ()
    interval: float = DEFAULT_INTERVAL
    partition_mode: str = "drop"
    shapes: tuple[str, ...] = ()  # partition shapes drawn from; () means every shape

    def __post_init__(self) -> None:
        check_partition_mode(self.partition_mode)
        parse_shapes(self.shapes)
        previous_end = 0.0
        for i, step in enumerate(self.steps):
            where = f"step {i} ({step.kind} at {step.at}s)"
            if step.kind not in KINDS:
                raise ValueError(f"{where}: unknown kind; valid kinds are: {', '.join(KINDS)}")
            if step.at < previous_end or step.duration <= 0:
                raise ValueError(
                    f"{where}: steps must start after the previous one ended "
                    f"({previous_end}s) and last more than 0s"
                )
            if step.end > self.time_limit:
                raise ValueError(f"{where}: ends after the time limit {self.time_limit}s")
            _check_params(step, self.nodes, self.client_groups, where)
            previous_end = step.end

    def with_steps(self, steps: Iterable[FaultStep]) -> Schedule:
        """The same schedule with other steps (e.g. a sub-list, when shrinking)."""
        return Schedule(
            tuple(steps),
            self.nodes,
            self.client_groups,
            self.time_limit,
            self.seed,
            self.kinds,
            self.interval,
            self.partition_mode,
            self.shapes,
        )

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data; :meth:`from_json` of it gives back an equal schedule."""
        return {
            "version": SCHEDULE_VERSION,
            "seed": self.seed,
            "nodes": list(self.nodes),
            "client_groups": list(self.client_groups),
            "time_limit": self.time_limit,
            "interval": self.interval,
            "kinds": list(self.kinds),
            "partition_mode": self.partition_mode,
            "shapes": list(self.shapes),
            "steps": [s.to_json() for s in self.steps],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str) -> Schedule:
        """Read a schedule from :meth:`to_json`'s data or its JSON text; validates it."""
        if isinstance(data, str):
            data = json.loads(data)
        assert isinstance(data, Mapping)
        if data.get("version") != SCHEDULE_VERSION:
            raise ValueError(
                f"schedule version {data.get('version')!r} is not {SCHEDULE_VERSION}; "
                "regenerate it from its seed with this version of splitbrain"
            )
        try:
            return cls(
                steps=tuple(FaultStep.from_json(s) for s in data["steps"]),
                nodes=tuple(data["nodes"]),
                client_groups=tuple(data["client_groups"]),
                time_limit=float(data["time_limit"]),
                seed=data.get("seed"),
                kinds=tuple(data.get("kinds", ())),
                interval=float(data.get("interval", DEFAULT_INTERVAL)),
                partition_mode=data.get("partition_mode", "drop"),
                shapes=tuple(data.get("shapes", ())),
            )
        except KeyError as exc:
            raise ValueError(f"schedule lacks the field {exc}") from exc


def _check_params(
    step: FaultStep, nodes: Sequence[str], client_groups: Sequence[str], where: str
) -> None:
    p = step.params
    try:
        if step.kind == "partition":
            partitions.from_params(p, nodes)
            if "mode" in p:
                check_partition_mode(p["mode"])
        elif step.kind in ("kill", "pause"):
            if p.get("choose", "random") not in NODE_CHOICES or p.get("node") not in nodes:
                raise ValueError(f"needs choose in {list(NODE_CHOICES)} and node in {list(nodes)}")
        elif step.kind == "latency":
            ends = set(nodes) | set(client_groups)
            if not p.get("links") or any(
                len(link) != 2 or not set(link) <= ends for link in p["links"]
            ):
                raise ValueError(f"links must be [src, dst] pairs of {sorted(ends)}")
            if int(p["ms"]) < 0 or int(p.get("jitter", 0)) < 0:
                raise ValueError("ms and jitter must be >= 0")
        elif step.kind == "power-loss":
            power.check_params(p, nodes)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}: bad params {p!r}: {exc}") from exc


def _partition_params(
    nodes: Sequence[str],
    client_groups: Sequence[str],
    mode: str,
    rng: random.Random,
    shapes: Sequence[str] = (),
) -> dict[str, Any]:
    shape = rng.choice(usable_shapes(len(nodes), shapes))
    params = partitions.draw_params(shape, nodes, rng)
    sides = len(partitions.from_params(params, nodes).sides)
    params["clients"] = partitions.draw_placement(client_groups, sides, rng)
    params["mode"] = mode
    return params


def _latency_params(
    nodes: Sequence[str], client_groups: Sequence[str], rng: random.Random
) -> dict[str, Any]:
    node = rng.choice(nodes)
    others = [n for n in nodes if n != node]
    links = [[node, n] for n in others] + [[n, node] for n in others]
    links += [[c, node] for c in client_groups]
    ms = rng.choice(LATENCIES_MS)
    return {"node": node, "links": links, "ms": ms, "jitter": ms // 4}


def usable_shapes(node_count: int, shapes: Sequence[str] = ()) -> tuple[str, ...]:
    """The partition shapes to draw from: ``shapes`` (all if empty) that fit ``node_count``.

    Raises ``ValueError`` when none fits, naming the shapes and the node count.
    """
    usable = tuple(
        s for s in partitions.shapes_for(node_count) if not shapes or s in parse_shapes(shapes)
    )
    if not usable:
        raise ValueError(
            f"no partition shape of {list(shapes) or 'the catalogue'} works with {node_count} "
            f"nodes; use more nodes or other shapes"
        )
    return usable


def draw_params(
    kind: str,
    nodes: Sequence[str],
    client_groups: Sequence[str],
    rng: random.Random,
    partition_mode: str = "drop",
    shapes: Sequence[str] = (),
) -> dict[str, Any]:
    """Concrete params of one step of ``kind``, drawn from ``rng`` (see :class:`FaultStep`)."""
    if kind == "partition":
        return _partition_params(nodes, client_groups, partition_mode, rng, shapes)
    if kind in ("kill", "pause"):
        return {"choose": rng.choice(tuple(NODE_CHOICES)), "node": rng.choice(nodes)}
    if kind == "latency":
        return _latency_params(nodes, client_groups, rng)
    if kind == "power-loss":
        return power.draw_params(nodes, rng)
    raise ValueError(f"unknown nemesis kind {kind!r}; valid kinds are: {', '.join(KINDS)}")


def generate_schedule(
    seed: int,
    kinds: Sequence[str] | str,
    nodes: Sequence[str],
    client_groups: Sequence[str],
    time_limit: float,
    interval: float = DEFAULT_INTERVAL,
    partition_mode: str = "drop",
    shapes: Sequence[str] | str = (),
) -> Schedule:
    """The schedule of faults for one run, a pure function of its arguments.

    The first fault starts after a quiet gap of 0.5-1 ``interval``; each lasts 0.5-1 ``interval``
    and is followed by a quiet gap of 0.5-1 ``interval``; no fault runs in the last ``interval``
    of ``time_limit``. Kinds take turns in a seeded order, so each appears about equally often.
    Times are rounded to milliseconds.
    """
    kinds = parse_kinds(kinds)
    check_partition_mode(partition_mode)
    if interval <= 0:
        raise ValueError(f"the nemesis interval must be > 0 seconds, got {interval}")
    if kinds and not nodes:
        raise ValueError("a nemesis needs at least one node")
    shapes = parse_shapes(shapes)
    if "partition" in kinds and not partitions.shapes_for(len(nodes)):
        raise ValueError(f"a partition needs at least 2 nodes, got {len(nodes)}")
    if "partition" in kinds:
        usable_shapes(len(nodes), shapes)
    rng = random.Random(seed)
    steps: list[FaultStep] = []
    turn: list[str] = []
    t = interval * rng.uniform(0.5, 1.0)
    while kinds:
        at = round(t, 3)
        duration = round(interval * rng.uniform(0.5, 1.0), 3)
        if at + duration > time_limit - interval:
            break
        if not turn:
            turn = list(kinds)
            rng.shuffle(turn)
        kind = turn.pop()
        params = draw_params(kind, nodes, client_groups, rng, partition_mode, shapes)
        steps.append(FaultStep(at, kind, duration, params))
        t = at + duration + interval * rng.uniform(0.5, 1.0)
    return Schedule(
        tuple(steps),
        tuple(nodes),
        tuple(client_groups),
        float(time_limit),
        seed,
        kinds,
        float(interval),
        partition_mode,
        shapes,
    )
