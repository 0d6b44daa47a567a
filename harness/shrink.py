"""Shrinking a failing fault schedule: delta debugging (Zeller's ddmin) over its steps.

Pure: no I/O. :func:`ddmin` takes the steps and a predicate ``fails(steps) -> bool`` (which
``splitbrain shrink`` implements by re-running the cluster); :func:`still_fails` judges one re-run's
results against the original failure; :func:`step_words` says a fault step in words.

Every candidate ddmin tries is a sub-list of the original in the original order, so by
:meth:`nemesis.schedule.Schedule.with_steps` every candidate is a valid schedule.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from harness.results import Results
from nemesis.schedule import FaultStep
from splitbrain.numbers import int_or

T = TypeVar("T")


@dataclass(frozen=True)
class Attempt:
    """One call of the predicate: which items (indexes into the original list) and its answer."""

    indexes: tuple[int, ...]
    failed: bool


@dataclass(frozen=True)
class ShrinkResult(Generic[T]):
    """What :func:`ddmin` found.

    ``minimal`` is the smallest failing sub-list seen (the whole list when ``reproduced`` is
    False); ``indexes`` are its positions in the original. ``one_minimal`` is True only when every
    single-item removal of ``minimal`` was tested and passed; False when the budget ran out first.
    ``attempts`` holds every predicate call in order (a sub-list is never tested twice).
    """

    minimal: tuple[T, ...]
    indexes: tuple[int, ...]
    attempts: tuple[Attempt, ...]
    reproduced: bool
    one_minimal: bool


class _OutOfRuns(Exception):
    pass


def _chunks(items: tuple[int, ...], n: int) -> list[tuple[int, ...]]:
    """``items`` cut into ``n`` contiguous, non-empty parts of near-equal length."""
    size, extra = divmod(len(items), n)
    parts, start = [], 0
    for k in range(n):
        end = start + size + (1 if k < extra else 0)
        parts.append(items[start:end])
        start = end
    return parts


def ddmin(
    items: Sequence[T], fails: Callable[[list[T]], bool], max_runs: int | None = None
) -> ShrinkResult[T]:
    """Shrink ``items`` to a 1-minimal sub-list on which ``fails`` is still True.

    The first call is always ``fails(items)`` (a failure must be seen again before shrinking;
    if it is not, the result says ``reproduced=False`` and nothing else is tried). Each sub-list
    is tested at most once, so a flaky predicate is asked once per candidate. With ``max_runs``,
    ``fails`` is called at most that many times; when the budget is spent the smallest failing
    sub-list seen so far is returned with ``one_minimal=False``. With a deterministic predicate
    and no budget, the result fails, every removal of one item passes (the empty list included),
    and ``fails`` is called at most ``max(2, len(items) ** 2)`` times (checked for every predicate
    on up to 4 items, and by property tests beyond).
    """
    if max_runs is not None and max_runs < 1:
        raise ValueError(f"max_runs must be at least 1, got {max_runs}")
    attempts: list[Attempt] = []
    seen: dict[tuple[int, ...], bool] = {}
    current = tuple(range(len(items)))
    smallest_failing = current

    def test(indexes: tuple[int, ...]) -> bool:
        nonlocal smallest_failing
        if indexes in seen:
            return seen[indexes]
        if max_runs is not None and len(attempts) >= max_runs:
            raise _OutOfRuns
        failed = bool(fails([items[i] for i in indexes]))
        seen[indexes] = failed
        attempts.append(Attempt(indexes, failed))
        if failed and len(indexes) < len(smallest_failing):
            smallest_failing = indexes
        return failed

    reproduced = one_minimal = False
    try:
        reproduced = test(current)
        if reproduced:
            current = _reduce(current, test)
            one_minimal = True
    except _OutOfRuns:
        current = smallest_failing
    return ShrinkResult(
        minimal=tuple(items[i] for i in current),
        indexes=current,
        attempts=tuple(attempts),
        reproduced=reproduced,
        one_minimal=one_minimal,
    )


def _reduce(current: tuple[int, ...], test: Callable[[tuple[int, ...]], bool]) -> tuple[int, ...]:
    """The ddmin loop proper; ``current`` fails on entry and on return."""
    n = 2
    while len(current) >= 2:
        parts = _chunks(current, n)
        failing_part = next((part for part in parts if test(part)), None)
        if failing_part is not None:
            current, n = failing_part, 2
            continue
        complements = [tuple(i for i in current if i not in part) for part in parts]
        failing_rest = next((rest for rest in complements if test(rest)), None)
        if failing_rest is not None:
            current, n = failing_rest, max(n - 1, 2)
            continue
        if n >= len(current):
            return current
        n = min(2 * n, len(current))
    if len(current) == 1 and test(()):
        return ()
    return current


def target_kinds(
    original_counts: Mapping[str, int], wanted: Collection[str] | None = None
) -> tuple[str, ...]:
    """The anomaly kinds a re-run must show to count as the same failure.

    ``wanted`` (from ``--anomaly``) when given, else every kind with a count above 0 in the
    original run's ``anomaly_counts``; in the order given, or the order of the counts.
    """
    if wanted:
        return tuple(dict.fromkeys(wanted))
    return tuple(name for name, count in original_counts.items() if int_or(count, 0) > 0)


def still_fails(given: Results | Mapping[str, Any], kinds: Collection[str]) -> bool:
    """True when a re-run's results show any of ``kinds`` with a count above 0."""
    results = Results.of(given)
    return any(results.count(kind) > 0 for kind in kinds)


def found_words(given: Results | Mapping[str, Any], kinds: Collection[str]) -> str:
    """``"lost 2, seq-conflict 1"``: the counts of ``kinds`` above 0 in ``results``."""
    results = Results.of(given)
    found = [f"{kind} {results.count(kind)}" for kind in kinds if results.count(kind)]
    return ", ".join(found) or "none of " + ", ".join(kinds)


def step_words(step: FaultStep) -> str:
    """One fault step as a short sentence, e.g. ``"at 3.2 s for 2.0 s: partition primary-alone
    (n1 if no primary is known)"``; the words are the fault kind's (:mod:`nemesis.faults`)."""
    return step.words()
