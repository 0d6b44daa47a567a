"""The disks of the ``power-loss`` fault: one lazyfs mount per node (:mod:`nemesis.lazyfs`).

A power loss is ``kill -9`` of a node's process followed by dropping the un-synced writes of its
data directory, which must be such a mount; its undo is a restart on the same mount, which then
holds only what was fsynced. The fault kind itself (its params ``{"nodes": [...]}``, its words,
which nodes a profile hits) is in :mod:`nemesis.faults`; a backend whose nodes live on
:class:`LazyDisks` offers ``power_loss(node)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from nemesis.lazyfs import LazyFS, mount


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
