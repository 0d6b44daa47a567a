"""Runs a fault schedule against a cluster on time, recording every fault as history operations.

Each step is an ``invoke`` and then an ``ok`` (or ``info`` with ``error`` when the fault could
not be confirmed) with process ``"nemesis"``, at the step's start, and the same for its undo at
the step's end. Every op of a step carries ``step`` (its index in the schedule); the invokes
carry ``planned`` (the history time, in ns, the schedule meant them for) and, when they came
more than :data:`nemesis.ran.ON_TIME_S` late, ``why_late``. :mod:`nemesis.ran` reads these back
into what ran against what was planned.

What a caller may rely on:

- A step starts at its time whatever earlier steps are doing. The kinds only say what to do to
  each item (a link, a node); the blocking calls run in the nemesis's own worker threads, one
  per item, so a slow call (Toxiproxy waits up to 5 s for each buffered piece of a connection
  whose destination does not read) delays nothing but later changes to the same item.
- Changes to one item happen one at a time, in the order decided (a lane per item and effect:
  a node's kill, pause, resume and restart share one; a link's cut and its delay are two), so
  overlapping faults on one target take effect in order. Changes to different items overlap.
- An op that is not confirmed within ``bound`` seconds is recorded ``info`` naming what it still
  waits for; its calls go on, and what it did not confirm is undone again by :meth:`heal_all`.
- The nemesis keeps what each started fault holds (:class:`InEffect`), so undoing one fault
  only undoes what no other fault still holds (a node killed by two overlapping kills restarts
  when the second ends; its undo op names only what it really undid).
- :meth:`Nemesis.heal_all` undoes everything still held or not confirmed undone, at the end of
  a run or on Ctrl-C, after waiting (within ``heal_bound``) for the calls still running.

A kill of a paused node ends its pause early (the process is gone; the pause's undo finds nothing
to resume); latency on a link already under latency replaces it until both are undone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Collection, Hashable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from nemesis import faults
from nemesis.faults import EFFECTS
from nemesis.interface import Capabilities, NetworkControl, Target
from nemesis.kind import Action, Cluster, Controls, Effect, StartContext
from nemesis.partitions import check_partition_mode
from nemesis.ran import ON_TIME_S
from nemesis.schedule import FaultStep, Schedule

Record = Callable[..., dict[str, Any]]
Clock = Callable[[], int]
Undo = Callable[[], Awaitable[bool]]

PROCESS = "nemesis"
BOUND_S = 3.0
"""How long an op of a step may wait for its calls before it is recorded ``info``."""
HEAL_BOUND_S = 45.0
"""How long the final heal waits for calls still running, and for its own (longer than a
Toxiproxy request may take)."""
WORKERS = 64


@dataclass
class InEffect:
    """What the nemesis holds in effect: each started fault's items, by fault id and effect name,
    and the items whose last undo was not confirmed (``unsure``).

    A fault counts from before its start call (even one that failed, since it may have half
    worked) until its undo is decided; an item is in effect while any fault holds it. An undo
    that was not confirmed (it failed, or had not returned within its bound) leaves its items
    unsure, for :meth:`Nemesis.heal_all`, without holding them: a later fault on the same item
    still starts and ends as planned.
    """

    faults: dict[int, tuple[str, frozenset[Hashable]]] = field(default_factory=dict)
    unsure: dict[str, set[Hashable]] = field(default_factory=dict)
    next_id: int = 0

    def held(self, what: str) -> set[Any]:
        return {item for kind, items in self.faults.values() if kind == what for item in items}

    def owed(self, what: str) -> set[Any]:
        """What the final heal must undo: what is held, and what was not confirmed undone."""
        return self.held(what) | self.unsure.get(what, set())

    def acquire(self, what: str, items: Iterable[Hashable]) -> int:
        """Hold ``items`` for a new fault; return its id."""
        fid = self.next_id
        self.next_id += 1
        self.faults[fid] = (what, frozenset(items))
        return fid

    def release(self, what: str, items: Iterable[Hashable], fid: int | None) -> set[Any]:
        """Drop fault ``fid``'s hold (or, with ``None``, every hold of ``items``); return the
        items no fault holds any more. A fault already released releases nothing."""
        if fid is not None:
            dropped = self.faults.pop(fid, (what, frozenset()))[1]
            return set(dropped) - self.held(what)
        wanted = set(items)
        freed = wanted & self.held(what)
        for other, (kind, held) in list(self.faults.items()):
            if kind == what and held & wanted:
                if held - wanted:
                    self.faults[other] = (kind, held - wanted)
                else:
                    del self.faults[other]
        return freed

    def doubt(self, what: str, items: Iterable[Hashable]) -> None:
        self.unsure.setdefault(what, set()).update(items)

    def confirm(self, what: str, items: Iterable[Hashable]) -> None:
        self.unsure.get(what, set()).difference_update(items)

    def empty(self) -> bool:
        return not any(items for _, items in self.faults.values()) and not any(self.unsure.values())


def _item_words(item: Any) -> str:
    return "-".join(item) if isinstance(item, tuple) else str(item)


@dataclass(eq=False)
class _Call:
    """One blocking call on one item, after the earlier call on the same item in its lane."""

    key: tuple[str, Hashable]
    f: str
    step: int | None
    behind: _Call | None
    state: str = "waiting"  # -> "running" -> "done"
    error: str | None = None
    task: asyncio.Task[None] | None = None

    @property
    def item(self) -> Any:
        return self.key[1]

    @property
    def ok(self) -> bool:
        return self.state == "done" and self.error is None

    def pending_words(self) -> str:
        if self.state == "running" or self.behind is None:
            return f"{_item_words(self.item)} (its call has not returned)"
        of = f" of step {self.behind.step}" if self.behind.step is not None else ""
        return f"{_item_words(self.item)} (waiting for the {self.behind.f}{of} on it)"


def _problem(calls: Collection[_Call], bound: float) -> str | None:
    """Why an op is not confirmed, or ``None`` when every call returned without error."""
    failed = [c for c in calls if c.state == "done" and c.error]
    pending = [c for c in calls if c.state != "done"]
    parts = [f"{_item_words(c.item)}: {c.error}" for c in failed[:3]]
    if len(failed) > 3:
        parts.append(f"{len(failed) - 3} more failed")
    if pending:
        shown = ", ".join(c.pending_words() for c in pending[:3])
        more = f" and {len(pending) - 3} more" if len(pending) > 3 else ""
        parts.append(
            f"not confirmed within {bound:g} s: {len(pending)} of {len(calls)} still in "
            f"progress: {shown}{more}"
        )
    return "; ".join(parts) or None


@dataclass
class _Started:
    """A step's fault once its start op is invoked: the op's recording, and its undo."""

    recorded: asyncio.Task[bool]
    undo: Callable[[int | None], Awaitable[bool]]


class Nemesis:
    """Injects faults into ``target`` (processes) and through ``network``.

    ``record`` is ``Recorder.record``: ``record(process, type, f, value, **extra) -> dict``;
    ``clock`` the history's clock (ns since the run began, as ``record`` stamps ``time``), so
    ``planned`` can be compared with ``time``. ``partition_mode`` (``drop`` | ``refuse``)
    applies to partition steps that name no ``mode``; ``capabilities`` are the system's (its
    ``pair_links`` decides which links a network fault changes). Call :meth:`close` when done.
    """

    def __init__(
        self,
        target: Target,
        network: NetworkControl,
        record: Record,
        *,
        clock: Clock = time.monotonic_ns,
        partition_mode: str = "drop",
        capabilities: Capabilities | None = None,
        bound: float = BOUND_S,
        heal_bound: float = HEAL_BOUND_S,
    ) -> None:
        self.target = target
        self.network = network
        self.record = record
        self.clock = clock
        self.partition_mode = check_partition_mode(partition_mode)
        self.capabilities = capabilities or Capabilities()
        self.bound = bound
        self.heal_bound = heal_bound
        self.in_effect = InEffect()
        self._controls = Controls(target, network)
        self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="nemesis")
        self._lanes: dict[tuple[str, Hashable], _Call] = {}
        self._calls: set[_Call] = set()
        self._ops: set[asyncio.Task[bool]] = set()

    def close(self) -> None:
        """Let the worker threads go (a call still running finishes in its thread)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> Nemesis:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
        zero = self.clock()
        shape = Cluster(schedule.nodes, schedule.client_groups)
        tasks = [
            asyncio.create_task(self._run_step(i, step, shape, zero, stop))
            for i, step in enumerate(schedule.steps)
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
        if stop is not None and stop.is_set():
            await self.heal_all()

    async def _run_step(
        self, index: int, step: FaultStep, cluster: Cluster, zero: int, stop: asyncio.Event | None
    ) -> None:
        planned = zero + round(step.at * 1e9)
        if not await self._sleep_until(planned, stop):
            return
        started = await self._start(step, cluster, index, planned)
        end = zero + round(step.end * 1e9)
        try:
            if await self._sleep_until(end, stop):
                await started.undo(end)
        finally:
            await asyncio.shield(started.recorded)

    async def _sleep_until(self, deadline: int, stop: asyncio.Event | None) -> bool:
        """Sleep until the history clock reads ``deadline``; False if ``stop`` was set first."""
        delay = max(0.0, (deadline - self.clock()) / 1e9)
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
        loop = asyncio.get_running_loop()
        try:
            primary = await loop.run_in_executor(self._pool, self.target.primary)
        except Exception:
            return None
        return primary if primary in self.target.nodes else None

    def _why_late(self, planned: int | None, woke: int, context: StartContext | None) -> str | None:
        if planned is None or self.clock() - planned <= ON_TIME_S * 1e9:
            return None
        why = [f"the nemesis woke {(woke - planned) / 1e6:.0f} ms after its time"]
        if context is not None and context.asked_s:
            why.append(f"asking the cluster for its primary took {1000 * context.asked_s:.0f} ms")
        return "; ".join(why)

    async def start(
        self, step: FaultStep, nodes: tuple[str, ...], client_groups: tuple[str, ...]
    ) -> Undo:
        """Start ``step``'s fault now and wait for its op to be recorded; return the coroutine
        function that undoes it (once)."""
        started = await self._start(step, Cluster(tuple(nodes), tuple(client_groups)))
        await started.recorded
        return lambda: started.undo(None)

    async def _start(
        self,
        step: FaultStep,
        cluster: Cluster,
        index: int | None = None,
        planned: int | None = None,
    ) -> _Started:
        """Aim ``step``'s fault, then (with no wait between, so the order of decisions is the
        order of changes) hold its items, record its invoke and hand its calls to the lanes."""
        woke = self.clock()
        kind = faults.kind(step.kind)
        context = StartContext(cluster, self.capabilities, self.partition_mode, self._primary)
        try:
            fault = await kind.begin(step.params, context)
        except Exception as exc:
            return self._unstartable(kind.start_f, step, index, planned, exc)
        effect = kind.effect
        fid = self.in_effect.acquire(effect.name, fault.items)
        recorded = self._operate(
            kind.start_f,
            fault.value,
            effect,
            fault.items,
            fault.start,
            step=index,
            planned=planned,
            why_late=self._why_late(planned, woke, context),
            bound=self.bound,
        )

        def undo(planned_end: int | None) -> Awaitable[bool]:
            return self._undo(effect, fault.items, fid, step=index, planned=planned_end)

        return _Started(recorded, undo)

    def _unstartable(
        self, f: str, step: FaultStep, index: int | None, planned: int | None, exc: Exception
    ) -> _Started:
        """A step whose fault could not even be aimed: recorded ``info``; nothing to undo."""
        self.record(PROCESS, "invoke", f, step.params, step=index, planned=planned)
        error = f"could not start: {type(exc).__name__}: {exc}"
        self.record(PROCESS, "info", f, step.params, step=index, error=error)

        async def done() -> bool:
            return False

        async def nothing(planned_end: int | None) -> bool:
            return True

        return _Started(asyncio.create_task(done()), nothing)

    def _operate(
        self,
        f: str,
        value: Any,
        effect: Effect,
        items: Collection[Hashable],
        action: Action,
        *,
        step: int | None,
        planned: int | None,
        why_late: str | None,
        bound: float,
        settle: Callable[[bool], None] | None = None,
    ) -> asyncio.Task[bool]:
        """Record the invoke and start one call per item, now; return the task that records the
        op's outcome once every call returned or ``bound`` passed (True when ok). ``settle`` is
        told the outcome (also when the op is interrupted: then False)."""
        self.record(PROCESS, "invoke", f, value, step=step, planned=planned, why_late=why_late)
        calls = [self._submit(effect.lane, item, action, f, step) for item in _ordered(items)]
        task = asyncio.create_task(self._outcome(f, value, calls, step, bound, settle))
        self._ops.add(task)
        task.add_done_callback(self._ops.discard)
        return task

    async def _outcome(
        self,
        f: str,
        value: Any,
        calls: list[_Call],
        step: int | None,
        bound: float,
        settle: Callable[[bool], None] | None,
    ) -> bool:
        ok = False
        try:
            tasks = [call.task for call in calls if call.task is not None]
            if tasks:
                await asyncio.wait(tasks, timeout=bound)
            problem = _problem(calls, bound)
            ok = problem is None
            if ok:
                self.record(PROCESS, "ok", f, value, step=step)
            else:
                self.record(PROCESS, "info", f, value, step=step, error=problem)
            return ok
        except asyncio.CancelledError:
            error = "interrupted: the run stopped first"
            self.record(PROCESS, "info", f, value, step=step, error=error)
            raise
        finally:
            if settle is not None:
                settle(ok)

    def _submit(self, lane: str, item: Hashable, action: Action, f: str, step: int | None) -> _Call:
        key = (lane, item)
        behind = self._lanes.get(key)
        if behind is not None and behind.state == "done":
            behind = None
        call = _Call(key, f, step, behind, "waiting" if behind else "running")
        call.task = asyncio.create_task(self._perform(call, action))
        self._lanes[key] = call
        self._calls.add(call)
        return call

    async def _perform(self, call: _Call, action: Action) -> None:
        try:
            if call.behind is not None and call.behind.task is not None:
                await asyncio.wait([call.behind.task])
            call.state = "running"
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._pool, action, self._controls, call.item)
        except Exception as exc:
            call.error = f"{type(exc).__name__}: {exc}"
        finally:
            call.state = "done"
            call.behind = None
            self._calls.discard(call)
            if self._lanes.get(call.key) is call:
                del self._lanes[call.key]

    async def _undo(
        self,
        effect: Effect,
        items: Iterable[Hashable],
        fid: int | None,
        *,
        step: int | None = None,
        planned: int | None = None,
        bound: float | None = None,
    ) -> bool:
        """Undo the fault ``fid`` (with ``None``: whatever holds ``items``, and what of them was
        not confirmed undone): what no other fault holds any more is undone and recorded; if
        that is not confirmed, it stays owed, so :meth:`heal_all` undoes it again."""
        woke = self.clock()
        items = set(items)
        freed = self.in_effect.release(effect.name, items, fid)
        if fid is None:
            freed |= items & self.in_effect.unsure.get(effect.name, set())
        if not freed:
            return True

        def settle(ok: bool) -> None:
            if ok:
                self.in_effect.confirm(effect.name, freed)
            else:
                self.in_effect.doubt(effect.name, freed)

        recorded = self._operate(
            effect.undo_f,
            effect.value(freed),
            effect,
            freed,
            effect.undo,
            step=step,
            planned=planned,
            why_late=self._why_late(planned, woke, None),
            bound=self.bound if bound is None else bound,
            settle=settle,
        )
        return await asyncio.shield(recorded)

    async def _settle(self, bound: float) -> None:
        """Wait (at most ``bound`` seconds) for every op to be recorded and every call to
        return."""
        pending = [*self._ops, *(c.task for c in self._calls if c.task is not None)]
        if pending:
            await asyncio.wait(pending, timeout=bound)

    async def heal_all(self) -> bool:
        """Undo every fault still in effect (and what was not confirmed undone), recording each
        undo; True when nothing is left.

        Waits first for the calls still running (within ``heal_bound``). Idempotent: with
        nothing in effect it records nothing. What fails to undo stays owed (recorded
        ``info``), so calling again retries it.
        """
        await self._settle(self.heal_bound)
        undos = [
            self._undo(effect, owed, None, bound=self.heal_bound)
            for effect in EFFECTS
            if (owed := self.in_effect.owed(effect.name))
        ]
        # gather starts them in this order: the network is healed before the processes
        await asyncio.gather(*undos)
        return self.in_effect.empty()


def _ordered(items: Collection[Hashable]) -> list[Hashable]:
    return sorted(items, key=_item_words)
