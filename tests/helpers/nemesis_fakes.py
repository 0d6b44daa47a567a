"""Stand-ins for what the nemesis acts on and records into: a cluster whose processes and links are
plain sets (both a :class:`nemesis.interface.Target` and a
:class:`nemesis.interface.NetworkControl`), and an in-memory history with the recorder's clock.

The fake world models only what the real parts promise (cutting a cut link again is harmless;
killing a paused node kills it; pausing or resuming a dead node does nothing; restarting a running
one does nothing), can be told to fail, and can take a while per call (``call_time``). It is called
from the nemesis's worker threads, several calls at once, as the real ones are.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection
from typing import Any

Link = tuple[str, str]


class FakeWorld:
    """Processes and links of a cluster as plain sets; raises on calls while ``failing``."""

    def __init__(
        self,
        nodes: tuple[str, ...] = ("n1", "n2", "n3"),
        client_groups: tuple[str, ...] = ("c0",),
        primary: str | None = "n1",
        call_time: float = 0.0,
    ) -> None:
        self.nodes = nodes
        self.client_groups = client_groups
        self.down: set[str] = set()
        self.paused: set[str] = set()
        self.lost_power: list[str] = []
        self.cut_links: set[Link] = set()
        self.latent: dict[Link, tuple[int, int]] = {}
        self.current_primary = primary
        self.failing = False
        self.call_time = call_time
        self.calls: list[tuple[str, Any]] = []
        self.lock = threading.Lock()

    def _call(self, what: str, item: Any) -> None:
        if self.call_time:
            time.sleep(self.call_time)
        with self.lock:
            self.calls.append((what, item))
        if self.failing:
            raise OSError(f"{what}: injected failure")

    # Target (and PowerLossTarget)
    def _down(self, node: str) -> None:
        with self.lock:
            self.down.add(node)
            self.paused.discard(node)

    def kill(self, node: str) -> None:
        self._call("kill", node)
        self._down(node)

    def power_loss(self, node: str) -> None:
        self._call("power_loss", node)
        self._down(node)
        self.lost_power.append(node)

    def restart(self, node: str) -> None:
        self._call("restart", node)
        with self.lock:
            self.down.discard(node)

    def pause(self, node: str) -> None:
        self._call("pause", node)
        with self.lock:
            if node not in self.down:
                self.paused.add(node)

    def resume(self, node: str) -> None:
        self._call("resume", node)
        with self.lock:
            self.paused.discard(node)

    def primary(self) -> str | None:
        return self.current_primary

    # NetworkControl
    def cut(self, links: Collection[Link], mode: str = "drop") -> None:
        self._call("cut", tuple(sorted(links)))
        with self.lock:
            self.cut_links |= set(links)

    def heal(self, links: Collection[Link]) -> None:
        self._call("heal", tuple(sorted(links)))
        with self.lock:
            self.cut_links -= set(links)

    def delay(self, links: Collection[Link], ms: int, jitter: int = 0) -> None:
        self._call("delay", tuple(sorted(links)))
        with self.lock:
            self.latent.update(dict.fromkeys(links, (ms, jitter)))

    def clear_delay(self, links: Collection[Link]) -> None:
        self._call("clear_delay", tuple(sorted(links)))
        with self.lock:
            for link in links:
                self.latent.pop(link, None)

    def whole(self) -> bool:
        return not (self.down or self.paused or self.cut_links or self.latent)


class History:
    """A stand-in for the Recorder (``record`` and ``clock``) that keeps operations in memory,
    thread-safe; ``time`` is in ns, as in history.jsonl."""

    def __init__(self) -> None:
        self.ops: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._start = time.monotonic_ns()
        self.on_record: Any = None

    def clock(self) -> int:
        return time.monotonic_ns() - self._start

    def record(self, process: int | str, type: str, f: str, value: Any, **extra: Any) -> dict:
        op = {"time": self.clock(), "process": process, "type": type, "f": f}
        op.update(value=value, **{k: v for k, v in extra.items() if v is not None})
        with self._lock:
            op["index"] = len(self.ops)
            self.ops.append(op)
        if self.on_record:
            self.on_record(op)
        return op

    def pairs(self) -> list[tuple[str, str]]:
        return [(op["type"], op["f"]) for op in self.ops]
