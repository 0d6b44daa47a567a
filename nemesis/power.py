"""The ``power-loss`` fault: nodes lose power at once, and with it every write they did not fsync.

A power loss is ``kill -9`` of each node's process followed by dropping the un-synced writes of
its data directory, which must be a lazyfs mount (:mod:`nemesis.lazyfs`); its undo is a restart
on the same mount, which then holds only what was fsynced. Every process is killed before any
write is dropped, so no node sees another's loss while it runs.

The step's params (and the history's ``value``) are ``{"nodes": [...]}``: one node, a minority or
all of them. :class:`LazyDisks` gives a backend one mount per node.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from nemesis.lazyfs import LazyFS, mount

SCOPES: Mapping[str, str] = {
    "one": "one node",
    "minority": "a minority of the nodes (one node of three, two of five)",
    "all": "every node at once",
}


class PowerTarget(Protocol):
    """A cluster whose nodes can be killed and whose data directories can lose power."""

    def kill(self, node: str) -> None:
        """``kill -9`` the node's process; returns once it is dead."""
        ...

    def lose_unsynced(self, node: str) -> int:
        """Drop the node's un-synced writes; the count of pages and names dropped."""
        ...


def scope_nodes(scope: str, nodes: Sequence[str], rng: random.Random) -> list[str]:
    """The nodes a power loss of ``scope`` hits, drawn from ``rng``, in the order of ``nodes``."""
    if scope not in SCOPES:
        raise ValueError(f"unknown power-loss scope {scope!r}; valid scopes are: {list(SCOPES)}")
    if not nodes:
        raise ValueError("a power loss needs at least one node")
    count = {"one": 1, "minority": max(1, (len(nodes) - 1) // 2), "all": len(nodes)}[scope]
    chosen = set(rng.sample(list(nodes), count))
    return [n for n in nodes if n in chosen]


def draw_params(nodes: Sequence[str], rng: random.Random) -> dict[str, Any]:
    """Params of one ``power-loss`` step: a scope drawn from :data:`SCOPES`, then its nodes."""
    return {"nodes": scope_nodes(rng.choice(tuple(SCOPES)), nodes, rng)}


def check_params(params: Mapping[str, Any], nodes: Sequence[str]) -> list[str]:
    """The nodes of a ``power-loss`` step's params; ``ValueError`` saying what is wrong."""
    hit = params.get("nodes")
    if (
        not isinstance(hit, list)
        or not hit
        or not set(hit) <= set(nodes)
        or len(set(hit)) != len(hit)
    ):
        raise ValueError(
            f"power-loss needs nodes: a non-empty list of distinct nodes of {list(nodes)}"
        )
    return list(hit)


def supported(target: object) -> bool:
    """Whether ``target`` can lose power: it has ``lose_unsynced`` and, when it says so with a
    ``can_lose_power`` attribute, its backend did mount the data directories on lazyfs."""
    has_method = callable(getattr(target, "lose_unsynced", None))
    return has_method and bool(getattr(target, "can_lose_power", True))


def unsupported_reason(target: object) -> str:
    return (
        f"{type(target).__name__} cannot lose power: its nodes' data directories are not on "
        "lazyfs (the backend must mount them with nemesis.power.LazyDisks)"
    )


def cut_power(target: PowerTarget, nodes: Sequence[str]) -> dict[str, int]:
    """Kill every node of ``nodes``, then drop each one's un-synced writes.

    Returns what each node's disk dropped. The nodes stay down: restart them to undo. Raises
    ``TypeError`` before killing anything when the target's data directories are not on lazyfs.
    """
    if not supported(target):
        raise TypeError(unsupported_reason(target))
    for node in nodes:
        target.kill(node)
    return {node: target.lose_unsynced(node) for node in nodes}


@dataclass
class LazyDisks:
    """One lazyfs mount per node, under ``root/<node>/``; unmounts every one on exit.

    ``root/<node>/disk`` is the backing directory (the node's real disk), ``root/<node>/mnt`` the
    mount its process must keep its data files in. A clean unmount writes everything to the disk.
    """

    root: Path
    mounts: dict[str, LazyFS] = field(default_factory=dict)

    def mount(self, node: str) -> Path:
        """Mount ``node``'s data directory (once) and return the mount point."""
        if node not in self.mounts:
            base = Path(self.root) / node
            self.mounts[node] = mount(base / "disk", base / "mnt")
        return self.mounts[node].mountpoint

    def lose_unsynced(self, node: str) -> int:
        return self.mounts[node].lose_unsynced()

    def unmount_all(self) -> None:
        errors = []
        for node, fs in list(self.mounts.items()):
            try:
                fs.unmount()
            except Exception as exc:  # unmount the others all the same
                errors.append(f"{node}: {exc}")
            del self.mounts[node]
        if errors:
            raise RuntimeError(f"could not unmount lazyfs of {'; '.join(errors)}")

    def __enter__(self) -> LazyDisks:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.unmount_all()
