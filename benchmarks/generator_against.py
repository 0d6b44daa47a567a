"""The workload generator's rate against an earlier commit's, measured in the same minutes.

Usage: ``.venv/bin/python benchmarks/generator_against.py [--commit REV] [--rounds 3]``

These machines' speed changes by a third from one minute to the next, so a figure measured on
another day says little about a change. This script checks ``--commit`` out into a temporary git
worktree, then runs that tree's ``benchmarks/harness_scale.py --part generator --quick`` and this
tree's in turn, ``--rounds`` times, each in its own process with its own stub. It prints each
pair's recorded operations/s and their ratio, then per client count the median ratio.

The default commit, 23e916b, is the last one before issue 10's work: the code its "about 14,000
recorded operations/s" was measured on. Issue 10 asks for 20,000, a ratio of 1.43 to that.
The older tree plans smaller messages (no ``payload_sizes`` then), so the ratio understates what
changed. Not a timed test; the worktree is removed at the end, also after Ctrl-C or a failure.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
ISSUE_BASELINE = "23e916b"
TARGET_RATIO = 20_000 / 14_000
SUMMARY = re.compile(r"generator: (\d+) clients issue (\d+) sends/s \((\d+) recorded ops/s\)")


def parse_summary(text: str) -> dict[int, int]:
    """Recorded operations/s per client count, from harness_scale's summary lines."""
    return {int(m.group(1)): int(m.group(3)) for m in SUMMARY.finditer(text)}


@contextlib.contextmanager
def worktree(commit: str) -> Iterator[Path]:
    """A detached worktree of ``commit`` in a temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="splitbrain-against-") as tmp:
        tree = Path(tmp) / "tree"
        done = subprocess.run(
            ["git", "-C", str(HERE), "worktree", "add", "--detach", str(tree), commit],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise SystemExit(
                f"generator_against: cannot check out {commit!r}: {done.stderr.strip()}; "
                "give --commit a revision of this repository (a full clone, not a shallow one)"
            )
        try:
            yield tree
        finally:
            subprocess.run(
                ["git", "-C", str(HERE), "worktree", "remove", "--force", str(tree)],
                capture_output=True,
            )


def measure(tree: Path) -> dict[int, int]:
    """One ``--part generator --quick`` run of ``tree``'s benchmark, on ``tree``'s code."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    script = tree / "benchmarks" / "harness_scale.py"
    done = subprocess.run(
        [sys.executable, str(script), "--part", "generator", "--quick"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    figures = parse_summary(done.stdout)
    if done.returncode != 0 or not figures:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise SystemExit(f"generator_against: {script} failed: {' / '.join(tail)}")
    return figures


def ratios(pairs: list[tuple[dict[int, int], dict[int, int]]]) -> dict[int, list[float]]:
    """Per client count, this tree's rate over the other's, one ratio per round."""
    out: dict[int, list[float]] = {}
    for theirs, ours in pairs:
        for clients in sorted(set(theirs) & set(ours)):
            out.setdefault(clients, []).append(ours[clients] / theirs[clients])
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--commit", default=ISSUE_BASELINE, help="the revision to measure against")
    p.add_argument("--rounds", type=int, default=3, help="pairs of runs, alternating")
    args = p.parse_args(argv)
    pairs = []
    with worktree(args.commit) as tree:
        for n in range(1, args.rounds + 1):
            theirs = measure(tree)
            ours = measure(HERE)
            pairs.append((theirs, ours))
            for clients in sorted(set(theirs) & set(ours)):
                a, b = theirs[clients], ours[clients]
                print(
                    f"round {n}: {clients:4} clients  {args.commit}: {a:6} ops/s  "
                    f"this tree: {b:6} ops/s  ratio {b / a:.2f}",
                    flush=True,
                )
    print(f"\nrecorded operations/s, this tree over {args.commit} (median of {args.rounds} rounds)")
    for clients, values in ratios(pairs).items():
        median = statistics.median(values)
        line = (
            f"  {clients:4} clients: {median:.2f} (rounds {', '.join(f'{v:.2f}' for v in values)})"
        )
        if args.commit == ISSUE_BASELINE:
            verdict = "met" if median >= TARGET_RATIO else "NOT met"
            line += f"; issue 10's 20,000 over 14,000 is {TARGET_RATIO:.2f}: {verdict}"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
