"""Named fault profiles: how often, how long, how aimed and how overlapping a schedule's faults
are. A profile is data; :func:`nemesis.schedule.generate_schedule` reads it.

``gentle`` is the generator of splitbrain before profiles (one fault at a time, every few
seconds); ``default`` aims at the primary in most faults, overlaps faults and is dense enough that
each known bug of the reference cluster shows in a 30-40 s run; ``harsh`` is denser and hits
majorities and whole clusters more; ``primary-killer`` kills the primary every 2 s or so;
``cluster-crash`` kills the whole cluster (or a majority) every 6-9 s, for crash-recovery
bugs such as NATS's forgotten streams.

Pure data; no I/O. The mappings are read-only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

COMPANIONS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "latency": ("kill", "power-loss", "pause"),
        "partition": ("latency", "pause"),
        "kill": ("latency",),
        "power-loss": ("latency",),
        "pause": ("latency", "partition"),
    }
)
"""Main kind -> the kinds of fault that may overlap it (see :attr:`Profile.overlap`)."""


@dataclass(frozen=True)
class Profile:
    """How a schedule's faults are drawn.

    - ``weights``: kind -> how many turns it gets in each round of kinds (kinds take turns in a
      seeded order, so each appears about ``weight`` times per round); a kind asked for that the
      profile does not weigh gets 1.
    - ``interval``: seconds; durations are ``duration`` x interval, quiet gaps ``gap`` x interval;
      the last interval of the run is quiet.
    - ``primary_share``: the share of node-aimed faults (kill, pause, power loss, latency) and of
      partitions (as ``primary-alone``) aimed at the current primary; ``majority_share`` and
      ``all_share``: the share of process faults that hit a majority with the primary, or every
      node; the rest hit one seeded node.
    - ``overlap``: the chance that a fault gets a companion inside its window, of a kind
      ``companions[main kind]`` lists: a kill of the primary while its links are slow (acks
      outrun replication), latency during a kill or a partition, a pause of a node while
      another is cut off. A process fault during a partition is aimed at a seeded node, so it
      does not undo the partition's isolation of the primary.
    - ``latency_ms``: latencies drawn (jitter is a quarter); ``latency_all_share``: the share of
      latency faults on every link instead of one node's.
    """

    name: str
    description: str
    weights: Mapping[str, int]
    interval: float
    duration: tuple[float, float] = (0.5, 1.0)
    gap: tuple[float, float] = (0.5, 1.0)
    primary_share: float = 0.5
    majority_share: float = 0.0
    all_share: float = 0.0
    overlap: float = 0.0
    latency_ms: tuple[int, ...] = (50, 100, 200, 500)
    latency_all_share: float = 0.0
    companions: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: COMPANIONS)

    def weight(self, kind: str) -> int:
        return self.weights.get(kind, 1)


_PROFILES = (
    Profile(
        name="gentle",
        description="one fault at a time, 4-8 s long with 4-8 s quiet between, half of node "
        "faults at the primary, no overlap (splitbrain's schedules before profiles)",
        weights={"partition": 1, "kill": 1, "pause": 1, "latency": 1, "power-loss": 1},
        interval=8.0,
    ),
    Profile(
        name="default",
        description="faults of 2-3.5 s with 2-3.5 s quiet between, most aimed at the primary, "
        "some at a majority or every node, half with an overlapping fault; latency up to 1.5 s",
        weights={"partition": 2, "kill": 2, "pause": 1, "latency": 2, "power-loss": 2},
        interval=3.5,
        primary_share=0.6,
        majority_share=0.15,
        all_share=0.1,
        overlap=0.5,
        latency_ms=(200, 500, 1000, 1500),
        latency_all_share=0.4,
    ),
    Profile(
        name="harsh",
        description="faults of 1.3-2.5 s with 1-2.5 s quiet between, most with an overlapping "
        "one, aimed at the primary, a majority or every node; latency up to 2 s",
        weights={"partition": 2, "kill": 2, "pause": 2, "latency": 2, "power-loss": 2},
        interval=2.5,
        gap=(0.4, 1.0),
        primary_share=0.6,
        majority_share=0.2,
        all_share=0.15,
        overlap=0.8,
        latency_ms=(300, 1000, 2000),
        latency_all_share=0.5,
    ),
    Profile(
        name="primary-killer",
        description="kill (or cut the power of) the primary for 0.5-1 s every 1.5-2.5 s, "
        "a third of the time under latency",
        weights={"kill": 3, "power-loss": 1},
        interval=2.0,
        duration=(0.25, 0.5),
        gap=(0.5, 0.75),
        primary_share=1.0,
        overlap=0.3,
        latency_ms=(200, 500),
        latency_all_share=1.0,
        companions={"kill": ("latency",), "power-loss": ("latency",)},
    ),
    Profile(
        name="cluster-crash",
        description="kill every node (a majority 3 times in 10) for 0.3-0.9 s, then 5-8 s "
        "quiet for the cluster to recover; nothing overlaps",
        weights={"kill": 1},
        interval=6.0,
        duration=(0.05, 0.15),
        gap=(0.8, 1.3),
        primary_share=0.0,
        majority_share=0.3,
        all_share=0.7,
    ),
)

PROFILES: Mapping[str, Profile] = MappingProxyType({p.name: p for p in _PROFILES})
"""Every profile by name."""

DEFAULT_PROFILE = "default"


def profile(name: str) -> Profile:
    """The profile named ``name``; ``ValueError`` listing every profile when there is none."""
    try:
        return PROFILES[name]
    except KeyError:
        listing = "; ".join(f"{p.name}: {p.description}" for p in _PROFILES)
        raise ValueError(
            f"unknown nemesis profile {name!r}; valid profiles are: {listing}"
        ) from None
