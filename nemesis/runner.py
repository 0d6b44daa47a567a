"""Runs a fault schedule against a cluster, recording every fault as history operations.

Each step is an ``invoke`` and then an ``ok`` (or ``info`` with ``error`` when the fault could not
be confirmed) with process ``"nemesis"``, at the step's start, and the same for its undo at the
step's end. Steps may overlap: each runs in its own task, and the nemesis keeps which links and
nodes each started fault holds (:class:`InEffect`), so undoing one fault only undoes what no other
fault still holds (a node killed by two overlapping kills restarts when the second ends; its undo
op names only what it really undid). Blocking calls (Toxiproxy HTTP, signals, docker) run in
worker threads, one at a time and in the order the nemesis decided them, so the event loop keeps
serving the clients. :meth:`Nemesis.heal_all` undoes everything still held, at the end of a run
or on Ctrl-C.

A kill of a paused node ends its pause early (the process is gone; the pause's undo finds nothing
to resume); latency on a link already under latency replaces it until both are undone.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from nemesis import partitions
from nemesis.catalogue import check_partition_mode
from nemesis.faults import FAULT_KINDS, Holds
from nemesis.interface import Target, proxy_name
from nemesis.partitions import Link
from nemesis.proxies import ProxyControl
from nemesis.schedule import FaultStep, Schedule, latency_links, step_nodes

Record = Callable[..., dict[str, Any]]
T = TypeVar("T")

PROCESS = "nemesis"


@dataclass(frozen=True)
class Hold:
    """What one started fault holds (its ``id`` in :class:`InEffect`) and whether its start
    call succeeded."""

    id: int
    ok: bool


@dataclass
class InEffect:
    """What the nemesis holds in effect: each started fault's links or nodes, by fault id.

    A fault counts from before its start call (even one that failed, since it may have half
    worked) until its undo succeeds; an item is in effect while any fault holds it. An undo that
    fails leaves what it could not undo held (under a new id), for :meth:`Nemesis.heal_all`.
    """

    faults: dict[int, tuple[Holds, frozenset[Any]]] = field(default_factory=dict)
    next_id: int = 0

    def held(self, what: Holds) -> set[Any]:
        return {item for kind, items in self.faults.values() if kind == what for item in items}

    @property
    def cut(self) -> set[Link]:
        return self.held("cut")

    @property
    def latency(self) -> set[Link]:
        return self.held("latency")

    @property
    def killed(self) -> set[str]:
        return self.held("killed")

    @property
    def paused(self) -> set[str]:
        return self.held("paused")

    def acquire(self, what: Holds, items: Iterable[Any]) -> int:
        """Hold ``items`` for a new fault; return its id."""
        fid = self.next_id
        self.next_id += 1
        self.faults[fid] = (what, frozenset(items))
        return fid

    def release(self, what: Holds, items: Iterable[Any], fid: int | None) -> set[Any]:
        """Drop fault ``fid``'s hold (or, with ``None``, every hold of ``items``); return the
        items no fault holds any more. A fault already released releases nothing."""
        if fid is not None:
            dropped = self.faults.pop(fid, (what, frozenset()))[1]
            return set(dropped) - self.held(what)
        items = set(items)
        freed = items & self.held(what)
        for other, (kind, held) in list(self.faults.items()):
            if kind == what and held & items:
                if held - items:
                    self.faults[other] = (kind, held - items)
                else:
                    del self.faults[other]
        return freed

    def empty(self) -> bool:
        return not any(items for _, items in self.faults.values())


def _links_json(links: Iterable[Link]) -> list[list[str]]:
    return [list(link) for link in sorted(links)]


def _names(links: Iterable[Link]) -> list[str]:
    return [proxy_name(src, dst) for src, dst in sorted(links)]


class Nemesis:
    """Injects faults into ``target`` (processes) and through ``proxies`` (network).

    ``record`` is ``Recorder.record``: ``record(process, type, f, value, **extra) -> dict``.
    ``partition_mode`` (``drop`` | ``refuse``) applies to partition steps that name no ``mode``.
    """

    def __init__(
        self,
        target: Target,
        proxies: ProxyControl,
        record: Record,
        partition_mode: str = "drop",
    ) -> None:
        self.target = target
        self.proxies = proxies
        self.record = record
        self.partition_mode = check_partition_mode(partition_mode)
        self.in_effect = InEffect()
        self._blocking = threading.Lock()
        self._order: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None

    def _order_lock(self) -> asyncio.Lock:
        """One FIFO lock per event loop: faults take effect in the order they were decided."""
        loop = asyncio.get_running_loop()
        if self._order is None or self._order[0] is not loop:
            self._order = (loop, asyncio.Lock())
        return self._order[1]

    async def _blocking_call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` in a thread, one at a time: a call left running by a cancelled task
        finishes before the next one (e.g. heal_all's) starts."""

        def locked() -> T:
            with self._blocking:
                return fn(*args)

        return await asyncio.to_thread(locked)

    async def _op(self, f: str, value: Any, fn: Callable[..., Any], *args: Any) -> bool:
        """Record ``invoke``, run the blocking ``fn``, record ``ok`` or ``info``; True on ok.
        Cancelled while ``fn`` runs (the run ended), the op is recorded ``info``: its outcome is
        unknown, as ``fn`` goes on in its thread."""
        self.record(PROCESS, "invoke", f, value)
        try:
            await self._blocking_call(fn, *args)
        except Exception as exc:
            self.record(PROCESS, "info", f, value, error=f"{type(exc).__name__}: {exc}")
            return False
        except asyncio.CancelledError:
            self.record(PROCESS, "info", f, value, error="interrupted: the run stopped first")
            raise
        self.record(PROCESS, "ok", f, value)
        return True

    async def run(self, schedule: Schedule, *, stop: asyncio.Event | None = None) -> None:
        """Execute every step at its time, measured from when ``run`` is called; overlapping
        steps overlap.

        When ``stop`` is set, run heals what is in effect and returns. When the task is cancelled
        (Ctrl-C) faults stay in effect: call :meth:`heal_all` afterwards, in any case.
        Raises ``ValueError`` before any fault when the schedule was made for other nodes or
        client groups than the target's.
        """
        cluster = (tuple(self.target.nodes), tuple(self.target.client_groups))
        if (schedule.nodes, schedule.client_groups) != cluster:
            raise ValueError(
                f"the schedule is for nodes {list(schedule.nodes)} and client groups "
                f"{list(schedule.client_groups)}, but the cluster has {list(cluster[0])} and "
                f"{list(cluster[1])}: replay it with the same node count and client groups"
            )
        start = asyncio.get_running_loop().time()
        tasks = [
            asyncio.create_task(self._run_step(step, start, schedule, stop))
            for step in schedule.steps
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
        if stop is not None and stop.is_set():
            await self.heal_all()

    async def _run_step(
        self, step: FaultStep, start: float, schedule: Schedule, stop: asyncio.Event | None
    ) -> None:
        if not await self._wait_until(start + step.at, stop):
            return
        undo = await self.start(step, schedule.nodes, schedule.client_groups)
        if await self._wait_until(start + step.end, stop):
            await undo()

    async def _wait_until(self, deadline: float, stop: asyncio.Event | None) -> bool:
        """Sleep until ``deadline`` (loop time); False if ``stop`` was set first."""
        delay = max(0.0, deadline - asyncio.get_running_loop().time())
        if stop is None:
            await asyncio.sleep(delay)
            return True
        if stop.is_set():
            return False
        try:
            await asyncio.wait_for(stop.wait(), delay)
        except TimeoutError:
            return True
        return False

    async def _primary(self) -> str | None:
        try:
            primary = await self._blocking_call(self.target.primary)
        except Exception:
            return None
        return primary if primary in self.target.nodes else None

    async def _aimed_nodes(self, params: dict[str, Any]) -> list[str]:
        """The nodes a process step hits now: the primary swapped in where it aims at it."""
        nodes = step_nodes(params)
        choose = params.get("choose", "random")
        if choose not in ("primary", "majority"):
            return nodes
        primary = await self._primary()
        if primary is None or primary in nodes:
            return nodes
        if choose == "primary":
            return [primary]
        return sorted([*nodes[:-1], primary])

    async def start(
        self, step: FaultStep, nodes: tuple[str, ...], client_groups: tuple[str, ...]
    ) -> Callable[[], Awaitable[bool]]:
        """Start ``step``'s fault now; return the coroutine function that undoes it (once)."""
        holds = FAULT_KINDS[step.kind].holds
        if holds == "cut":
            return await self._partition(step.params, nodes, client_groups)
        if holds == "latency":
            links = {(src, dst) for src, dst in step.params["links"]}
            if step.params.get("choose") == "primary":
                primary = await self._primary()
                if primary is not None:
                    links = {(a, b) for a, b in latency_links(primary, nodes, client_groups)}
            ms, jitter = int(step.params["ms"]), int(step.params.get("jitter", 0))
            held = await self.latency(links, ms, jitter)
            return lambda: self.clear_latency(links, held)
        hit = await self._aimed_nodes(step.params)
        if step.kind == "kill":
            held = await self.kill(*hit)
            return lambda: self.restart(*hit, held=held)
        if step.kind == "power-loss":
            held = await self.power_loss(*hit)
            return lambda: self.restart(*hit, held=held)
        held = await self.pause(*hit)
        return lambda: self.resume(*hit, held=held)

    async def _partition(
        self, params: dict[str, Any], nodes: tuple[str, ...], client_groups: tuple[str, ...]
    ) -> Callable[[], Awaitable[bool]]:
        primary = await self._primary() if params.get("shape") == "primary-alone" else None
        mode = params.get("mode", self.partition_mode)
        placement = params.get("clients", {})
        partition = partitions.from_params(params, nodes, primary)
        links = partitions.cut_links(partition, nodes, client_groups, placement)
        value = partitions.history_value(partition, client_groups, placement, mode)
        held = await self._apply("partition", value, "cut", links, self._cut(mode))
        return lambda: self.heal(links, held)

    def _cut(self, mode: str) -> Callable[[Iterable[Link]], None]:
        return lambda links: self.proxies.cut(_names(links), mode)

    def _each(self, fn: Callable[[str], None]) -> Callable[[Iterable[str]], None]:
        def each(nodes: Iterable[str]) -> None:
            for node in sorted(nodes):
                fn(node)

        return each

    async def _apply(
        self,
        f: str,
        value: Any,
        what: Holds,
        items: Iterable[Any],
        fn: Callable[[Iterable[Any]], None],
    ) -> Hold:
        """Start a fault: ``items`` count as held from before the call, even if it fails."""
        items = set(items)
        async with self._order_lock():
            fid = self.in_effect.acquire(what, items)
            return Hold(fid, await self._op(f, value, fn, items))

    async def _undo(
        self,
        f: str,
        what: Holds,
        items: Iterable[Any],
        fn: Callable[[Iterable[Any]], None],
        describe: Callable[[set[Any]], Any],
        held: Hold | None,
    ) -> bool:
        """Undo the fault ``held`` (with ``None``: whatever holds ``items``): what no other fault
        holds any more is undone and recorded; if that fails or is interrupted, it stays held,
        so :meth:`heal_all` undoes it again."""
        async with self._order_lock():
            freed = self.in_effect.release(what, items, held.id if held else None)
            if not freed:
                return True
            ok = False
            try:
                ok = await self._op(f, describe(freed), fn, freed)
            finally:
                if not ok:
                    self.in_effect.acquire(what, freed)
            return ok

    async def heal(self, links: Iterable[Link], held: Hold | None = None) -> bool:
        """Restore the proxies of ``links`` (of the partition ``held`` only, if given, less
        what another partition still cuts); recorded as ``heal``."""
        restore = lambda ls: self.proxies.restore(_names(ls))  # noqa: E731
        return await self._undo("heal", "cut", links, restore, _links_value, held)

    async def latency(self, links: Iterable[Link], ms: int, jitter: int) -> Hold:
        """Add ``ms`` +- ``jitter`` of latency on each direction of ``links``."""
        links = set(links)
        value = {"links": _links_json(links), "ms": ms, "jitter": jitter}
        add = lambda ls: self.proxies.latency(_names(ls), ms, jitter)  # noqa: E731
        return await self._apply("latency", value, "latency", links, add)

    async def clear_latency(self, links: Iterable[Link], held: Hold | None = None) -> bool:
        clear = lambda ls: self.proxies.clear_latency(_names(ls))  # noqa: E731
        return await self._undo("clear-latency", "latency", links, clear, _links_value, held)

    async def kill(self, *nodes: str) -> Hold:
        fn = self._each(self.target.kill)
        return await self._apply("kill", _nodes_value(nodes), "killed", nodes, fn)

    async def power_loss(self, *nodes: str) -> Hold:
        """Kill ``nodes`` and drop their un-fsynced writes (the target's ``power_loss``)."""
        fn = self._each(self._power_loss)
        return await self._apply("power-loss", _nodes_value(nodes), "killed", nodes, fn)

    def _power_loss(self, node: str) -> None:
        power_loss = getattr(self.target, "power_loss", None)
        if power_loss is None:
            raise NotImplementedError(
                f"this cluster's nodes cannot lose power ({type(self.target).__name__} has no "
                "power_loss); use a backend that supports it or drop the power-loss kind"
            )
        power_loss(node)

    async def restart(self, *nodes: str, held: Hold | None = None) -> bool:
        fn = self._each(self.target.restart)
        return await self._undo("restart", "killed", nodes, fn, _nodes_value, held)

    async def pause(self, *nodes: str) -> Hold:
        fn = self._each(self.target.pause)
        return await self._apply("pause", _nodes_value(nodes), "paused", nodes, fn)

    async def resume(self, *nodes: str, held: Hold | None = None) -> bool:
        fn = self._each(self.target.resume)
        return await self._undo("resume", "paused", nodes, fn, _nodes_value, held)

    async def heal_all(self) -> bool:
        """Undo every fault still in effect, recording each undo; True when nothing is left.

        Idempotent: with nothing in effect it records nothing. What fails to undo stays in
        :attr:`in_effect` (recorded ``info``), so calling again retries it.
        """
        if self.in_effect.cut:
            await self.heal(self.in_effect.cut)
        if self.in_effect.latency:
            await self.clear_latency(self.in_effect.latency)
        if self.in_effect.paused:
            await self.resume(*sorted(self.in_effect.paused))
        if self.in_effect.killed:
            await self.restart(*sorted(self.in_effect.killed))
        return self.in_effect.empty()


def _links_value(links: Iterable[Link]) -> dict[str, Any]:
    return {"links": _links_json(links)}


def _nodes_value(nodes: Sequence[str] | set[str]) -> dict[str, Any]:
    return {"nodes": sorted(nodes)}
