"""Fault schedules drawn by Hypothesis, for ``splitbrain explore --schedules hypothesis``.

A profile draws schedules of one shape: its rates, durations and overlaps. Hypothesis draws any
shape the schedule format allows: no fault or many, back to back or all at once, short or long,
several kinds overlapping on the same nodes. Each step's parameters (which nodes, which partition
shape, how much latency) come from the same rules the profiles use, with the aim (primary,
majority, all nodes) of a profile Hypothesis picks per step, so every drawn schedule is valid for
the system and backend the template schedule was made for.

What explore runs is still a plain :class:`~nemesis.schedule.Schedule`, saved in ``test.json``, so
a failing run replays and shrinks like any other: Hypothesis is only the source of variety. The
draws are a pure function of the template, the seed and the Hypothesis version. No I/O.
"""

from __future__ import annotations

import math
import random
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from nemesis.profiles import PROFILES
from nemesis.schedule import FaultStep, Schedule, draw_params

SEARCH_PROFILE = "hypothesis"
"""The ``profile`` a drawn schedule records, so a report says where its faults came from."""

SHORTEST_FAULT = 0.2


def _step(
    template: Schedule, at: float, length: float, kind: str, aim: str, seed: int
) -> FaultStep:
    at = round(at, 3)
    room = math.floor((template.time_limit - at) * 1000) / 1000  # never past the time limit
    duration = min(round(length, 3), room)
    params = draw_params(
        kind,
        template.nodes,
        template.client_groups,
        random.Random(seed),
        template.partition_mode,
        template.shapes,
        PROFILES[aim],
        template.capabilities,
        template.seed,
    )
    return FaultStep(at, kind, duration, params)


def schedules(template: Schedule) -> st.SearchStrategy[Schedule]:
    """Schedules over ``template``'s nodes, client groups, time limit, kinds, partition shapes
    and mode and capabilities; its own steps are ignored. With no kinds or no time for a fault,
    only the empty schedule."""
    limit = template.time_limit
    if not template.kinds or limit <= SHORTEST_FAULT:
        return st.just(template.with_steps(()))
    longest = max(1.0, 3 * template.interval)
    step = st.builds(
        lambda *args: _step(template, *args),
        st.floats(0.0, limit - SHORTEST_FAULT),
        st.floats(SHORTEST_FAULT, longest),
        st.sampled_from(template.kinds),
        st.sampled_from(sorted(PROFILES)),
        st.integers(0, 2**32 - 1),
    )
    most = max(1, int(limit // 2))
    return st.lists(step, max_size=most).map(
        lambda steps: _schedule(template, sorted(steps, key=lambda s: s.at))
    )


def _schedule(template: Schedule, steps: list[FaultStep]) -> Schedule:
    return Schedule(
        tuple(steps),
        template.nodes,
        template.client_groups,
        template.time_limit,
        template.seed,
        template.kinds,
        template.interval,
        template.partition_mode,
        template.shapes,
        SEARCH_PROFILE,
        template.capabilities,
    )


def draw_schedules(template: Schedule, count: int, seed: int) -> list[Schedule]:
    """Up to ``count`` distinct schedules (see :func:`schedules`), the same ones for the same
    ``seed``; fewer only when Hypothesis finds no more."""
    found: list[Schedule] = []

    @hypothesis_seed(seed)
    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(schedules(template))
    def collect(schedule: Schedule) -> None:
        if schedule not in found:
            found.append(schedule)

    collect()
    return found[:count]


def describe(schedule: Schedule) -> dict[str, Any]:
    """A drawn schedule in a few numbers, for explore's table."""
    kinds = sorted({s.kind for s in schedule.steps})
    return {"faults": len(schedule.steps), "kinds": "+".join(kinds) or "none"}
