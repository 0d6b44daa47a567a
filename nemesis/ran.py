"""What ran against what was planned: a schedule's steps beside the nemesis ops of the history.

The runner (:mod:`nemesis.runner`) marks every op of a step with ``step`` (its index in the
schedule) and every invoke with ``planned`` (the history time in ns the schedule meant it for),
so the history alone says when each step really started and ended. :func:`compare` reads them
back: which steps started, how late, whether their start and undo were confirmed, and why not;
:meth:`ScheduleRun.ran_schedule` is the schedule of the steps that ran, as they ran (what
``shrink`` works on). A history recorded before ops carried their step cannot be matched, and
says so.

Pure: no I/O; ops are the dicts of ``history.jsonl``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from nemesis import faults
from nemesis.schedule import FaultStep, Schedule

ON_TIME_S = 0.1
"""A step starts (or ends) on time when its op is invoked within this of its planned time."""

NS = 1_000_000_000


@dataclass(frozen=True)
class OpRun:
    """One op of a step as the history has it (times in seconds since the run began)."""

    f: str
    invoked_s: float
    planned_s: float | None
    outcome: str | None  # "ok", "info", or None when the history has no completion
    completed_s: float | None
    error: str | None = None
    why_late: str | None = None

    @property
    def late_s(self) -> float | None:
        return None if self.planned_s is None else self.invoked_s - self.planned_s

    def to_json(self) -> dict[str, Any]:
        late = self.late_s
        return {
            "f": self.f,
            "planned_s": _r(self.planned_s),
            "invoked_s": _r(self.invoked_s),
            "late_ms": None if late is None else round(1000 * late, 1),
            "outcome": self.outcome,
            "completed_s": _r(self.completed_s),
            "error": self.error,
            "why_late": self.why_late,
        }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


@dataclass(frozen=True)
class StepRun:
    """One planned step and what the history says of it: its start op and its undo op (either
    ``None`` when the history has none); ``why`` explains a missing op."""

    index: int
    step: FaultStep
    planned_s: float | None
    start: OpRun | None
    undo: OpRun | None
    why: str | None = None

    @property
    def started(self) -> bool:
        return self.start is not None

    def on_time(self, tolerance: float = ON_TIME_S) -> bool:
        late = self.start.late_s if self.start else None
        return late is not None and abs(late) <= tolerance

    def differences(self, tolerance: float = ON_TIME_S) -> list[str]:
        """How this step differs from its plan, each with its reason; ``[]`` when it ran as
        planned (on time, confirmed, undone on time)."""
        if self.start is None:
            return [f"never started: {self.why or 'the history has no op of it'}"]
        found = _op_differences("start", self.start, tolerance)
        if self.undo is None:
            found.append(f"no undo of its own: {self.why or 'the history has none'}")
        else:
            found += _op_differences(f"undo ({self.undo.f})", self.undo, tolerance)
        return found

    def to_json(self, tolerance: float = ON_TIME_S) -> dict[str, Any]:
        return {
            "step": self.index,
            "kind": self.step.kind,
            "at": self.step.at,
            "duration": self.step.duration,
            "start": self.start.to_json() if self.start else None,
            "undo": self.undo.to_json() if self.undo else None,
            "differences": self.differences(tolerance),
        }


def _op_differences(what: str, op: OpRun, tolerance: float) -> list[str]:
    found = []
    late = op.late_s
    if late is not None and abs(late) > tolerance:
        early = "early" if late < 0 else "late"
        because = f" ({op.why_late})" if op.why_late else ""
        found.append(f"{what} {abs(1000 * late):.0f} ms {early}{because}")
    if op.outcome is None:
        found.append(f"{what} never completed in the history")
    elif op.outcome != "ok":
        found.append(f"{what} not confirmed: {op.error or op.outcome}")
    return found


@dataclass(frozen=True)
class ScheduleRun:
    """Every step of a schedule beside what ran. ``recorded`` is False for a history whose ops
    carry no step (recorded before this was kept): then nothing is matched."""

    steps: tuple[StepRun, ...]
    recorded: bool
    zero_s: float | None
    tolerance_s: float = ON_TIME_S

    @property
    def started(self) -> list[StepRun]:
        return [s for s in self.steps if s.started]

    @property
    def as_planned(self) -> bool:
        return self.recorded and not any(s.differences(self.tolerance_s) for s in self.steps)

    def latest_start_ms(self) -> float | None:
        lates = [s.start.late_s for s in self.steps if s.start and s.start.late_s is not None]
        return round(1000 * max(lates), 1) if lates else None

    def differences(self) -> list[str]:
        """One line per step that differs: ``"step 3 (partition at 16.163 s): start 2863 ms
        late (...)"``."""
        return [
            f"step {s.index} ({s.step.kind} at {s.step.at:g} s): {'; '.join(found)}"
            for s in self.steps
            if (found := s.differences(self.tolerance_s))
        ]

    def words(self) -> str:
        """One line for a run's summary."""
        planned = len(self.steps)
        if not self.recorded:
            return (
                f"fault schedule: {planned} planned; this history does not say which op belongs "
                "to which step, so what ran is not compared with the plan"
            )
        started = len(self.started)
        on_time = sum(s.on_time(self.tolerance_s) for s in self.steps)
        latest = self.latest_start_ms()
        tail = f" (latest {latest:+.0f} ms)" if latest is not None else ""
        limit = f"{1000 * self.tolerance_s:.0f} ms"
        if self.as_planned:
            return (
                f"fault schedule: all {planned} planned faults ran as planned, each start "
                f"within {limit} of its time{tail}"
            )
        return (
            f"fault schedule: {started} of {planned} planned faults started, {on_time} within "
            f"{limit} of their time{tail}; {len(self.differences())} differ from the plan"
        )

    def to_json(self) -> dict[str, Any]:
        """What ``results.json`` keeps under ``nemesis``."""
        return {
            "recorded": self.recorded,
            "tolerance_ms": round(1000 * self.tolerance_s),
            "planned": len(self.steps),
            "started": len(self.started),
            "on_time": sum(s.on_time(self.tolerance_s) for s in self.steps),
            "latest_start_ms": self.latest_start_ms(),
            "as_planned": self.as_planned,
            "summary": self.words(),
            "differences": self.differences(),
            "steps": [s.to_json(self.tolerance_s) for s in self.steps] if self.recorded else [],
        }

    def ran_schedule(self, schedule: Schedule) -> Schedule:
        """The steps that started, as they ran: at their planned times when they started and
        ended on time, else at the times the history has (clipped to the time limit). For a
        history that does not say, the planned schedule itself."""
        if not self.recorded or self.zero_s is None:
            return schedule
        steps = []
        for s in self.started:
            assert s.start is not None
            at, end = s.step.at, s.step.end
            if not s.on_time(self.tolerance_s):
                at = round(max(0.0, s.start.invoked_s - self.zero_s), 3)
            undo = s.undo
            if undo is not None and undo.late_s is not None and abs(undo.late_s) > self.tolerance_s:
                end = round(undo.invoked_s - self.zero_s, 3)
            end = min(max(end, at + 0.001), schedule.time_limit)
            if end > at:
                steps.append(FaultStep(at, s.step.kind, round(end - at, 3), s.step.params))
        return schedule.with_steps(sorted(steps, key=lambda step: step.at))


