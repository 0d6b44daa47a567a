"""``splitbrain shrink RUN_DIR``: the fewest faults of a failed run's schedule that still break it.

Re-runs the stored configuration with sub-lists of the faults that ran (the steps of its
schedule that the history shows started, as they ran: :mod:`nemesis.ran`), chosen by delta
debugging (:func:`harness.shrink.ddmin`); each run gets its own run directory under
``OUT/<name>-shrink/``.
Writes ``RUN_DIR/shrink.json`` (the minimal schedule and every attempt) and prints the minimal
faults and the command that replays them. Exits 0 when it found a smaller failing schedule or
the original is already minimal, 1 when the first re-run of the original did not fail again,
2 on bad input or a run that could not be made.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import sys
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from checkers import ANOMALIES
from harness.commands import Subparsers
from harness.commands.run import replay_values
from harness.config import ConfigError, RunConfig, from_mapping
from harness.results import Results, ResultsUnreadable
from harness.runstore import write_json
from harness.shrink import (
    ShrinkResult,
    ddmin,
    found_words,
    step_words,
    still_fails,
    target_kinds,
)
from harness.stored_run import RunUnreadable, locate
from nemesis.ran import compare as compare_schedule
from nemesis.schedule import FaultStep, Schedule

BAD_INPUT = 2
NOT_REPRODUCED = 1


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "shrink",
        help="shrink a failed run's fault schedule to the fewest faults that still break it",
        description=(
            "Re-run RUN_DIR's configuration with fewer and fewer of its faults (delta debugging) "
            "until removing any one fault makes the failure go away, or the run budget is spent. "
            "A re-run fails when it shows any of the original run's anomaly kinds (or of "
            "--anomaly). Exit 0 found (or already minimal), 1 the original did not fail again, "
            "2 bad input."
        ),
    )
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run directory with test.json")
    p.add_argument(
        "--max-runs",
        type=_positive,
        default=20,
        metavar="N",
        help="at most N attempts, the first re-run of the original included (default 20)",
    )
    p.add_argument(
        "--tries",
        type=_positive,
        default=1,
        metavar="K",
        help="run each attempt up to K times; it fails if any try fails (default 1)",
    )
    p.add_argument(
        "--anomaly",
        metavar="NAME,...",
        help=f"the anomaly kinds that count as the failure, from {','.join(ANOMALIES)} or any "
        "the original run found (default: those it found)",
    )
    p.add_argument(
        "--out",
        type=Path,
        help="root of the attempts' run directories, each under OUT/<name>-shrink/ "
        "(default: the stored run's out setting)",
    )
    return p


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, not {text!r}")
    return value


@dataclass(frozen=True)
class Original:
    """The run to shrink: its configuration, the schedule of the faults that ran, and the
    anomaly kinds to keep; ``planned`` is test.json's schedule when what ran differs from it."""

    run_dir: Path
    config: RunConfig
    schedule: Schedule
    kinds: tuple[str, ...]
    planned: Schedule | None = None


def parse_anomalies(text: str | None, found: Collection[str] = ()) -> tuple[str, ...]:
    """``--anomaly lost,seq-conflict`` as names; ConfigError on a name that is neither one the
    checkers know nor one ``found`` in the original run (a run-level finding, say)."""
    names = tuple(n.strip() for n in (text or "").split(",") if n.strip())
    known = list(dict.fromkeys([*ANOMALIES, *found]))
    bad = [n for n in names if n not in known]
    if bad:
        raise ConfigError(
            f"--anomaly: unknown anomaly {', '.join(bad)}; use any of {', '.join(known)}"
        )
    return names


def load_original(run_dir: Path, wanted: tuple[str, ...] = ()) -> Original:
    """Read RUN_DIR's configuration, schedule and findings; ConfigError says what is missing."""
    from harness.run import load_schedule

    values = replay_values(run_dir)
    test_json = Path(values["schedule_file"])
    config = from_mapping(values, str(test_json))
    try:
        schedule = load_schedule(test_json)
    except ValueError as exc:
        raise ConfigError(f"{test_json}: no usable fault schedule ({exc})") from None
    counts = _original_counts(run_dir)
    kinds = target_kinds(counts, parse_anomalies(",".join(wanted), counts))
    if not kinds:
        raise ConfigError(
            f"{run_dir}: the run found no anomaly, so there is no failure to shrink; give "
            "--anomaly NAME to shrink towards a failure its re-runs show"
        )
    ran = schedule_that_ran(run_dir, schedule)
    return Original(run_dir, config, ran, kinds, None if ran == schedule else schedule)


