"""How fast ``check`` judges a history, against parsing the same file with the stdlib ``json``.

Usage: ``.venv/bin/python benchmarks/check_throughput.py [--sizes 10000,100000,1000000]
[--seed 1] [--repeat 2] [--keep DIR] [--disorder 0.01] [--edn] [--big 10000000]``

For each size it generates a valid, drained history (seeded: several hundred users in groups of
2 to 20, sequential clients, in-order delivery, a few timeouts, refusals and faults), then, each
in a fresh process, times (a) ``json.loads`` of every line and (b) reading and judging it as
``splitbrain check`` does (``read_history`` + ``judge``) with the peak resident memory of that
process. Each figure is the best of ``--repeat`` runs, json and check alternating, so both see
the same machine load. Every figure is printed as a ratio to a baseline measured in the same run.

- ``--disorder F`` also checks a copy of the largest history with that fraction of deliveries
  reordered (late), which sends most conversations down the checkers' full sweeps.
- ``--edn`` also exports the largest history as Jepsen EDN op maps and as the Jepsen queue shape
  and times reading each (``read_history``) against reading the JSON lines.
- ``--big N`` checks one history of N operations (10^7 is about 3 GB; check ``df -h`` first; it
  is written in the scratch folder and deleted) once, against one json parse, with peak memory.

Targets (issue 24): at 10^6 operations check <= 1.5x the json parse, also with 1% disorder; each
EDN shape read at >= 1/3 the speed of the JSON reader; 10^7 operations under 8 GiB peak; time per
operation at the largest size within 1.5x of the smallest (linear).
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson

RATIO_TARGET = 1.5
MEMORY_TARGET_MIB = 1.5 * 1024
BIG_MEMORY_TARGET_MIB = 8 * 1024
EDN_SPEED_TARGET = 1 / 3
LINEARITY_TARGET = 1.5


@dataclass
class _Conv:
    name: str
    members: list[str]
    seq: int = 0
    last_delivery: dict[str, int] = field(default_factory=dict)


def generate(path: Path, operations: int, seed: int, disorder: float = 0.0) -> int:
    """Write a drained history of about ``operations`` lines to ``path``; return the count.

    A discrete-event model of a correct system: a send is invoked, sequenced, acknowledged and
    delivered to each recipient after random delays, each recipient's deliveries of a
    conversation kept in sequence order; a user sends again only after the previous send ended.
    With ``disorder`` > 0 that fraction of deliveries ignores the order and comes late, which
    makes the history invalid and sends most conversations down the checkers' full sweeps.
    """
    rng = random.Random(seed)
    users = [f"u{i}" for i in range(1, 401)]
    convs = [_Conv(f"g{i}", rng.sample(users, rng.randint(2, 20))) for i in range(1, 201)]
    convs_of: dict[str, list[_Conv]] = {}
    for conv in convs:
        for user in conv.members:
            convs_of.setdefault(user, []).append(conv)
    senders = [user for user in users if user in convs_of]
    process = {user: number for number, user in enumerate(senders)}
    counter = dict.fromkeys(senders, 0)
    events: list[tuple[int, int, str, tuple]] = []
    tie = 0

    def at(when: int, kind: str, payload: tuple) -> None:
        nonlocal tie
        tie += 1
        heapq.heappush(events, (when, tie, kind, payload))

    for user in senders:
        at(rng.randint(0, 50_000_000), "start", (user,))
    for fault in range(1, 1 + operations // 50_000):
        at(fault * 400_000_000, "nemesis", ("partition" if fault % 2 else "heal",))
    written = 0
    budget = operations - 2
    draining = False
    with path.open("wb") as out:
        buffer: list[bytes] = []

        def emit(when: int, proc: int | str, type_: str, f: str, value: object, **extra) -> None:
            nonlocal written
            op = {"index": written, "time": when, "process": proc, "type": type_, "f": f}
            buffer.append(orjson.dumps({**op, "value": value, **extra}) + b"\n")
            written += 1
            if len(buffer) >= 10_000:
                out.write(b"".join(buffer))
                buffer.clear()

        while events:
            when, _, kind, payload = heapq.heappop(events)
            if kind == "start":
                user = payload[0]
                conv = rng.choice(convs_of[user])
                cost = 2 + len(conv.members) - 1
                if draining or written + len(events) + cost >= budget:
                    if not draining:
                        draining = True
                        emit(when, "harness", "invoke", "drain", None)
                    continue
                counter[user] += 1
                message = f"m{user[1:]}-{counter[user]}"
                to = [member for member in conv.members if member != user]
                digest = f"{rng.getrandbits(128):032x}{rng.getrandbits(128):032x}"
                value = {"id": message, "conv": conv.name, "from": user, "to": to}
                emit(when, process[user], "invoke", "send", {**value, "digest": digest}, node="n1")
                roll = rng.random()
                if roll < 0.01:
                    at(when + rng.randint(1, 5_000_000), "fail", (user, message, conv))
                else:
                    sequenced = when + rng.randint(100_000, 3_000_000)
                    at(sequenced, "sequence", (user, message, conv, to, digest, roll < 0.02))
            elif kind == "sequence":
                user, message, conv, to, digest, times_out = payload
                conv.seq += 1
                for member in to:
                    arrive = when + rng.randint(100_000, 20_000_000)
                    if disorder and rng.random() < disorder:
                        arrive += 100_000_000
                    else:
                        arrive = max(arrive, conv.last_delivery.get(member, 0) + 1)
                        conv.last_delivery[member] = arrive
                    at(arrive, "deliver", (member, message, conv.name, user, conv.seq, digest))
                end = when + rng.randint(100_000, 2_000_000)
                at(end, "info" if times_out else "ok", (user, message, conv, conv.seq))
            elif kind in ("ok", "info", "fail"):
                user, message, conv = payload[:3]
                value: dict[str, object] = {"id": message, "conv": conv.name}
                if kind == "ok":
                    emit(when, process[user], "ok", "send", {**value, "seq": payload[3]}, node="n1")
                else:
                    emit(when, process[user], kind, "send", value, node="n1", error="timeout")
                if kind == "info":
                    process[user] = max(process.values()) + 1
                at(when + rng.randint(1_000_000, 200_000_000), "start", (user,))
            elif kind == "deliver":
                member, message, conv_name, sender, seq, digest = payload
                value = {"id": message, "conv": conv_name, "from": sender, "user": member}
                emit(
                    when,
                    process.get(member, 0),
                    "ok",
                    "deliver",
                    {**value, "seq": seq, "digest": digest},
                )
            elif kind == "nemesis" and not draining:
                emit(when, "nemesis", "invoke", payload[0], {"nodes": ["n2"]})
                emit(when, "nemesis", "ok", payload[0], {"nodes": ["n2"]})
        emit(when, "harness", "ok", "drain", None)
        out.write(b"".join(buffer))
    return written


def cpu_seconds() -> float:
    """This process's CPU time (user + system): other processes on a shared machine slow the
    wall clock of a run, not this."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure_json(path: Path) -> dict[str, float]:
    """Seconds to parse every line of ``path`` with the stdlib ``json`` module."""
    start, cpu = time.perf_counter(), cpu_seconds()
    with path.open("rb") as lines:
        for line in lines:
            json.loads(line)
    return {"seconds": time.perf_counter() - start, "cpu": cpu_seconds() - cpu}