def _seconds(ns: Any) -> float | None:
    return ns / NS if isinstance(ns, int | float) and not isinstance(ns, bool) else None


def _step_ops(ops: Iterable[Mapping[str, Any]]) -> tuple[dict[int, list[Mapping[str, Any]]], float]:
    by_step: dict[int, list[Mapping[str, Any]]] = {}
    last = 0.0
    for op in ops:
        last = max(last, _seconds(op.get("time")) or 0.0)
        step = op.get("step")
        if op.get("process") == "nemesis" and isinstance(step, int) and not isinstance(step, bool):
            by_step.setdefault(step, []).append(op)
    return by_step, last


def _op_run(ops: list[Mapping[str, Any]], f: str) -> OpRun | None:
    """The first invoke of ``f`` among a step's ops and the completion that follows it."""
    for i, op in enumerate(ops):
        if op.get("f") != f or op.get("type") != "invoke":
            continue
        later = ops[i + 1 :]
        done = next((o for o in later if o.get("f") == f and o.get("type") != "invoke"), None)
        invoked = _seconds(op.get("time")) or 0.0
        why = op.get("why_late")
        return OpRun(
            f=f,
            invoked_s=invoked,
            planned_s=_seconds(op.get("planned")),
            outcome=str(done.get("type")) if done else None,
            completed_s=_seconds(done.get("time")) if done else None,
            error=str(done.get("error")) if done and done.get("error") else None,
            why_late=str(why) if why else None,
        )
    return None


def _why_missing(
    index: int, step: FaultStep, schedule: Schedule, zero: float | None, last: float, undo: bool
) -> str:
    """Why step ``index`` has no start (``undo`` False) or no undo of its own (True)."""
    when = step.end if undo else step.at
    if zero is not None and zero + when > last:
        return "the run stopped before its time; the final heal undid what was left"
    if undo:
        effect = faults.FAULT_KINDS[step.kind].effect if step.kind in faults.FAULT_KINDS else None
        overlapping = [
            j
            for j, other in enumerate(schedule.steps)
            if j != index
            and other.kind in faults.FAULT_KINDS
            and faults.FAULT_KINDS[other.kind].effect == effect
            and other.at <= step.end < other.end
        ]
        if overlapping:
            held = ", ".join(map(str, overlapping))
            return f"at its end step {held} still held all it held, so it was undone with that"
        return "nothing was left to undo at its end"
    return "the history has no op of it"


def compare(schedule: Schedule, ops: Iterable[Mapping[str, Any]]) -> ScheduleRun:
    """Each step of ``schedule`` beside its ops in ``ops`` (a history's operations, in order)."""
    by_step, last = _step_ops(ops)
    if not by_step:
        recorded = not schedule.steps  # an empty schedule has nothing to match
        empty = tuple(StepRun(i, s, None, None, None) for i, s in enumerate(schedule.steps))
        return ScheduleRun(empty, recorded, None)
    zero: float | None = None
    starts: dict[int, OpRun | None] = {}
    for index, step in enumerate(schedule.steps):
        known = faults.FAULT_KINDS.get(step.kind)
        start_f = known.start_f if known else step.kind
        starts[index] = _op_run(by_step.get(index, []), start_f)
        start = starts[index]
        if zero is None and start is not None and start.planned_s is not None:
            zero = start.planned_s - step.at
    runs = []
    for index, step in enumerate(schedule.steps):
        known = faults.FAULT_KINDS.get(step.kind)
        start = starts[index]
        undo = _op_run(by_step.get(index, []), known.undo_f) if known and start else None
        why = None
        if start is None or undo is None:
            why = _why_missing(index, step, schedule, zero, last, undo=start is not None)
        planned = None if zero is None else zero + step.at
        runs.append(StepRun(index, step, planned, start, undo, why))
    return ScheduleRun(tuple(runs), True, zero)