def schedule_that_ran(run_dir: Path, planned: Schedule) -> Schedule:
    """The steps of ``planned`` that the run's history shows started, as they ran; ``planned``
    itself when the history does not say (or cannot be read)."""
    try:
        ops = list(locate(run_dir).ops())
    except (RunUnreadable, OSError, ValueError):
        return planned
    return compare_schedule(planned, ops).ran_schedule(planned)


def _original_counts(run_dir: Path) -> dict[str, int]:
    try:
        results = Results.read(run_dir / "results.json") or locate(run_dir).check()
    except (RunUnreadable, ResultsUnreadable) as exc:
        raise ConfigError(
            f"{run_dir}: neither results.json nor a readable history.jsonl ({exc}); "
            "give the directory of a finished run"
        ) from None
    return dict(results.anomaly_counts)


@dataclass
class TryRecord:
    run_dir: str
    failed: bool
    anomaly_counts: dict[str, int]


@dataclass
class AttemptRecord:
    """One attempt of the shrink: a sub-schedule and the runs made of it."""

    number: int
    steps: int
    schedule_file: str
    tries: list[TryRecord] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(t.failed for t in self.tries)

    def failing_run(self) -> str | None:
        return next((t.run_dir for t in self.tries if t.failed), None)


@dataclass
class Shrinker:
    """The predicate ddmin calls: runs a sub-schedule (up to ``tries`` times) and says if it
    failed, printing one progress line per attempt and keeping a record of each."""

    original: Original
    out_root: Path
    max_runs: int
    tries: int
    stream: TextIO
    records: list[AttemptRecord] = field(default_factory=list)

    def __call__(self, steps: list[FaultStep]) -> bool:
        from harness.run import run_test

        number = len(self.records) + 1
        total = len(self.original.schedule.steps)
        schedule_dir = self.original.run_dir / "shrink"
        schedule_dir.mkdir(exist_ok=True)
        schedule_file = schedule_dir / f"attempt-{number:02d}.json"
        write_json(schedule_file, self.original.schedule.with_steps(steps).to_json())
        config = dataclasses.replace(
            self.original.config,
            name=f"{self.original.config.name}-shrink",
            out=self.out_root,
            schedule_file=schedule_file,
        )
        record = AttemptRecord(number, len(steps), str(schedule_file))
        self.records.append(record)
        print(
            f"attempt {number}/{self.max_runs}: {len(steps)} of {total} faults -> ",
            end="",
            file=self.stream,
            flush=True,
        )
        warnings: list[str] = []
        for _ in range(self.tries):
            log = io.StringIO()
            outcome = run_test(config, out=log)
            warnings += [ln for ln in log.getvalue().splitlines() if ln.startswith("warning")]
            results = Results.of(outcome.results)
            failed = still_fails(results, self.original.kinds)
            record.tries.append(TryRecord(str(outcome.run_dir), failed, results.found()))
            if failed:
                break
        print(attempt_verdict(record, self.original.kinds, self.tries), file=self.stream)
        for line in warnings:
            print(f"  {line}", file=self.stream)
        return record.failed


def attempt_verdict(record: AttemptRecord, kinds: tuple[str, ...], tries: int) -> str:
    """``"still fails: lost 2"`` or ``"passes"``, with the tries used when more than one."""
    last = record.tries[-1]
    if record.failed:
        text = f"still fails: {found_words(Results(True, last.anomaly_counts), kinds)}"
    else:
        text = "passes"
    if tries > 1:
        text += f" (try {len(record.tries)} of {tries})" if record.failed else f" ({tries} tries)"
    return text


def report_data(
    original: Original, result: ShrinkResult[FaultStep], records: list[AttemptRecord]
) -> dict[str, Any]:
    """The contents of shrink.json."""
    minimal_run = _minimal_run(result, records)
    return {
        "run_dir": str(original.run_dir),
        "anomalies": list(original.kinds),
        "reproduced": result.reproduced,
        "one_minimal": result.one_minimal,
        "original_steps": len(original.schedule.steps),
        "planned_steps": len((original.planned or original.schedule).steps),
        "minimal_indexes": list(result.indexes),
        "minimal_schedule": original.schedule.with_steps(result.minimal).to_json(),
        "minimal_run_dir": minimal_run,
        "replay_command": f"splitbrain run --replay {minimal_run}" if minimal_run else None,
        "attempts": [
            {
                "attempt": record.number,
                "indexes": list(attempt.indexes),
                "steps": record.steps,
                "failed": record.failed,
                "schedule_file": record.schedule_file,
                "runs": [dataclasses.asdict(t) for t in record.tries],
            }
            for attempt, record in zip(result.attempts, records, strict=True)
        ],
    }