def measure_check(path: Path) -> dict[str, float]:
    """Seconds to read and judge ``path``, the verdict, and this process's peak memory (MiB)."""
    from checkers import judge, read_history

    start, cpu = time.perf_counter(), cpu_seconds()
    results = judge(read_history(path))
    seconds, used = time.perf_counter() - start, cpu_seconds() - cpu
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "seconds": seconds,
        "cpu": used,
        "peak_mib": peak_kib / 1024,
        "valid": results["valid"] is True,
    }


def measure_read(path: Path) -> dict[str, float]:
    """Seconds to read and validate ``path`` (JSON lines or either EDN shape), no checking."""
    from checkers import read_history

    start, cpu = time.perf_counter(), cpu_seconds()
    history = read_history(path)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "cpu": cpu_seconds() - cpu, "operations": history.operations}


def export(path: Path, fmt: str, out: Path) -> None:
    """``splitbrain export`` of ``path`` to ``out`` (in a child, as a user would run it)."""
    command = [sys.executable, "-m", "harness.cli", "export", str(path), "--format", fmt]
    subprocess.run([*command, "--out", str(out)], check=True, capture_output=True)


MEASURES = {"json": measure_json, "check": measure_check, "read": measure_read}


def best(what: str, path: Path, repeat: int) -> dict[str, float]:
    runs = [_in_child(what, path) for _ in range(repeat)]
    return min(runs, key=lambda run: run["seconds"])


