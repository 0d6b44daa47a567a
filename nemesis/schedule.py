"""Seeded fault schedules as plain data: generated before a run, saved in ``test.json``, replayed.

A schedule is a list of :class:`FaultStep` ordered by start. Each step starts its fault at ``at``
seconds after the nemesis starts and undoes it ``duration`` seconds later; steps may overlap (a
latency during a kill), and every step ends by the time limit, so any sub-list of a schedule (what
shrinking produces) is a valid schedule. Every parameter a step needs is concrete in the step
(nodes, groups, links, milliseconds), except what only the running cluster knows: which node is
primary. A saved schedule is replayed from its JSON, never regenerated, so replays do not depend
on the Python version's ``random``. Schedules saved before profiles (version 1) still load.

How faults are drawn is a named profile (:mod:`nemesis.profiles`); what the system allows is its
:class:`~nemesis.interface.Capabilities`. Pure: no I/O.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nemesis import faults, partitions, profiles
from nemesis.catalogue import check_partition_mode, parse_kinds, parse_shapes
from nemesis.faults import FAULT_KINDS, NODE_CHOICES
from nemesis.interface import Capabilities
from nemesis.profiles import DEFAULT_PROFILE, PROFILES, Profile

SCHEDULE_VERSION = 2
READABLE_VERSIONS = (1, 2)
DEFAULT_INTERVAL = PROFILES["gentle"].interval


@dataclass(frozen=True)
class FaultStep:
    """One fault, from ``at`` to ``at + duration`` seconds after the nemesis starts.

    ``params`` is JSON data, by ``kind``:

    - ``partition``: ``shape``; ``groups`` (one-alone, halves, bridge as [half, [bridge], half]),
      ``ring`` (majorities-ring) or ``node`` (primary-alone: isolated when no primary is known);
      ``clients`` (client group -> side index, see :mod:`nemesis.partitions`); ``mode``
      (``drop`` | ``refuse``, optional: the nemesis's default when absent).
    - ``kill``, ``pause``, ``power-loss``: ``choose`` (see :data:`nemesis.faults.NODE_CHOICES`)
      and the seeded ``node`` (one node) or ``nodes`` (several): the nodes hit, or when choosing
      the primary, the fallback if none is known (``majority`` swaps the primary in).
    - ``latency``: ``links`` ([[src, dst], ...]), ``ms``, ``jitter`` (ms), the ``node`` whose
      links they are, and ``choose`` (``random`` | ``primary`` | ``all``, optional): with
      ``primary`` the links are the primary's at run time, ``links`` the fallback's.
    """

    at: float
    kind: str
    duration: float
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def end(self) -> float:
        return self.at + self.duration

    def words(self) -> str:
        """The step as a short sentence, e.g. ``"at 3.2 s for 2 s: kill the primary (n1 if none
        is known)"``."""
        known = FAULT_KINDS.get(self.kind)
        detail = known.words(self.params) if known else self.kind
        return f"at {self.at:g} s for {self.duration:g} s: {detail}"

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
    """A validated list of fault steps over one cluster's nodes, ordered by start.

    Construction raises ``ValueError`` naming the first bad step when steps are out of order,
    last no time, end after ``time_limit``, have an unknown kind, or name nodes not in ``nodes``.
    ``profile`` is the profile it was drawn from (``None`` for a schedule from before profiles);
    ``capabilities`` what the system allowed.
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
    profile: str | None = None
    capabilities: Capabilities = field(default_factory=Capabilities)

    def __post_init__(self) -> None:
        check_partition_mode(self.partition_mode)
        parse_shapes(self.shapes)
        previous_at = 0.0
        for i, step in enumerate(self.steps):
            where = f"step {i} ({step.kind} at {step.at}s)"
            if step.kind not in FAULT_KINDS:
                raise ValueError(
                    f"{where}: unknown kind; valid kinds are: {', '.join(FAULT_KINDS)}"
                )
            if step.at < previous_at or step.at < 0 or step.duration <= 0:
                raise ValueError(
                    f"{where}: steps must be ordered by start (the previous one starts at "
                    f"{previous_at}s) and last more than 0s"
                )
            if step.end > self.time_limit:
                raise ValueError(f"{where}: ends after the time limit {self.time_limit}s")
            _check_params(step, self.nodes, self.client_groups, where)
            previous_at = step.at

    def with_steps(self, steps: Iterable[FaultStep]) -> Schedule:
        """The same schedule with other steps (e.g. a sub-list, when shrinking)."""
        return dataclasses.replace(self, steps=tuple(steps))

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data; :meth:`from_json` of it gives back an equal schedule."""
        return {
            "version": SCHEDULE_VERSION,
            "seed": self.seed,
            "profile": self.profile,
            "capabilities": self.capabilities.to_json(),
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
        """Read a schedule from :meth:`to_json`'s data or its JSON text (version 1, from before
        profiles, too); validates it."""
        if isinstance(data, str):
            data = json.loads(data)
        assert isinstance(data, Mapping)
        if data.get("version") not in READABLE_VERSIONS:
            raise ValueError(
                f"schedule version {data.get('version')!r} is not one of {READABLE_VERSIONS}; "
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
                profile=data.get("profile"),
                capabilities=Capabilities.from_json(data.get("capabilities")),
            )
        except KeyError as exc:
            raise ValueError(f"schedule lacks the field {exc}") from exc


def step_nodes(params: Mapping[str, Any]) -> list[str]:
    """The seeded nodes of a process step: ``nodes``, or ``[node]`` (as version 1 wrote it)."""
    nodes = params.get("nodes")
    return list(nodes) if isinstance(nodes, list) else [params["node"]]


def _check_params(
    step: FaultStep, nodes: Sequence[str], client_groups: Sequence[str], where: str
) -> None:
    p = step.params
    holds = FAULT_KINDS[step.kind].holds
    try:
        if holds == "cut":
            partitions.from_params(p, nodes)
            if "mode" in p:
                check_partition_mode(p["mode"])
        elif holds in ("killed", "paused"):
            hit = step_nodes(p)
            choose = p.get("choose", "random")
            if choose not in NODE_CHOICES or not hit or not set(hit) <= set(nodes):
                raise ValueError(
                    f"needs choose in {list(NODE_CHOICES)} and node or nodes in {list(nodes)}"
                )
        elif holds == "latency":
            ends = set(nodes) | set(client_groups)
            if not p.get("links") or any(
                len(link) != 2 or not set(link) <= ends for link in p["links"]
            ):
                raise ValueError(f"links must be [src, dst] pairs of {sorted(ends)}")
            if int(p["ms"]) < 0 or int(p.get("jitter", 0)) < 0:
                raise ValueError("ms and jitter must be >= 0")
            if p.get("choose", "random") not in ("random", "primary", "all"):
                raise ValueError("choose must be random, primary or all")
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}: bad params {p!r}: {exc}") from exc