def _minimal_run(result: ShrinkResult[FaultStep], records: list[AttemptRecord]) -> str | None:
    if not result.reproduced:
        return None
    for attempt, record in zip(reversed(result.attempts), reversed(records), strict=True):
        if attempt.failed and attempt.indexes == result.indexes:
            return record.failing_run()
    return None


def conclusion(original: Original, result: ShrinkResult[FaultStep], data: dict[str, Any]) -> str:
    """What the shrink found, in words, ending with the command that replays the minimal run."""
    total = len(original.schedule.steps)
    kinds = ", ".join(original.kinds)
    if not result.reproduced:
        return (
            f"the original schedule ({total} faults) did not show {kinds} again on its first "
            f"re-run: the failure depends on timing. Try `splitbrain shrink {original.run_dir} "
            "--tries 3`, or replay it a few times with `splitbrain run --replay "
            f"{original.run_dir}`."
        )
    found = len(result.minimal)
    if found == 0:
        lines = [f"the failure ({kinds}) shows with no fault at all: the nemesis is not needed."]
    else:
        if found < total:
            head = f"{found} of {total} faults still break the system ({kinds}):"
        elif result.one_minimal:
            head = f"the original {total} faults are already minimal ({kinds}):"
        else:
            head = f"no smaller failing schedule found ({kinds}):"
        lines = [head, *(f"  {i + 1}. {step_words(s)}" for i, s in enumerate(result.minimal))]
    if not result.one_minimal:
        lines.append(
            f"the budget of {len(result.attempts)} attempts ran out before every single fault "
            "was tried without; raise --max-runs to shrink further"
        )
    else:
        lines.append("removing any one of these faults made the failure go away")
    lines.append(f"written: {original.run_dir / 'shrink.json'}")
    if data["replay_command"]:
        lines.append(f"replay: {data['replay_command']}")
    return "\n".join(lines)


def shrink(original: Original, out_root: Path, max_runs: int, tries: int, stream: TextIO) -> int:
    """Run the shrink, write shrink.json, print the conclusion; returns the exit code."""
    steps = list(original.schedule.steps)
    if original.planned is not None:
        print(
            f"what ran differs from test.json's plan: shrinking the {len(steps)} faults that "
            f"ran, as they ran (of {len(original.planned.steps)} planned)",
            file=stream,
        )
    print(
        f"shrinking {len(steps)} faults of {original.run_dir}; a re-run fails when it shows any "
        f"of: {', '.join(original.kinds)}; at most {max_runs} attempts of up to {tries} run(s), "
        f"each {original.config.time_limit:g} s plus start-up, heal and drain",
        file=stream,
        flush=True,
    )
    shrinker = Shrinker(original, out_root, max_runs, tries, stream)
    result = ddmin(steps, shrinker, max_runs=max_runs)
    data = report_data(original, result, shrinker.records)
    write_json(original.run_dir / "shrink.json", data)
    print(conclusion(original, result, data), file=stream)
    return 0 if result.reproduced else NOT_REPRODUCED


def main(args: argparse.Namespace) -> int:
    try:
        wanted = tuple(n.strip() for n in (args.anomaly or "").split(",") if n.strip())
        original = load_original(args.run_dir, wanted)
    except ConfigError as exc:
        print(f"splitbrain shrink: {exc}", file=sys.stderr)
        return BAD_INPUT
    out_root = args.out if args.out is not None else original.config.out
    try:
        return shrink(original, out_root, args.max_runs, args.tries, sys.stdout)
    except KeyboardInterrupt:
        print("\nsplitbrain shrink: interrupted; every node and proxy was stopped", file=sys.stderr)
        return 130
    except (RuntimeError, ValueError, OSError) as exc:
        print(
            f"\nsplitbrain shrink: a run could not be made ({exc}); fix that and shrink again",
            file=sys.stderr,
        )
        return BAD_INPUT
