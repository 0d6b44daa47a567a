"""Runs a fault schedule against a cluster, recording every fault as history operations.

Each step is an ``invoke`` and then an ``ok`` (or ``info`` with ``error`` when the fault could not
be confirmed) with process ``"nemesis"``, at the step's start, and the same for its undo at the
step's end. Blocking calls (Toxiproxy HTTP, signals, docker) run in worker threads so the event
loop keeps serving the clients. The nemesis tracks what it has put in effect, so
:meth:`Nemesis.heal_all` can undo it at the end of a run or on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from nemesis import partitions, power
from nemesis.catalogue import check_partition_mode
from nemesis.interface import Target, proxy_name
from nemesis.partitions import Link
from nemesis.proxies import ProxyControl
from nemesis.schedule import FaultStep, Schedule

Record = Callable[..., dict[str, Any]]
T = TypeVar("T")

PROCESS = "nemesis"


@dataclass
class InEffect:
    """Faults the nemesis has started (or tried to) and not yet undone."""

    cut: set[Link] = field(default_factory=set)
    latency: set[Link] = field(default_factory=set)
    killed: set[str] = field(default_factory=set)
    paused: set[str] = field(default_factory=set)

    def empty(self) -> bool:
        return not (self.cut or self.latency or self.killed or self.paused)


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

    async def _blocking_call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn`` in a thread, one at a time: a call left running by a cancelled task
        finishes before the next one (e.g. heal_all's) starts."""

        def locked() -> T:
            with self._blocking:
                return fn(*args)

        return await asyncio.to_thread(locked)

    async def _op(self, f: str, value: Any, fn: Callable[..., Any], *args: Any) -> bool:
        """Record ``invoke``, run the blocking ``fn``, record ``ok`` or ``info``; True on ok."""
        self.record(PROCESS, "invoke", f, value)
        try:
            await self._blocking_call(fn, *args)
        except Exception as exc:
            self.record(PROCESS, "info", f, value, error=f"{type(exc).__name__}: {exc}")
            return False
        self.record(PROCESS, "ok", f, value)
        return True

    async def run(self, schedule: Schedule, *, stop: asyncio.Event | None = None) -> None:
        """Execute every step at its time, measured from when ``run`` is called.

        When ``stop`` is set, run heals what is in effect and returns. When the task is cancelled
        (Ctrl-C) faults stay in effect: call :meth:`heal_all` afterwards, in any case.
        Raises ``ValueError`` before any fault when the schedule was made for other nodes or
        client groups than the target's, or has power-loss faults the target cannot make.
        """
        cluster = (tuple(self.target.nodes), tuple(self.target.client_groups))
        if (schedule.nodes, schedule.client_groups) != cluster:
            raise ValueError(
                f"the schedule is for nodes {list(schedule.nodes)} and client groups "
                f"{list(schedule.client_groups)}, but the cluster has {list(cluster[0])} and "
                f"{list(cluster[1])}: replay it with the same node count and client groups"
            )
        if any(s.kind == "power-loss" for s in schedule.steps) and not power.supported(self.target):
            raise ValueError(
                f"the schedule has power-loss faults but {power.unsupported_reason(self.target)}"
            )
        loop = asyncio.get_running_loop()
        start = loop.time()
        for step in schedule.steps:
            if not await self._wait_until(start + step.at, stop):
                break
            undo = await self._start(step, schedule.nodes, schedule.client_groups)
            if not await self._wait_until(start + step.end, stop):
                break
            await undo()
        if stop is not None and stop.is_set():
            await self.heal_all()

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

    async def _start(
        self, step: FaultStep, nodes: tuple[str, ...], client_groups: tuple[str, ...]
    ) -> Callable[[], Any]:
        """Start ``step``'s fault; return the coroutine function that undoes it."""
        if step.kind == "partition":
            return await self._partition(step.params, nodes, client_groups)
        if step.kind in ("kill", "pause"):
            node = step.params["node"]
            if step.params.get("choose") == "primary":
                node = await self._primary() or node
            if step.kind == "kill":
                await self.kill(node)
                return lambda: self.restart(node)
            await self.pause(node)
            return lambda: self.resume(node)
        if step.kind == "latency":
            links = {(src, dst) for src, dst in step.params["links"]}
            ms, jitter = int(step.params["ms"]), int(step.params.get("jitter", 0))
            await self.latency(links, ms, jitter)
            return lambda: self.clear_latency(links)
        if step.kind == "power-loss":
            hit = power.check_params(step.params, nodes)
            await self.power_loss(hit)
            return lambda: self._restart_all(hit)
        raise ValueError(f"unknown fault kind {step.kind!r}")

    async def _partition(
        self, params: dict[str, Any], nodes: tuple[str, ...], client_groups: tuple[str, ...]
    ) -> Callable[[], Any]:
        primary = await self._primary() if params.get("shape") == "primary-alone" else None
        mode = params.get("mode", self.partition_mode)
        placement = params.get("clients", {})
        partition = partitions.from_params(params, nodes, primary)
        links = partitions.cut_links(partition, nodes, client_groups, placement)
        value = partitions.history_value(partition, client_groups, placement, mode)
        cut = self.in_effect.cut
        await self._apply("partition", value, cut, links, self.proxies.cut, _names(links), mode)
        return lambda: self.heal(links)

    async def _apply(
        self,
        f: str,
        value: Any,
        active: set[Any],
        items: set[Any],
        fn: Callable[..., Any],
        *args: Any,
    ) -> bool:
        """Start a fault: ``items`` count as in effect from before the call, even if it fails."""
        active |= items
        return await self._op(f, value, fn, *args)

    async def _undo(
        self,
        f: str,
        value: Any,
        active: set[Any],
        items: set[Any],
        fn: Callable[..., Any],
        *args: Any,
    ) -> bool:
        """Undo a fault: ``items`` leave ``active`` only when the call succeeded."""
        ok = await self._op(f, value, fn, *args)
        if ok:
            active -= items
        return ok

    async def heal(self, links: Iterable[Link]) -> bool:
        """Restore the proxies of ``links``; recorded as ``heal``."""
        links = set(links)
        value = {"links": _links_json(links)}
        cut = self.in_effect.cut
        return await self._undo("heal", value, cut, links, self.proxies.restore, _names(links))

    async def latency(self, links: Iterable[Link], ms: int, jitter: int) -> bool:
        """Add ``ms`` +- ``jitter`` of latency on each direction of ``links``."""
        links = set(links)
        value = {"links": _links_json(links), "ms": ms, "jitter": jitter}
        fn, active = self.proxies.latency, self.in_effect.latency
        return await self._apply("latency", value, active, links, fn, _names(links), ms, jitter)

    async def clear_latency(self, links: Iterable[Link]) -> bool:
        links = set(links)
        value = {"links": _links_json(links)}
        fn, active = self.proxies.clear_latency, self.in_effect.latency
        return await self._undo("clear-latency", value, active, links, fn, _names(links))

    async def kill(self, node: str) -> bool:
        killed, fn = self.in_effect.killed, self.target.kill
        return await self._apply("kill", {"nodes": [node]}, killed, {node}, fn, node)

    async def restart(self, node: str) -> bool:
        killed, fn = self.in_effect.killed, self.target.restart
        return await self._undo("restart", {"nodes": [node]}, killed, {node}, fn, node)

    async def power_loss(self, nodes: list[str]) -> bool:
        """Kill ``nodes`` and drop their un-fsynced writes (:func:`nemesis.power.cut_power`)."""
        killed, fn = self.in_effect.killed, power.cut_power
        return await self._apply(
            "power-loss", {"nodes": nodes}, killed, set(nodes), fn, self.target, nodes
        )

    async def _restart_all(self, nodes: list[str]) -> None:
        for node in nodes:
            await self.restart(node)

    async def pause(self, node: str) -> bool:
        paused, fn = self.in_effect.paused, self.target.pause
        return await self._apply("pause", {"nodes": [node]}, paused, {node}, fn, node)

    async def resume(self, node: str) -> bool:
        paused, fn = self.in_effect.paused, self.target.resume
        return await self._undo("resume", {"nodes": [node]}, paused, {node}, fn, node)

    async def heal_all(self) -> bool:
        """Undo every fault still in effect, recording each undo; True when nothing is left.

        Idempotent: with nothing in effect it records nothing. What fails to undo stays in
        :attr:`in_effect` (recorded ``info``), so calling again retries it.
        """
        if self.in_effect.cut:
            await self.heal(set(self.in_effect.cut))
        if self.in_effect.latency:
            await self.clear_latency(set(self.in_effect.latency))
        for node in sorted(self.in_effect.paused):
            await self.resume(node)
        for node in sorted(self.in_effect.killed):
            await self.restart(node)
        return self.in_effect.empty()