def _aim(
    nodes: Sequence[str], profile: Profile, caps: Capabilities, rng: random.Random
) -> dict[str, Any]:
    """Whom a process fault hits: ``choose`` and the seeded ``node`` or ``nodes``."""
    r = rng.random()
    majority = len(nodes) // 2 + 1
    if r < profile.primary_share and caps.has_primary:
        return {"choose": "primary", "node": rng.choice(nodes)}
    r -= profile.primary_share
    if r < profile.majority_share and len(nodes) > 1:
        picked = sorted(rng.sample(list(nodes), majority))
        return {"choose": "majority" if caps.has_primary else "random", "nodes": picked}
    r -= profile.majority_share
    if r < profile.all_share:
        return {"choose": "all", "nodes": list(nodes)}
    return {"choose": "random", "node": rng.choice(nodes)}


def latency_links(
    node: str | None, nodes: Sequence[str], client_groups: Sequence[str]
) -> list[list[str]]:
    """Every link into and out of ``node`` (client groups' links to it included), or every link
    of the cluster when ``node`` is ``None``."""
    if node is None:
        links = [[a, b] for a in nodes for b in nodes if a != b]
        return links + [[c, n] for c in client_groups for n in nodes]
    others = [n for n in nodes if n != node]
    links = [[node, n] for n in others] + [[n, node] for n in others]
    return links + [[c, node] for c in client_groups]