def _in_child(what: str, path: Path) -> dict[str, float]:
    command = [sys.executable, __file__, "--measure", what, str(path)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout)


def run(sizes: list[int], seed: int, repeat: int, folder: Path, disorder: float) -> list[dict]:
    rows = []
    folder.mkdir(parents=True, exist_ok=True)
    for size in sizes:
        path = folder / f"history-{size}.jsonl"
        operations = generate(path, size, seed, disorder)
        parses, checks = [], []
        for _ in range(repeat):
            parses.append(_in_child("json", path))
            checks.append(_in_child("check", path))
        best = min(checks, key=lambda c: c["seconds"])
        parse = min(p["seconds"] for p in parses)
        cpu = min(c["cpu"] for c in checks) / min(p["cpu"] for p in parses)
        rows.append(
            {
                "operations": operations,
                "check_s": best["seconds"],
                "json_s": parse,
                "ratio": best["seconds"] / parse,
                "cpu_ratio": cpu,
                "ops_per_s": operations / best["seconds"],
                "us_per_op": best["seconds"] / operations * 1e6,
                "peak_mib": max(c["peak_mib"] for c in checks),
                "valid": all(c["valid"] for c in checks) == (disorder == 0),
                "mib": path.stat().st_size / 2**20,
            }
        )
        print(_row(rows[-1]), flush=True)
    return rows


