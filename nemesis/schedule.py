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

from nemesis import faults, profiles
from nemesis.catalogue import parse_kinds
from nemesis.faults import FAULT_KINDS
from nemesis.interface import Capabilities
from nemesis.kind import Cluster, DrawContext
from nemesis.partitions import check_partition_mode, parse_shapes
from nemesis.profiles import DEFAULT_PROFILE, PROFILES, Profile

SCHEDULE_VERSION = 2
READABLE_VERSIONS = (1, 2)
DEFAULT_INTERVAL = PROFILES["gentle"].interval


@dataclass(frozen=True)
class FaultStep:
    """One fault, from ``at`` to ``at + duration`` seconds after the nemesis starts.

    ``params`` is JSON data whose meaning is the kind's: each module of :mod:`nemesis.kinds`
    says what its params hold (the nodes, groups, links or milliseconds of the fault, concrete
    but for the current primary).
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
        is known)"``; the words are the kind's."""
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
        cluster = Cluster(self.nodes, self.client_groups)
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
            _check_params(step, cluster, where)
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


def _check_params(step: FaultStep, cluster: Cluster, where: str) -> None:
    try:
        faults.kind(step.kind).check(step.params, cluster)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}: bad params {step.params!r}: {exc}") from exc


def draw_params(
    kind: str,
    nodes: Sequence[str],
    client_groups: Sequence[str],
    rng: random.Random,
    partition_mode: str = "drop",
    shapes: Sequence[str] = (),
    profile: Profile | None = None,
    caps: Capabilities | None = None,
    seed: int | None = None,
) -> dict[str, Any]:
    """Concrete params of one step of ``kind``, drawn from ``rng`` by the kind itself (see its
    module in :mod:`nemesis.kinds`); ``seed`` is the schedule's, for the kinds that make a choice
    once per run."""
    context = DrawContext(
        Cluster(tuple(nodes), tuple(client_groups)),
        profile or PROFILES[DEFAULT_PROFILE],
        caps or Capabilities(),
        partition_mode,
        tuple(shapes),
        seed,
    )
    return faults.kind(kind).draw(context, rng)


def _chosen_kinds(
    kinds: Sequence[str] | str | None, profile: Profile, caps: Capabilities
) -> tuple[str, ...]:
    """The kinds to draw from: those asked for (each must apply to the system), or the
    profile's that apply."""
    if kinds is None:
        return tuple(k for k in profile.weights if faults.kind(k).lacks(caps) is None)
    chosen = parse_kinds(kinds)
    for kind in chosen:
        if reason := faults.kind(kind).lacks(caps):
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
    ``None`` when no such kind is drawn from. It is aimed at the primary only where ``main``'s
    kind allows (a fault on the primary during a partition would undo its isolation)."""
    choices = [k for k in profile.companions.get(main.kind, ()) if k in kinds]
    if not choices:
        return None
    kind = rng.choice(choices)
    at = round(main.at + main.duration * rng.uniform(0.0, 0.5), 3)
    duration = round(min(main.duration * rng.uniform(0.3, 0.8), main.end - at), 3)
    if duration <= 0:
        return None
    aimed = faults.kind(main.kind).companions_aimed
    return FaultStep(at, kind, duration, draw(kind, aimed))


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
    cluster = Cluster(tuple(nodes), tuple(client_groups))
    context = DrawContext(cluster, chosen, caps, partition_mode, shapes, seed)
    for name in kinds:
        faults.kind(name).can_draw(context)
    rng = random.Random(seed)
    unaimed = dataclasses.replace(
        context, profile=dataclasses.replace(chosen, primary_share=0.0, majority_share=0.0)
    )

    def draw(kind: str, aimed: bool = True) -> dict[str, Any]:
        return faults.kind(kind).draw(context if aimed else unaimed, rng)

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