def _latency_params(
    nodes: Sequence[str],
    client_groups: Sequence[str],
    rng: random.Random,
    profile: Profile,
    caps: Capabilities,
) -> dict[str, Any]:
    node = rng.choice(nodes)
    ms = rng.choice(profile.latency_ms)
    if rng.random() < profile.latency_all_share:
        choose: str = "all"
    elif caps.has_primary and rng.random() < profile.primary_share:
        choose = "primary"
    else:
        choose = "random"
    links = latency_links(None if choose == "all" else node, nodes, client_groups)
    return {"choose": choose, "node": node, "links": links, "ms": ms, "jitter": ms // 4}


def _partition_params(
    nodes: Sequence[str],
    client_groups: Sequence[str],
    mode: str,
    rng: random.Random,
    shapes: Sequence[str],
    profile: Profile,
    caps: Capabilities,
) -> dict[str, Any]:
    usable = usable_shapes(len(nodes), shapes, caps)
    others = [s for s in usable if s != "primary-alone"]
    aimed = "primary-alone" in usable and profile.primary_share > 0
    if aimed and (not others or rng.random() < max(profile.primary_share, 1 / len(usable))):
        shape = "primary-alone"
    else:
        shape = rng.choice(others or usable)
    params = partitions.draw_params(shape, nodes, rng)
    sides = len(partitions.from_params(params, nodes).sides)
    params["clients"] = partitions.draw_placement(client_groups, sides, rng)
    params["mode"] = mode
    return params


def usable_shapes(
    node_count: int, shapes: Sequence[str] = (), caps: Capabilities | None = None
) -> tuple[str, ...]:
    """The partition shapes to draw from: ``shapes`` (all if empty) that fit ``node_count`` and
    the system (``primary-alone`` only for one that names its primary).

    Raises ``ValueError`` when none fits, naming the shapes and the node count, and when a shape
    asked for by name needs what the system lacks.
    """
    caps = caps or Capabilities()
    asked = parse_shapes(shapes)
    if "primary-alone" in asked and (reason := caps.lacks_primary("partition shape primary-alone")):
        raise ValueError(f"{reason}; use other --partition-shapes")
    usable = tuple(
        s
        for s in partitions.shapes_for(node_count)
        if (not asked or s in asked) and (s != "primary-alone" or caps.has_primary)
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
    profile: Profile | None = None,
    caps: Capabilities | None = None,
) -> dict[str, Any]:
    """Concrete params of one step of ``kind``, drawn from ``rng`` (see :class:`FaultStep`)."""
    profile = profile or PROFILES[DEFAULT_PROFILE]
    caps = caps or Capabilities()
    if kind == "partition":
        return _partition_params(nodes, client_groups, partition_mode, rng, shapes, profile, caps)
    if faults.kind(kind).holds in ("killed", "paused"):
        return _aim(nodes, profile, caps, rng)
    if kind == "latency":
        return _latency_params(nodes, client_groups, rng, profile, caps)
    raise ValueError(f"no parameters are drawn for nemesis kind {kind!r}")


def _chosen_kinds(
    kinds: Sequence[str] | str | None, profile: Profile, caps: Capabilities
) -> tuple[str, ...]:
    """The kinds to draw from: those asked for (each must apply to the system), or the
    profile's that apply."""
    if kinds is None:
        return tuple(k for k in profile.weights if caps.lacks(k) is None)
    chosen = parse_kinds(kinds)
    for kind in chosen:
        if reason := caps.lacks(kind):
            raise ValueError(f"{reason}; choose other --nemesis kinds")
    return chosen


def _companion(
    main: FaultStep,
    kinds: Sequence[str],
    draw: Callable[[str, bool], dict[str, Any]],
    profile: Profile,
    rng: random.Random,
) -> FaultStep | None:
    """A fault of a kind ``profile.companions`` pairs with ``main``'s, inside its window, or
    ``None`` when no such kind is drawn from. During a partition it is not aimed at the primary."""
    choices = [k for k in profile.companions.get(main.kind, ()) if k in kinds]
    if not choices:
        return None
    kind = rng.choice(choices)
    at = round(main.at + main.duration * rng.uniform(0.0, 0.5), 3)
    duration = round(min(main.duration * rng.uniform(0.3, 0.8), main.end - at), 3)
    if duration <= 0:
        return None
    return FaultStep(at, kind, duration, draw(kind, main.kind != "partition"))


def generate_schedule(
    seed: int,
    kinds: Sequence[str] | str | None,
    nodes: Sequence[str],
    client_groups: Sequence[str],
    time_limit: float,
    interval: float | None = None,
    partition_mode: str = "drop",
    shapes: Sequence[str] | str = (),
    profile: str = DEFAULT_PROFILE,
    capabilities: Capabilities | None = None,
) -> Schedule:
    """The schedule of faults for one run, a pure function of its arguments.

    ``kinds`` ``None`` means the profile's kinds that apply to the system (``capabilities``);
    kinds named explicitly must all apply (else ``ValueError`` saying which and why); ``""``
    means no nemesis. ``interval`` ``None`` means the profile's.

    Main faults follow one another: the first starts after a quiet gap of ``profile.gap`` x
    ``interval``; each lasts ``profile.duration`` x ``interval`` and is followed by such a gap; no
    fault runs in the last ``interval`` of ``time_limit``. Kinds take turns in a seeded order,
    each ``weight`` times per round. With the profile's ``overlap`` chance a main fault gets a
    companion of another kind inside its window. Times are rounded to milliseconds.
    """
    chosen = profiles.profile(profile)
    caps = capabilities or Capabilities()
    kinds = _chosen_kinds(kinds, chosen, caps)
    check_partition_mode(partition_mode)
    interval = chosen.interval if interval is None else interval
    if interval <= 0:
        raise ValueError(f"the nemesis interval must be > 0 seconds, got {interval}")
    if kinds and not nodes:
        raise ValueError("a nemesis needs at least one node")
    shapes = parse_shapes(shapes)
    if "partition" in kinds and not partitions.shapes_for(len(nodes)):
        raise ValueError(f"a partition needs at least 2 nodes, got {len(nodes)}")
    if "partition" in kinds:
        usable_shapes(len(nodes), shapes, caps)
    rng = random.Random(seed)

    unaimed = dataclasses.replace(chosen, primary_share=0.0, majority_share=0.0)

    def draw(kind: str, aimed: bool = True) -> dict[str, Any]:
        aim = chosen if aimed else unaimed
        return draw_params(kind, nodes, client_groups, rng, partition_mode, shapes, aim, caps)

    steps: list[FaultStep] = []
    turn: list[str] = []
    t = interval * rng.uniform(*chosen.gap)
    while kinds:
        at = round(t, 3)
        duration = round(interval * rng.uniform(*chosen.duration), 3)
        if at + duration > time_limit - interval:
            break
        if not turn:
            turn = [k for k in kinds for _ in range(chosen.weight(k))]
            rng.shuffle(turn)
        kind = turn.pop()
        main = FaultStep(at, kind, duration, draw(kind))
        steps.append(main)
        if chosen.overlap and rng.random() < chosen.overlap:
            companion = _companion(main, kinds, draw, chosen, rng)
            steps += [companion] if companion else []
        t = at + duration + interval * rng.uniform(*chosen.gap)
    return Schedule(
        tuple(sorted(steps, key=lambda s: s.at)),
        tuple(nodes),
        tuple(client_groups),
        float(time_limit),
        seed,
        kinds,
        float(interval),
        partition_mode,
        shapes,
        profile,
        caps,
    )
