"""One fault-injection run, end to end: configure, start, drive, break, heal, drain, check.

The order of a run (DESIGN.md, "Data flow of one run"): the workload plan, the keys and the nemesis
schedule are made from the seed and saved in ``test.json`` before anything starts; a backend starts
the cluster behind Toxiproxy; client drivers and the nemesis run side by side until the time limit,
recording into ``history.jsonl``; then every fault is healed, the cluster is given time to recover,
every client reconnects and catches up (the drain), the cluster stops, and the checkers judge the
history. Whatever happens (an error, Ctrl-C), faults are healed and everything started is stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import orjson
import uvloop

from checkers import check_history
from checkers.history import parse_history
from harness import confidentiality
from harness.backends.base import ClusterSpec
from harness.config import ConfigError, RunConfig
from harness.counts import FaultsInEffect, OpCounts
from harness.driver import ClientDriver, DriverSettings, ProcessIds
from harness.present.history_summary import availability_stats
from harness.present.report import ReportError, render_report
from harness.recorder import Recorder
from harness.results import Results
from harness.run_description import describe_run
from harness.runstore import new_run_dir, point_latest, write_json
from harness.workload import WorkloadPlan, plan_workload
from nemesis.interface import Capabilities as NemesisCapabilities
from nemesis.proxies import ToxiproxyNetwork
from nemesis.ran import compare as compare_schedule
from nemesis.runner import Nemesis
from nemesis.schedule import Schedule, generate_schedule
from splitbrain.errors import SplitbrainError
from systems import registry
from systems.seam import Accounts, Capabilities, ClientSettings, System, SystemDescription, describe


@dataclass
class RunOutcome:
    run_dir: Path
    results: Results

    @property
    def exit_code(self) -> int:
        return self.results.exit_code


class RunError(SplitbrainError, RuntimeError):
    """A run cannot be made as configured (a fault the system does not offer, a cluster that
    never became healthy); the message says what to change."""


def nemesis_capabilities(
    config: RunConfig, capabilities: Capabilities, can_lose_power: bool = False
) -> NemesisCapabilities:
    """What the nemesis may do to this system on this backend."""
    return NemesisCapabilities(
        system=config.system,
        has_primary=capabilities.primary,
        can_kill=capabilities.process_faults,
        can_pause=capabilities.process_faults,
        can_lose_power=capabilities.process_faults and can_lose_power,
        pair_links=capabilities.pair_links,
    )


def can_lose_power(config: RunConfig) -> bool:
    """Power-loss faults need the local backend and FUSE (lazyfs); a profile leaves them out
    where either is missing, and asking for them by name says what to install."""
    from nemesis.lazyfs.mount import missing_requirements

    return config.backend == "local" and not missing_requirements()


def make_schedule(config: RunConfig, capabilities: Capabilities | None = None) -> Schedule:
    """The seeded fault schedule, or the one saved in ``config.schedule_file`` (a replay).

    Raises :class:`RunError` naming a fault kind or shape the system does not offer, and
    :class:`~harness.config.ConfigError` naming the file for a schedule that cannot be read or
    is for another cluster than ``config``'s.
    """
    if config.schedule_file is not None:
        return fitting_schedule(config, load_schedule(config.schedule_file))
    caps = None
    if capabilities is not None:
        caps = nemesis_capabilities(config, capabilities, can_lose_power(config))
    try:
        return generate_schedule(
            seed=config.seed,
            kinds=config.nemesis,
            nodes=config.node_names,
            client_groups=config.client_group_names,
            time_limit=config.time_limit,
            interval=config.nemesis_interval,
            partition_mode=config.partition_mode,
            shapes=config.partition_shapes,
            profile=config.profile,
            capabilities=caps,
        )
    except ValueError as exc:
        raise RunError(f"{exc}") from None


def fault_starts(config: RunConfig, capabilities: Capabilities | None = None) -> tuple[float, ...]:
    """When the workload expects faults to start (it bursts and sends clients offline there):
    ``config.fault_times`` when given (explore sets them to a drawn schedule's), else when the
    seeded schedule starts its faults. Either way a replay or a shrunk schedule keeps the
    workload of the original run."""
    if config.fault_times is not None:
        return config.fault_times
    seeded = make_schedule(dataclasses.replace(config, schedule_file=None), capabilities)
    return tuple(step.at for step in seeded.steps)


def load_schedule(path: Path) -> Schedule:
    """A schedule from a schedule JSON file or from a run's ``test.json`` (its "schedule" key);
    :class:`~harness.config.ConfigError` (one line, naming the file) when it is not one."""
    what = "give a run's test.json or a schedule file that a run or explore wrote"
    try:
        data = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror or exc}); {what}") from None
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not JSON ({exc}); {what}") from None
    if isinstance(data, dict) and "schedule" in data:
        data = data["schedule"]
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: holds no fault schedule object; {what}")
    try:
        return Schedule.from_json(data)
    except (ValueError, TypeError, KeyError) as exc:
        words = " ".join(str(exc).split())
        raise ConfigError(f"{path}: not a usable fault schedule ({words}); {what}") from None


def fitting_schedule(config: RunConfig, schedule: Schedule) -> Schedule:
    """``schedule`` if it is for the nodes and client groups ``config`` starts; else
    ConfigError saying which settings to drop or change (a replay keeps the cluster it had)."""
    source = config.schedule_file
    for what, flag, theirs, ours in (
        ("nodes", "--nodes", schedule.nodes, config.node_names),
        ("client groups", "--client-groups", schedule.client_groups, config.client_group_names),
    ):
        if tuple(theirs) != tuple(ours):
            raise ConfigError(
                f"{source}: its fault schedule is for {len(theirs)} {what} "
                f"({', '.join(theirs) or 'none'}) but this run has {len(ours)}: drop {flag} or "
                f"give {flag} {len(theirs)}"
            )
    return schedule


def start_backend(config: RunConfig, spec: ClusterSpec) -> Any:
    if config.backend == "docker":
        from harness.backends.docker import start as start_docker

        return start_docker(spec, image_source=config.image_source)
    from harness.backends.local import start_local

    return start_local(spec)


def cluster_healthy(cluster: Any) -> bool:
    """Whether the system, from every node's status, says the cluster can serve every client."""
    return bool(cluster.spec.system.healthy(cluster.statuses(timeout=1.0)))


async def wait_healthy(cluster: Any, timeout: float) -> bool:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        if await asyncio.to_thread(cluster_healthy, cluster):
            return True
        await asyncio.sleep(0.3)
    return False


class Progress:
    """Prints one line every few seconds while the run goes on (long work shows progress), and
    the same line at its end: the drivers' counts added up, and the faults in effect."""

    def __init__(
        self,
        drivers: list[ClientDriver],
        faults: FaultsInEffect,
        total: float,
        out: TextIO,
        every: float = 5.0,
    ) -> None:
        self.drivers, self.faults = drivers, faults
        self.total, self.out, self.every = total, out, every
        self.phase = "run"

    def line(self, elapsed: float) -> str:
        c = OpCounts.total(d.counts for d in self.drivers)
        return (
            f"[{elapsed:5.1f}s/{self.total:.0f}s {self.phase}] sends ok {c.ok} fail {c.fail} "
            f"info {c.info} | delivered {c.delivered} | fault: {self.faults.words}"
        )

    async def run(self, start: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.every)
            print(self.line(loop.time() - start), file=self.out, flush=True)


async def _caught_up(
    drivers: list[ClientDriver], end: float, node: str | None = None
) -> tuple[bool, str]:
    """Sync every client (with ``node``, or wherever it is) until a quiet round brings nothing
    new; returns whether that happened before ``end`` and, if not, who lagged."""
    loop = asyncio.get_running_loop()
    laggards: list[str] = []
    problems: list[str] = []
    while loop.time() < end:
        before = sum(d.counts.delivered for d in drivers)
        remaining = max(1.0, end - loop.time())
        synced = await asyncio.gather(*(d.sync(remaining, node=node) for d in drivers))
        await asyncio.sleep(1.0)
        after = sum(d.counts.delivered for d in drivers)
        lagging = [d for d, ok in zip(drivers, synced, strict=True) if not ok]
        laggards = [d.user for d in lagging]
        problems = [f"{d.user} ({d.sync_problem})" for d in lagging]
        if not laggards and after == before:
            return True, ""
    where = f" from {node}" if node else ""
    if not laggards:
        return (
            False,
            f"no quiet round{where} before the drain timeout (no time left, or "
            "deliveries kept arriving)",
        )
    named = "; ".join(problems[:5])
    return False, f"{len(laggards)} client(s) could not catch up{where}: {named}"


async def drain(
    drivers: list[ClientDriver],
    record: Callable[..., dict[str, Any]],
    timeout: float,
    nodes: tuple[str, ...] = (),
) -> bool:
    """Every client reconnects and catches up; then, node by node, every client catches up
    against that node too, so a replica that diverged or lost data shows in the history even
    when no client was on it. The drain completes only when every round did."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    record("harness", "invoke", "drain", None)
    ok, why = await _caught_up(drivers, end)
    for node in nodes:
        if not ok:
            break
        ok, why = await _caught_up(drivers, end, node)
    if ok:
        record("harness", "ok", "drain", None)
    else:
        record("harness", "info", "drain", None, error=why or f"not caught up in {timeout:.0f} s")
    return ok


async def _drive(
    config: RunConfig,
    cluster: Any,
    plan: WorkloadPlan,
    schedule: Schedule,
    recorder: Recorder,
    out: TextIO,
) -> None:
    faults = FaultsInEffect()

    def record(process: int | str, type: str, f: str, value: Any, **extra: Any) -> dict[str, Any]:
        op = recorder.record(process, type, f, value, **extra)
        faults.observe(op)
        return op

    settings = DriverSettings(
        client=ClientSettings(request_timeout=config.request_timeout, heartbeat=config.heartbeat)
    )
    process_ids = ProcessIds()
    drivers = [
        ClientDriver(
            user=user,
            system=cluster.spec.system,
            conversations=plan.conversations,
            endpoints=cluster.client_endpoints(plan.client_group[user]),
            record=record,
            process_ids=process_ids,
            settings=settings,
            rng=random.Random(f"driver-{config.seed}-{user}"),
        )
        for user in plan.users
    ]
    nemesis = Nemesis(
        cluster,
        ToxiproxyNetwork(cluster.proxies),
        record,
        clock=recorder.clock,
        partition_mode=config.partition_mode,
        capabilities=nemesis_capabilities(
            config, cluster.spec.system.capabilities, can_lose_power(config)
        ),
    )
    loop = asyncio.get_running_loop()
    progress = Progress(drivers, faults, config.time_limit, out)
    start = loop.time()
    deadline = start + config.time_limit
    sends, offline = plan.sends_by_user(), plan.offline_by_user()
    progress_task = asyncio.create_task(progress.run(start))
    stop = asyncio.Event()
    nemesis_task = asyncio.create_task(nemesis.run(schedule, stop=stop))
    try:
        await asyncio.gather(
            *(d.run(sends[d.user], offline[d.user], start, deadline) for d in drivers)
        )
        stop.set()
        await nemesis_task  # bounded: steps stop, ops close within their bound, then it heals
        progress.phase = "heal"
        await nemesis.heal_all()
        healthy = await wait_healthy(cluster, timeout=30.0)
        if not healthy:
            print("warning: the cluster did not look healthy 30 s after healing", file=out)
        progress.phase = "drain"
        await drain(drivers, record, config.drain_timeout, cluster.nodes)
    finally:
        stop.set()
        nemesis_task.cancel()
        progress_task.cancel()
        with contextlib.suppress(BaseException):
            await nemesis.heal_all()
        await asyncio.gather(*(d.disconnect() for d in drivers), return_exceptions=True)
        nemesis.close()
        print(progress.line(loop.time() - start), file=out, flush=True)


def run_test(config: RunConfig, out: TextIO | None = None) -> RunOutcome:
    """Run one test and check it; returns where it is and what the checkers found.

    Raises ConfigError/ValueError for bad settings before anything starts, and RuntimeError when
    the cluster cannot start; in every case whatever was started is stopped again.
    """
    out = out or sys.stderr  # at call time: a captured stderr may be gone later
    system = registry.create(config.system, dict(config.system_options))
    schedule = make_schedule(config, system.capabilities)  # bad input fails before any build
    system.prepare(out)
    plan = plan_workload(config, fault_starts(config, system.capabilities))
    run_dir = new_run_dir(config.out, config.name)
    point_latest(config.out, run_dir)
    accounts = Accounts(plan.users, plan.conversations)
    system.provision(accounts, run_dir, config.node_names, config.seed)
    test = describe_run(config, system, plan, schedule, run_dir)
    write_json(run_dir / "test.json", test)
    print(f"run directory: {run_dir}", file=out, flush=True)
    spec = ClusterSpec(
        nodes=config.node_names,
        system=system,
        run_dir=run_dir,
        client_groups=config.client_groups,
        lazy_disks=any(step.kind == "power-loss" for step in schedule.steps),
    )
    started = time.monotonic()
    cluster = start_backend(config, spec)
    try:
        print(
            f"cluster up ({config.system} on {config.backend}, {config.nodes} nodes) in "
            f"{time.monotonic() - started:.1f} s; running for {config.time_limit:g} s",
            file=out,
            flush=True,
        )
        with Recorder(run_dir / "history.jsonl") as recorder:
            # uvloop, as the nodes: the clients' event loop costs less per frame (the generator
            # issues about 15% more sends/s against benchmarks/harness_scale.py's stub)
            uvloop.run(_startup_then_drive(config, cluster, plan, schedule, recorder, out))
    finally:
        cluster.stop()
    results = judge(run_dir, test, out, bodies_to_scan(system, plan), describe(system))
    return RunOutcome(run_dir, results)


SCAN_LIMIT = 64 * 1024 * 1024  # bytes of plaintext the confidentiality scan holds at most


def bodies_to_scan(system: System, plan: WorkloadPlan) -> dict[str, bytes] | None:
    """Every body sent, for the confidentiality scan, when the system says its servers hold
    ciphertext only (:meth:`systems.seam.System.at_rest`) and the bodies fit in memory; else
    None."""
    if system.at_rest() != "ciphertext":
        return None
    if sum(send.size for send in plan.sends) > SCAN_LIMIT:
        return None
    return {send.msg_id: send.body for send in plan.sends}


def judge(
    run_dir: Path,
    test: dict[str, Any],
    out: TextIO,
    bodies: dict[str, bytes] | None = None,
    system: SystemDescription | None = None,
) -> Results:
    """Check the history once, fold its figures once, and write results.json and the report
    from those objects. With ``bodies``, every file of the run is also scanned for them
    (the run-level finding ``leaked``)."""
    history = run_dir / "history.jsonl"
    lines = history.read_bytes().splitlines()
    results = Results.from_json(check_history(parse_history(lines, str(history))))
    if bodies is not None:
        files, harness_files = confidentiality.run_files(run_dir)
        leaks = confidentiality.scan_for_leaks(files, bodies, digests_allowed=harness_files)
        results = confidentiality.with_leaked(results, leaks)
    ops = [orjson.loads(line) for line in lines if line.strip()]
    figures = availability_stats(ops)
    figures.pop("availability", None)  # results.json has one overall figure: stats.availability
    results = results.with_run(figures, system, schedule_ran(test, ops))
    results.write(run_dir / "results.json")
    try:
        resolved = run_dir.resolve()
        title = f"{resolved.parent.name}/{resolved.name}"
        document = render_report(test, ops, results, title=title)
        (run_dir / "report.html").write_text(document, encoding="utf-8")
    except (ReportError, OSError) as exc:
        print(f"warning: report.html not written: {exc}", file=out)
    return results


def schedule_ran(test: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any] | None:
    """What of test.json's planned schedule ran, and when, beside the plan (``None`` without a
    readable schedule)."""
    try:
        schedule = Schedule.from_json(test["schedule"])
    except (KeyError, TypeError, ValueError):
        return None
    return compare_schedule(schedule, ops).to_json()


def format_figures(results: Results) -> str:
    """One line for the run summary: what availability the faults cost, and the latency."""
    figures = results.get("run") or {}
    overall = (results.get("stats") or {}).get("availability")

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{100 * value:.1f}%"

    latency = figures.get("latency_ms") or {}

    def ms(key: str) -> str:
        value = latency.get(key)
        return "n/a" if value is None else f"{value:.1f} ms"

    return (
        f"availability {pct(overall)} overall, "
        f"{pct(figures.get('availability_during_faults'))} during faults, "
        f"{pct(figures.get('availability_outside_faults'))} outside them; "
        f"send latency p50 {ms('p50')}, p99 {ms('p99')}"
    )


async def _startup_then_drive(
    config: RunConfig,
    cluster: Any,
    plan: WorkloadPlan,
    schedule: Schedule,
    recorder: Recorder,
    out: TextIO,
) -> None:
    if not await wait_healthy(cluster, timeout=30.0):
        raise RunError(
            f"the cluster did not become healthy within 30 s; read the node logs in "
            f"{cluster.spec.run_dir / 'logs'}"
        )
    await _drive(config, cluster, plan, schedule, recorder, out)
