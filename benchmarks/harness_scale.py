"""How far the harness itself scales: recorder cost, generator rate, largest sustained client count.

Usage: ``.venv/bin/python benchmarks/harness_scale.py [--part recorder|generator|scale|all]
[--quick] [--sizes 100,300,1000]``

1. ``recorder``: :meth:`Recorder.record` of realistic send/deliver operations (``--ops``, 200k)
   in µs per operation, against baselines measured in the same run: a ready op dict serialized
   with orjson (or stdlib json) and written to a buffered file without flush, and orjson written
   unbuffered (one ``write`` syscall per line, as the recorder does). Then 2 and 4 threads
   recording into one recorder at once (its lock). Each figure is the best of ``--repeat`` rounds,
   the kinds alternating so all see the same machine load.
2. ``generator``: real :class:`ClientDriver`/:class:`ChatClient` instances carrying out a real
   workload plan (far above what they can issue, so each client sends back to back) against a stub
   server in a separate process that answers at once, recording into a real :class:`Recorder`;
   sends/s with their completions recorded, and recorded operations/s (invoke and ok of each send)
   against the target of 20,000. Baseline: the same number of raw websockets clients doing the
   same-sized send/sent round trips against the same stub. The ratio is what the generator, the
   client library (e2e sealing included) and the recorder cost over the transport; it holds up
   better than the absolute rate when other work shares the machine.
3. ``scale``: real ``run_test`` runs (local backend: real cluster, real Toxiproxy), no nemesis, a
   short time limit and a modest total rate, so the load is connections, not messages. A size is
   sustained when the run completes in time, the drain completes, the verdict is valid,
   availability >= 0.99 and send latency p99 < 1 s. Each size runs in a child process (its own
   peak RSS, and a hard timeout that kills it and the cluster it started).

Prints a table per part and a summary. Run directories live in a temporary folder, removed at the
end. Not a timed test: the figures are ratios against baselines of the same run where possible.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
import uvloop
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import ServerConnection, serve

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.config import RunConfig
from harness.driver import ClientDriver, DriverSettings, ProcessIds
from harness.recorder import Recorder
from harness.workload import WorkloadPlan, plan_workload
from system_under_test import crypto, keys
from systems import registry
from systems.seam import Accounts

AVAILABILITY_BAR = 0.99
GENERATOR_TARGET = 20_000  # recorded operations/s against the instant stub (issue 10)
P99_BAR_MS = 1000.0
Op = tuple[int, str, str, dict[str, Any], dict[str, Any]]


# --- 1. recorder --------------------------------------------------------------------------------


@dataclass
class RecorderFigure:
    """One way of writing the same operations: best µs per operation, and against the baseline."""

    name: str
    us_per_op: float
    ratio: float = 0.0


def sample_ops(count: int, seed: int = 1) -> list[Op]:
    """Operations shaped like the driver's: send invoke, send ok, and a delivery, in turn."""
    rng = random.Random(seed)
    ops: list[Op] = []
    for i in range(count // 3 + 1):
        user, other = f"u{rng.randint(1, 300)}", f"u{rng.randint(1, 300)}"
        msg_id, conv, dig = (
            f"m{user[1:]}-{i}",
            f"g{rng.randint(1, 40)}",
            f"{rng.getrandbits(256):064x}",
        )
        to = sorted({other, f"u{rng.randint(1, 300)}", f"u{rng.randint(1, 300)}"})
        invoke = {"id": msg_id, "conv": conv, "from": user, "to": to, "digest": dig}
        ops.append((i, "invoke", "send", invoke, {"node": "n1"}))
        ops.append((i, "ok", "send", {"id": msg_id, "conv": conv, "seq": i}, {"node": "n1"}))
        deliver = {"id": msg_id, "conv": conv, "from": user, "user": other, "seq": i, "digest": dig}
        ops.append((i + 1, "ok", "deliver", deliver, {"node": "n2"}))
    return ops[:count]


def full_dicts(ops: list[Op]) -> list[dict[str, Any]]:
    """The ops as the recorder writes them (index and time included), for the baselines."""
    return [
        {"index": i, "time": 1_000 * i, "process": p, "type": t, "f": f, "value": v, **x}
        for i, (p, t, f, v, x) in enumerate(ops)
    ]


def time_recorder(ops: list[Op], path: Path, threads: int = 1) -> float:
    """Seconds for ``threads`` threads to record ``ops`` (split evenly) into one recorder."""
    path.unlink(missing_ok=True)
    chunks = [ops[k::threads] for k in range(threads)]
    barrier = threading.Barrier(threads + 1)

    def work(chunk: list[Op], rec: Recorder) -> None:
        barrier.wait()
        record = rec.record
        for process, kind, f, value, extra in chunk:
            record(process, kind, f, value, **extra)

    with Recorder(path) as rec:
        workers = [threading.Thread(target=work, args=(c, rec)) for c in chunks]
        for w in workers:
            w.start()
        barrier.wait()
        began = time.perf_counter()
        for w in workers:
            w.join()
        return time.perf_counter() - began


def time_baseline(dicts: list[dict[str, Any]], path: Path, how: str) -> float:
    """Seconds to serialize ready dicts and write them: ``orjson``/``json`` buffered, or
    ``orjson-unbuffered`` (one write syscall per line, no lock, no dict building)."""
    path.unlink(missing_ok=True)
    buffering = 0 if how == "orjson-unbuffered" else -1
    with open(path, "ab", buffering=buffering) as fh:
        write = fh.write
        began = time.perf_counter()
        if how == "json":
            dumps = json.dumps
            for op in dicts:
                write(dumps(op, separators=(",", ":")).encode() + b"\n")
        else:
            odumps = orjson.dumps
            for op in dicts:
                write(odumps(op) + b"\n")
        return time.perf_counter() - began


def bench_recorder(count: int, repeat: int, folder: Path) -> list[RecorderFigure]:
    """The recorder part: best of ``repeat`` alternating rounds; ratios against orjson buffered."""
    ops = sample_ops(count)
    dicts = full_dicts(ops)
    path = folder / "recorder.jsonl"
    kinds: dict[str, Callable[[], float]] = {
        "baseline: orjson + buffered write": lambda: time_baseline(dicts, path, "orjson"),
        "stdlib json + buffered write": lambda: time_baseline(dicts, path, "json"),
        "orjson + unbuffered write": lambda: time_baseline(dicts, path, "orjson-unbuffered"),
        "Recorder.record, 1 thread": lambda: time_recorder(ops, path, 1),
        "Recorder.record, 2 threads": lambda: time_recorder(ops, path, 2),
        "Recorder.record, 4 threads": lambda: time_recorder(ops, path, 4),
    }
    best = dict.fromkeys(kinds, float("inf"))
    for _ in range(repeat):
        for name, measure in kinds.items():
            best[name] = min(best[name], measure())
    path.unlink(missing_ok=True)
    base = best["baseline: orjson + buffered write"]
    return [RecorderFigure(n, 1e6 * s / count, s / base) for n, s in best.items()]


def print_recorder(figures: list[RecorderFigure], count: int) -> None:
    print(f"\n[1] recorder: {count} ops (send invoke / send ok / deliver), best of rounds")
    print(f"  {'writer':38} {'µs/op':>8} {'x baseline':>11}")
    for fig in figures:
        print(f"  {fig.name:38} {fig.us_per_op:8.2f} {fig.ratio:11.2f}")


# --- 2. generator against a stub ----------------------------------------------------------------


async def stub_session(ws: ServerConnection) -> None:
    """Just enough of the node's client protocol (gateway.py) for ChatClient to accept it."""
    nonce = os.urandom(32).hex()
    challenge = {"t": "challenge", "node": "s1", "nonce": nonce, "mode": "cp", "e2e": True}
    await ws.send(orjson.dumps(challenge).decode())
    auth = orjson.loads(await ws.recv())
    await ws.send(orjson.dumps({"t": "welcome", "node": "s1", "user": auth.get("user")}).decode())
    await ws.send('{"t":"synced","req":null}')
    seq = itertools.count(1)
    async for data in ws:
        frame = orjson.loads(data)
        kind = frame.get("t")
        if kind == "send":
            reply = {"t": "sent", "req": frame["req"], "seq": next(seq)}
        elif kind == "sync":
            reply = {"t": "synced", "req": frame["req"]}
        elif kind == "ack":
            reply = {"t": "acked", "ids": frame.get("ids", [])}
        else:
            reply = {"t": "error", "req": frame.get("req"), "code": "unknown-type", "message": ""}
        await ws.send(orjson.dumps(reply).decode())


async def serve_stub() -> None:
    """A measurement rig, not a part of the product: a WebSocket server on 127.0.0.1 that answers
    the client protocol at once (challenge -> welcome -> synced; send -> sent with an incrementing
    seq; sync -> synced; ack -> acked). It checks no signature and stores nothing. Prints its port
    on stdout, then serves until killed."""
    async with serve(stub_session, "127.0.0.1", 0, compression=None, max_size=2**24) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(port, flush=True)
        await asyncio.Future()


@contextlib.contextmanager
def stub_process() -> Iterator[str]:
    """Run the stub in a child process (the second core); yield its ws:// URL; stop it after."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve-stub"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"ws://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class GeneratorFigure:
    """Harness sends/s (invoke + ok recorded) and raw round trips/s: same clients, same stub."""

    clients: int
    planned_rate: float
    sends: int
    recorded_ops: int
    sends_per_s: float
    recorded_per_s: float
    raw_round_trips_per_s: float = 0.0

    @property
    def overhead(self) -> float:
        return self.raw_round_trips_per_s / self.sends_per_s if self.sends_per_s else float("inf")


def generator_plan(clients: int, rate: float, seconds: float) -> WorkloadPlan:
    """A real plan: most users in a direct chat or a group, no offline windows, no nemesis."""
    config = RunConfig(
        clients=clients,
        rate=rate,
        time_limit=seconds,
        nemesis=(),
        offline_fraction=0.0,
        direct_chats=max(1, clients // 2),
        groups=max(1, clients // 8),
    )
    return plan_workload(config)


async def drive_stub(
    url: str, clients: int, rate: float, seconds: float, folder: Path
) -> GeneratorFigure:
    """Connect one driver per user to the stub, then let them carry out the plan for ``seconds``."""
    plan = generator_plan(clients, rate, seconds)
    system = registry.create("reference", {})
    system.provision(Accounts(plan.users, plan.conversations), folder, ["s1"], seed=1)
    sends = plan.sends_by_user()
    process_ids = ProcessIds()
    settings = DriverSettings()
    with Recorder(folder / "generator.jsonl") as recorder:
        drivers = [
            ClientDriver(
                user=user,
                system=system,
                conversations=plan.conversations,
                endpoints={"s1": url.removeprefix("ws://")},
                record=recorder.record,
                process_ids=process_ids,
                settings=settings,
                rng=random.Random(user),
            )
            for user in plan.users
        ]
        if not all(await asyncio.gather(*(d.connect() for d in drivers))):
            raise RuntimeError("not every driver could connect to the stub")
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.gather(*(d.run(sends[d.user], [], start, start + seconds) for d in drivers))
        elapsed = loop.time() - start
        await asyncio.gather(*(d.disconnect() for d in drivers))
        ok = sum(d.counts.ok for d in drivers)
        bad = sum(d.counts.fail + d.counts.info for d in drivers)
        if bad:
            raise RuntimeError(f"{bad} sends failed against a stub that always answers")
        return GeneratorFigure(
            clients, rate, ok, recorder.count, ok / elapsed, recorder.count / elapsed
        )


def send_frame_like_drivers() -> str:
    """A send frame of the size the drivers send (one sealed body of a planned-size message)."""
    prov = keys.provision(["u1", "u2"], {"d1": ["u1", "u2"]}, 1)
    box = keys.box_private_key(prov.secrets["u1"])
    body = f"m1-1 {random.getrandbits(64):016x}".encode()
    sealed = crypto.seal(crypto.shared_box(box, prov.directory.box_key("u2")), body, True)
    frame = {"t": "send", "req": 1, "id": "m1-1", "conv": "d1", "bodies": {"u2": sealed}}
    return json.dumps(frame)


async def raw_handshake(url: str) -> ClientConnection:
    """Open a raw connection and get through challenge/auth/welcome/synced (no signature)."""
    ws = await connect(url + "/client", compression=None, max_size=2**24)
    await ws.recv()
    await ws.send(json.dumps({"t": "auth", "user": "u1", "sig": "00", "have": []}))
    await ws.recv()
    await ws.recv()
    return ws


async def raw_round_trips(url: str, clients: int, seconds: float) -> float:
    """Round trips/s of ``clients`` raw websockets clients, each send -> sent in a closed loop."""
    frame = send_frame_like_drivers()
    conns = await asyncio.gather(*(raw_handshake(url) for _ in range(clients)))
    done = 0
    stop_at = time.perf_counter() + seconds

    async def loop(ws: ClientConnection) -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            await ws.send(frame)
            json.loads(await ws.recv())
            done += 1

    began = time.perf_counter()
    await asyncio.gather(*(loop(ws) for ws in conns))
    elapsed = time.perf_counter() - began
    await asyncio.gather(*(ws.close() for ws in conns))
    return done / elapsed


def bench_generator(
    sizes: list[int], rate: float, seconds: float, folder: Path
) -> list[GeneratorFigure]:
    """The generator part: per client count, the harness then the raw baseline, same stub."""
    figures = []
    with stub_process() as url:
        for clients in sizes:
            fig = uvloop.run(drive_stub(url, clients, rate, seconds, folder))
            fig.raw_round_trips_per_s = uvloop.run(raw_round_trips(url, clients, seconds))
            figures.append(fig)
    return figures


def print_generator(figures: list[GeneratorFigure], seconds: float) -> None:
    print(f"\n[2] generator vs stub that answers at once ({seconds:g} s each, e2e on)")
    print(
        f"  {'clients':>7} {'planned/s':>9} {'sends ok':>8} {'ops rec':>8} "
        f"{'sends/s':>8} {'ops/s':>8} {'raw rt/s':>8} {'raw/harness':>11}"
    )
    for g in figures:
        print(
            f"  {g.clients:7} {g.planned_rate:9.0f} {g.sends:8} {g.recorded_ops:8} "
            f"{g.sends_per_s:8.0f} {g.recorded_per_s:8.0f} {g.raw_round_trips_per_s:8.0f} "
            f"{g.overhead:11.2f}"
        )


# --- 3. largest sustained client count ----------------------------------------------------------


@dataclass
class ScaleFigure:
    """One real run at ``clients``; ``reasons``: every criterion it missed (none: sustained)."""

    clients: int
    wall_s: float = 0.0
    ok: int = 0
    fail: int = 0
    info: int = 0
    availability: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    valid: Any = None
    drain_ok: bool = False
    peak_rss_mib: float = 0.0
    reasons: list[str] = field(default_factory=list)

    @property
    def sustained(self) -> bool:
        return not self.reasons


def raise_nofile() -> tuple[int, int]:
    """Raise this process's open-file limit to its hard limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def scale_config(clients: int, time_limit: float, rate: float, out: Path) -> RunConfig:
    """No nemesis, no offline windows; enough chats that most users send and receive."""
    return RunConfig(
        name=f"scale-{clients}",
        clients=clients,
        rate=rate,
        time_limit=time_limit,
        nemesis=(),
        offline_fraction=0.0,
        direct_chats=clients // 2,
        groups=max(1, clients // 8),
        drain_timeout=60.0,
        out=out,
    )


def drain_completed(history: Path) -> bool:
    """Whether the harness's last drain line in ``history`` is ``ok``."""
    last = None
    with open(history, "rb") as fh:
        for line in fh:
            if b'"drain"' in line:
                op = orjson.loads(line)
                if op.get("f") == "drain" and op.get("type") != "invoke":
                    last = op.get("type")
    return last == "ok"


def judge(fig: ScaleFigure) -> list[str]:
    """Which criteria of "sustained" the run missed, in words."""
    reasons = []
    if not fig.drain_ok:
        reasons.append("drain did not complete")
    if fig.valid is not True:
        reasons.append(f"verdict {fig.valid}")
    if fig.availability is None or fig.availability < AVAILABILITY_BAR:
        reasons.append(f"availability {fig.availability} < {AVAILABILITY_BAR}")
    if fig.p99_ms is None or fig.p99_ms >= P99_BAR_MS:
        reasons.append(f"p99 {fig.p99_ms} ms >= {P99_BAR_MS:g} ms")
    return reasons


def peak_rss_mib() -> float:
    """This process's peak resident memory since its exec (VmHWM). Not ``ru_maxrss``: on Linux
    that keeps the parent's peak across fork and exec, so every child would report the parent's."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def scale_one(clients: int, time_limit: float, rate: float, out: Path, log: Path) -> ScaleFigure:
    """In the child: one real run, judged; peak RSS is this process's."""
    from harness.run import run_test

    raise_nofile()
    fig = ScaleFigure(clients)
    began = time.monotonic()
    with open(log, "w") as fh:
        outcome = run_test(scale_config(clients, time_limit, rate, out), out=fh)
    fig.wall_s = time.monotonic() - began
    figures = outcome.results.get("run", {})
    sends = figures.get("sends", {})
    fig.ok, fig.fail, fig.info = sends.get("ok", 0), sends.get("fail", 0), sends.get("info", 0)
    fig.availability = figures.get("availability")
    latency = figures.get("latency_ms") or {}
    fig.p50_ms, fig.p99_ms = latency.get("p50"), latency.get("p99")
    fig.valid = outcome.results.get("valid")
    fig.drain_ok = drain_completed(outcome.run_dir / "history.jsonl")
    fig.peak_rss_mib = peak_rss_mib()
    fig.reasons = judge(fig)
    return fig


def last_line(path: Path) -> str:
    """The last non-empty line of ``path`` ("" when there is none): why a child failed."""
    with contextlib.suppress(OSError):
        lines = path.read_text(errors="replace").strip().splitlines()
        return lines[-1] if lines else ""
    return ""


def run_size(
    clients: int, time_limit: float, rate: float, folder: Path, timeout: float
) -> ScaleFigure:
    """Run one size in a child process in its own session; kill that session after ``timeout``."""
    result, errors = folder / f"scale-{clients}.json", folder / f"scale-{clients}.err"
    argv = [sys.executable, __file__, "--scale-one", str(clients), "--time-limit", str(time_limit)]
    argv += ["--rate", str(rate), "--out", str(folder / "runs"), "--result", str(result)]
    began = time.monotonic()
    with open(errors, "wb") as err:
        proc = subprocess.Popen(argv, start_new_session=True, stdout=subprocess.DEVNULL, stderr=err)
    try:
        code = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return ScaleFigure(
            clients, time.monotonic() - began, reasons=[f"no result in {timeout:.0f} s"]
        )
    if code != 0 or not result.exists():
        why = f"run exited {code}: {last_line(errors) or last_line(result.with_suffix('.log'))}"
        return ScaleFigure(clients, time.monotonic() - began, reasons=[why[:160]])
    data = json.loads(result.read_text())
    return ScaleFigure(**data)


def bench_scale(
    sizes: list[int], time_limit: float, rate: float, folder: Path
) -> list[ScaleFigure]:
    """The scale part: each size in turn; a failed size is reported and the next one still runs."""
    figures = []
    for clients in sizes:
        print(f"  running {clients} clients ({time_limit:g} s, {rate:g} sends/s) ...", flush=True)
        fig = run_size(clients, time_limit, rate, folder, timeout=time_limit + 240)
        figures.append(fig)
        verdict = "sustained" if fig.sustained else "NOT sustained: " + "; ".join(fig.reasons)
        print(f"    {clients}: {verdict} ({fig.wall_s:.0f} s)", flush=True)
    return figures


def fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def print_scale(figures: list[ScaleFigure], time_limit: float, rate: float) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    print(
        f"\n[3] real runs, local backend, no nemesis, {time_limit:g} s, {rate:g} sends/s total; "
        f"RLIMIT_NOFILE {soft}/{hard} (nodes and Toxiproxy inherit it)"
    )
    print(
        f"  {'clients':>7} {'wall s':>6} {'ok':>5} {'fail':>4} {'info':>4} {'avail':>6} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'valid':>5} {'drain':>5} {'HWM MiB':>7}  result"
    )
    for f in figures:
        avail = fmt(None if f.availability is None else 100 * f.availability, ".1f")
        print(
            f"  {f.clients:7} {f.wall_s:6.0f} {f.ok:5} {f.fail:4} {f.info:4} {avail:>6} "
            f"{fmt(f.p50_ms, '.1f'):>7} {fmt(f.p99_ms, '.1f'):>7} {f.valid!s:>5} "
            f"{f.drain_ok!s:>5} {f.peak_rss_mib:7.0f}  "
            + ("ok" if f.sustained else "; ".join(f.reasons))
        )


# --- main ---------------------------------------------------------------------------------------


@dataclass
class Settings:
    """What to measure and how much, from the command line (``--quick`` shrinks everything)."""

    parts: list[str]
    ops: int
    repeat: int
    generator_clients: list[int]
    generator_rate: float
    generator_seconds: float
    sizes: list[int]
    time_limit: float
    rate: float


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--part", choices=("recorder", "generator", "scale", "all"), default="all")
    p.add_argument("--quick", action="store_true", help="smaller figures, under about 2 minutes")
    p.add_argument("--sizes", help="client counts for the scale part (default 100,300,1000)")
    p.add_argument("--ops", type=int, help="operations for the recorder part (default 200000)")
    p.add_argument("--time-limit", type=float, help="seconds of each scale run (default 15)")
    p.add_argument("--rate", type=float, default=50.0, help="total sends/s of each scale run")
    p.add_argument(
        "--keep", type=Path, help="keep run directories and logs in KEEP, not a temp dir"
    )
    p.add_argument("--serve-stub", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--scale-one", type=int, help=argparse.SUPPRESS)
    p.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def settings_from(args: argparse.Namespace) -> Settings:
    quick = args.quick
    sizes = args.sizes or ("100,300" if quick else "100,300,1000")
    return Settings(
        parts=["recorder", "generator", "scale"] if args.part == "all" else [args.part],
        ops=args.ops or (60_000 if quick else 200_000),
        repeat=2 if quick else 3,
        generator_clients=[10, 100],
        generator_rate=20_000.0,
        generator_seconds=3.0 if quick else 6.0,
        sizes=[int(s) for s in sizes.split(",") if s.strip()],
        time_limit=args.time_limit or (10.0 if quick else 15.0),
        rate=args.rate,
    )


def summary(
    rec: list[RecorderFigure], gen: list[GeneratorFigure], scale: list[ScaleFigure]
) -> None:
    print("\nsummary")
    if rec:
        one = next(f for f in rec if f.name.endswith("1 thread"))
        print(
            f"  recorder: {one.us_per_op:.2f} µs/op, {one.ratio:.1f}x orjson + buffered write; "
            + ", ".join(
                f"{f.name.split(', ')[1]} {f.ratio:.1f}x" for f in rec if "threads" in f.name
            )
        )
    for g in gen:
        print(
            f"  generator: {g.clients} clients issue {g.sends_per_s:.0f} sends/s "
            f"({g.recorded_per_s:.0f} recorded ops/s); raw websockets {g.overhead:.1f}x that"
        )
    if gen:
        best = max(gen, key=lambda g: g.recorded_per_s)
        verdict = "met" if best.recorded_per_s >= GENERATOR_TARGET else "NOT met"
        print(
            f"  target: at least {GENERATOR_TARGET:,} recorded ops/s against the stub: "
            f"{best.recorded_per_s:,.0f} with {best.clients} clients, {verdict}"
        )
    if scale:
        held = [f.clients for f in scale if f.sustained]
        best = max(held) if held else None
        print(
            f"  scale: largest sustained client count {best if best else 'none'} of "
            f"{', '.join(str(f.clients) for f in scale)}"
        )


@contextlib.contextmanager
def scratch(keep: Path | None) -> Iterator[Path]:
    """``keep`` (created, left in place) or a temporary folder removed at the end."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep.resolve()
        return
    with tempfile.TemporaryDirectory(prefix="splitbrain-harness-scale-") as tmp:
        yield Path(tmp)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_stub:
        with contextlib.suppress(KeyboardInterrupt):
            uvloop.run(serve_stub())
        return 0
    if args.scale_one is not None:
        fig = scale_one(
            args.scale_one, args.time_limit, args.rate, args.out, args.result.with_suffix(".log")
        )
        args.result.write_text(json.dumps(asdict(fig)))
        return 0
    s = settings_from(args)
    soft, hard = raise_nofile()
    print(f"machine: {os.cpu_count()} cpus, python {sys.version.split()[0]}, nofile {soft}/{hard}")
    rec: list[RecorderFigure] = []
    gen: list[GeneratorFigure] = []
    scale: list[ScaleFigure] = []
    with scratch(args.keep) as folder:
        if "recorder" in s.parts:
            rec = bench_recorder(s.ops, s.repeat, folder)
            print_recorder(rec, s.ops)
        if "generator" in s.parts:
            gen = bench_generator(
                s.generator_clients, s.generator_rate, s.generator_seconds, folder
            )
            print_generator(gen, s.generator_seconds)
        if "scale" in s.parts:
            print("\n[3] scale: one real run per size", flush=True)
            scale = bench_scale(s.sizes, s.time_limit, s.rate, folder)
            print_scale(scale, s.time_limit, s.rate)
    summary(rec, gen, scale)
    return 0


if __name__ == "__main__":
    sys.exit(main())
