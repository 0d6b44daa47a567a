"""Exploration: many seeded runs one after another within a budget, the failing ones kept.

Pure parts only: what to try next, whether the budget allows another run, and the table of what
was found. ``splitbrain explore`` (:mod:`harness.commands.explore`) runs the runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.results import Results

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``10m`` or ``1.5h`` in seconds; ValueError saying the form otherwise."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a duration; write it as 90, 90s, 10m or 1.5h")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


@dataclass(frozen=True)
class Trial:
    """One run to make: its seed and the settings that differ from the base configuration."""

    seed: int
    changes: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""  # says what ``changes`` cannot, e.g. which drawn schedule

    def label(self) -> str:
        extra = self.note or ", ".join(f"{k}={v}" for k, v in sorted(self.changes.items()))
        return f"seed {self.seed}" + (f" ({extra})" if extra else "")


def trials(first_seed: int, variants: Sequence[Mapping[str, Any]] = ({},)) -> Iterator[Trial]:
    """Seeds from ``first_seed`` upwards, each with every variant in turn (endless)."""
    seed = first_seed
    while True:
        for variant in variants:
            yield Trial(seed, dict(variant))
        seed += 1


@dataclass
class Budget:
    """A time and/or run budget. A run starts only if, judging by the runs so far, it would end
    within the time left, so exploration stops on time rather than overrunning it."""

    seconds: float | None = None
    runs: int | None = None
    spent: float = 0.0
    done: int = 0
    longest: float = 0.0

    def allows(self, expected: float) -> bool:
        if self.runs is not None and self.done >= self.runs:
            return False
        if self.seconds is None:
            return True
        return self.spent + max(expected, self.longest) <= self.seconds

    def charge(self, seconds: float) -> None:
        self.spent += seconds
        self.done += 1
        self.longest = max(self.longest, seconds)


@dataclass(frozen=True)
class Finding:
    """What one run found; ``run_dir`` is kept only for runs that did not come back valid."""

    trial: Trial
    valid: Any
    counts: Mapping[str, int]
    availability: float | None
    seconds: float
    run_dir: str | None

    @property
    def failed(self) -> bool:
        return self.valid is False


def finding_of(
    trial: Trial, given: Results | Mapping[str, Any], seconds: float, run_dir: str
) -> Finding:
    results = Results.of(given)
    keep = None if results.valid is True else run_dir
    return Finding(trial, results.valid, results.found(), results.availability, seconds, keep)


def format_table(findings: Sequence[Finding]) -> str:
    """One line per run: what was tried, the verdict, the anomaly counts, where a failure is."""
    if not findings:
        return "no run was made: the budget allowed none\n"
    width = max(len(f.trial.label()) for f in findings)
    lines = [f"{'trial':<{width}}  verdict  avail.  time   anomalies / run directory"]
    for f in findings:
        verdict = {True: "valid", False: "INVALID"}.get(f.valid, "unknown")
        avail = "n/a" if f.availability is None else f"{100 * f.availability:.1f}%"
        found = ", ".join(f"{name} {n}" for name, n in f.counts.items())
        where = f"  {f.run_dir}" if f.run_dir else ""
        lines.append(
            f"{f.trial.label():<{width}}  {verdict:<7}  {avail:>6}  {f.seconds:4.0f}s  "
            f"{found or '-'}{where}"
        )
    failed = sum(f.failed for f in findings)
    lines.append(
        f"{len(findings)} run(s), {failed} failing"
        + (
            "; each failing run directory takes `splitbrain shrink` and `run --replay`"
            if failed
            else ""
        )
    )
    return "\n".join(lines) + "\n"