def _row(row: dict[str, float]) -> str:
    return (
        f"{row['operations']:>9}  {row['mib']:>7.1f}  {row['check_s']:>8.2f}  {row['json_s']:>7.2f}"
        f"  {row['ratio']:>5.2f}x  {row['cpu_ratio']:>5.2f}x  {row['ops_per_s']:>9.0f}"
        f"  {row['us_per_op']:>6.2f}  {row['peak_mib']:>8.0f}"
        f"  {'as generated' if row['valid'] else 'WRONG VERDICT'}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--keep", type=Path, help="keep the generated histories in this folder")
    parser.add_argument(
        "--disorder",
        type=float,
        default=0.0,
        help="fraction of deliveries made late and out of order (0: valid histories)",
    )
    parser.add_argument("--edn", action="store_true", help="also time reading both EDN shapes")
    parser.add_argument("--big", type=int, default=0, help="also check one history this large")
    parser.add_argument("--measure", nargs=2, metavar=("WHAT", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        what, file = args.measure
        print(json.dumps(MEASURES[what](Path(file))))
        return 0
    sizes = [int(size) for size in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as scratch:
        return _all(args, sizes, args.keep or Path(scratch))


def _all(args: argparse.Namespace, sizes: list[int], folder: Path) -> int:
    print(
        "      ops      MiB   check s   json s  ratio    cpu      ops/s   us/op  peak MiB  verdict"
    )
    print("-" * 96)
    rows = run(sizes, args.seed, args.repeat, folder, 0.0)
    largest, smallest = rows[-1], rows[0]
    linearity = largest["us_per_op"] / smallest["us_per_op"]
    print(
        f"\nat {largest['operations']} ops: check/json {largest['ratio']:.2f}x wall clock, "
        f"{largest['cpu_ratio']:.2f}x CPU time (target <= {RATIO_TARGET}x), "
        f"peak {largest['peak_mib']:.0f} MiB "
        f"(target < {MEMORY_TARGET_MIB:.0f} MiB); time per op {linearity:.2f}x that at "
        f"{smallest['operations']} ops (target <= {LINEARITY_TARGET}x)"
    )
    met = (
        min(largest["ratio"], largest["cpu_ratio"]) <= RATIO_TARGET
        and largest["peak_mib"] < MEMORY_TARGET_MIB
        and linearity <= LINEARITY_TARGET
        and all(row["valid"] for row in rows)
    )
    if args.disorder:
        print(f"\nwith {args.disorder:.0%} of deliveries reordered:")
        (row,) = run([sizes[-1]], args.seed, args.repeat, folder / "disorder", args.disorder)
        print(
            f"check/json {row['ratio']:.2f}x wall clock, {row['cpu_ratio']:.2f}x CPU time "
            f"(target <= {RATIO_TARGET}x)"
        )
        met = met and min(row["ratio"], row["cpu_ratio"]) <= RATIO_TARGET and row["valid"]
    if args.edn:
        met = edn_speeds(folder / f"history-{sizes[-1]}.jsonl", folder, args.repeat) and met
    if args.big:
        met = big(args.big, args.seed, folder) and met
    print("targets met" if met else "TARGETS NOT MET")
    return 0


def edn_speeds(source: Path, folder: Path, repeat: int) -> bool:
    """Reading each EDN shape of ``source`` against reading its JSON lines, as speed ratios."""
    if not source.exists():
        generate(source, 1_000_000, 1)
    reader = best("read", source, repeat)
    json_speed = reader["operations"] / reader["seconds"]
    print(f"\nJSON reader: {json_speed:,.0f} ops/s ({reader['seconds']:.2f} s)")
    met = True
    for fmt in ("jepsen-edn", "jepsen-queue"):
        out = folder / f"{source.stem}.{fmt}.edn"
        export(source, fmt, out)
        got = best("read", out, repeat)
        speed = got["operations"] / got["seconds"]
        share = speed / json_speed
        print(
            f"{fmt:>12}: {speed:,.0f} ops/s ({got['seconds']:.2f} s for {got['operations']:.0f} "
            f"ops), {share:.2f} of the JSON reader's speed (target >= {EDN_SPEED_TARGET:.2f})"
        )
        met = met and share >= EDN_SPEED_TARGET
        out.unlink()
    return met


def big(operations: int, seed: int, folder: Path) -> bool:
    """One check of a history of ``operations`` operations, against one json parse of it."""
    path = folder / f"history-{operations}.jsonl"
    print(f"\ngenerating {operations} operations ...", flush=True)
    written = generate(path, operations, seed)
    size = path.stat().st_size
    try:
        parse = _in_child("json", path)
        check = _in_child("check", path)
    finally:
        path.unlink()
    ratio = check["seconds"] / parse["seconds"]
    print(
        f"{written} ops, {size / 2**30:.2f} GiB: check {check['seconds']:.1f} s, json "
        f"{parse['seconds']:.1f} s, check/json {ratio:.2f}x wall clock, "
        f"{check['cpu'] / parse['cpu']:.2f}x CPU time; peak {check['peak_mib']:,.0f} MiB "
        f"(target < {BIG_MEMORY_TARGET_MIB:,.0f} MiB); verdict "
        f"{'as generated' if check['valid'] else 'WRONG'}"
    )
    return check["peak_mib"] < BIG_MEMORY_TARGET_MIB and bool(check["valid"])


if __name__ == "__main__":
    sys.exit(main())
