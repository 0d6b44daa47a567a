"""The state of a lazy filesystem: what processes see, and what a power loss would leave.

A :class:`LazyTree` holds two views of one directory tree. The *volatile* view is what every
process using the mount sees: every write, create, rename, truncate and unlink as it happened. The
*durable* view is the backing directory on the real disk: it changes only when a file or a
directory is synced. :meth:`LazyTree.lose_power` throws the volatile view away and starts again
from the durable one, which is what a machine finds on its disk after the power came back.

What a sync makes durable (a model of a careful Linux filesystem, a little stricter than ext4):

- ``fsync``/``fdatasync`` of a file makes its data, size and mode durable at every name it has on
  disk. A file that has no name on disk yet (created since the last sync of its directory) also
  gets its current name and its missing parent directories on disk, as ext4 and xfs do.
- ``fsync`` of a directory makes its entries durable: names created or renamed into it appear on
  disk (with the data the file had at its last sync, or empty), names unlinked or renamed away
  from it disappear from disk.
- Nothing else reaches the disk: closing a file does not, and no background writeback happens.
  So a rename or unlink is lost unless its directory is synced, as SQLite's ``synchronous=EXTRA``
  documentation warns.
- :meth:`LazyTree.sync_all` makes everything durable; the mount calls it on a clean unmount, so a
  harness that unmounts cleanly finds in the backing directory what the processes last saw.

The tree is held in memory whole (file contents included): it is meant for a node's data
directory of a few megabytes, not for bulk data. Hard links and symbolic links are not supported.
The class is not thread-safe; the FUSE layer serialises calls with one lock.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

PAGE = 4096


class FsError(OSError):
    """A filesystem error with an ``errno`` the FUSE layer returns to the caller."""

    def __init__(self, code: int, path: str = "") -> None:
        super().__init__(code, os.strerror(code), path)


@dataclass
class Inode:
    """One file or directory. ``dirty`` holds the pages written since the last sync."""

    ino: int
    is_dir: bool
    mode: int
    data: bytearray = field(default_factory=bytearray)
    dirty: set[int] = field(default_factory=set)
    mtime_ns: int = field(default_factory=time.time_ns)

    def mark(self, start: int, end: int) -> None:
        if end > start:
            self.dirty.update(range(start // PAGE, (end - 1) // PAGE + 1))


def parent(path: str) -> str:
    """``"/a/b"`` -> ``"/a"``; ``"/a"`` -> ``"/"``."""
    head = path.rsplit("/", 1)[0]
    return head or "/"


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


class LazyTree:
    """The volatile and durable views of the tree rooted at ``backing`` (a real directory)."""

    def __init__(self, backing: Path) -> None:
        self.backing = Path(backing)
        if not self.backing.is_dir():
            raise FileNotFoundError(f"backing directory {self.backing} does not exist")
        self._next = 1
        self.inodes: dict[int, Inode] = {}
        self.durable: dict[str, int] = {}
        self.handles: dict[int, int] = {}
        self._next_fh = 1
        self._load()

    # ----------------------------------------------------------------- loading and power loss

    def _new(self, is_dir: bool, mode: int, data: bytes = b"") -> Inode:
        node = Inode(self._next, is_dir, mode, bytearray(data))
        self._next += 1
        self.inodes[node.ino] = node
        return node

    def _real(self, path: str) -> Path:
        return self.backing / path.lstrip("/") if path != "/" else self.backing

    def _load(self) -> None:
        """Read the backing directory: both views start equal to it."""
        self.inodes.clear()
        self.durable.clear()
        for path, real in self._walk():
            st = real.lstat()
            if stat.S_ISDIR(st.st_mode):
                node = self._new(True, stat.S_IMODE(st.st_mode))
            elif stat.S_ISREG(st.st_mode):
                node = self._new(False, stat.S_IMODE(st.st_mode), real.read_bytes())
            else:
                continue
            node.mtime_ns = st.st_mtime_ns
            self.durable[path] = node.ino
        self.volatile: dict[str, int] = dict(self.durable)

    def _walk(self) -> Iterator[tuple[str, Path]]:
        yield "/", self.backing
        for dirpath, dirnames, filenames in os.walk(self.backing):
            rel = os.path.relpath(dirpath, self.backing)
            prefix = "" if rel == "." else "/" + rel
            for name in sorted(dirnames) + sorted(filenames):
                yield f"{prefix}/{name}", Path(dirpath) / name

    def lose_power(self) -> int:
        """Drop every change not synced; return how many pages and names were dropped.

        Open handles stay valid only for files that exist on disk; others fail with ``ESTALE``.
        """
        dropped = sum(len(n.dirty) for n in self.inodes.values())
        dropped += len(set(self.volatile.items()) ^ set(self.durable.items()))
        handles = {fh: ino for fh, ino in self.handles.items()}
        by_path = {p: self.inodes[i] for p, i in self.durable.items()}
        self._load()
        remap = {old.ino: self.durable[p] for p, old in by_path.items()}
        self.handles = {fh: remap.get(ino, -1) for fh, ino in handles.items()}
        return dropped

    def sync_all(self) -> None:
        """Make the whole volatile view durable (a clean shutdown)."""
        for path in sorted((p for p, i in self.volatile.items() if self.inodes[i].is_dir), key=len):
            self.fsyncdir(path)
        for ino in set(self.volatile.values()):
            if not self.inodes[ino].is_dir:
                self.fsync_inode(ino)

    # ----------------------------------------------------------------- lookups

    def lookup(self, path: str) -> Inode:
        ino = self.volatile.get(path)
        if ino is None:
            raise FsError(errno.ENOENT, path)
        return self.inodes[ino]

    def by_handle(self, fh: int) -> Inode:
        node = self.inodes.get(self.handles.get(fh, -1))
        if node is None:
            raise FsError(errno.ESTALE)
        return node

    def node(self, path: str | None, fh: int | None) -> Inode:
        return self.by_handle(fh) if fh else self.lookup(path or "/")

    def children(self, path: str) -> list[str]:
        self._dir(path)
        return sorted(p.rsplit("/", 1)[1] for p in self.volatile if p != "/" and parent(p) == path)

    def _dir(self, path: str) -> Inode:
        node = self.lookup(path)
        if not node.is_dir:
            raise FsError(errno.ENOTDIR, path)
        return node

    def _absent(self, path: str) -> None:
        if path in self.volatile:
            raise FsError(errno.EEXIST, path)
        self._dir(parent(path))

    # ----------------------------------------------------------------- volatile changes

    def open(self, path: str) -> int:
        return self._handle(self.lookup(path))

    def _handle(self, node: Inode) -> int:
        fh = self._next_fh
        self._next_fh += 1
        self.handles[fh] = node.ino
        return fh

    def release(self, fh: int) -> None:
        ino = self.handles.pop(fh, None)
        if ino is not None:
            self._collect(ino)

    def _collect(self, ino: int) -> None:
        """Forget an inode that no name, durable name or handle refers to any more."""
        live = set(self.volatile.values()) | set(self.durable.values()) | set(self.handles.values())
        if ino not in live:
            self.inodes.pop(ino, None)

    def create(self, path: str, mode: int) -> int:
        self._absent(path)
        node = self._new(False, stat.S_IMODE(mode))
        self.volatile[path] = node.ino
        return self._handle(node)

    def mkdir(self, path: str, mode: int) -> None:
        self._absent(path)
        self.volatile[path] = self._new(True, stat.S_IMODE(mode)).ino

    def read(self, node: Inode, size: int, offset: int) -> bytes:
        return bytes(node.data[offset : offset + size])

    def write(self, node: Inode, data: bytes, offset: int) -> int:
        old = len(node.data)
        if offset > old:
            node.data.extend(bytes(offset - old))
        node.data[offset : offset + len(data)] = data
        node.mark(min(old, offset), offset + len(data))
        node.mtime_ns = time.time_ns()
        return len(data)

    def truncate(self, node: Inode, length: int) -> None:
        old = len(node.data)
        if length < old:
            del node.data[length:]
        else:
            node.data.extend(bytes(length - old))
            node.mark(old, length)
        node.mtime_ns = time.time_ns()

    def unlink(self, path: str) -> None:
        node = self.lookup(path)
        if node.is_dir:
            raise FsError(errno.EISDIR, path)
        del self.volatile[path]
        self._collect(node.ino)

    def rmdir(self, path: str) -> None:
        node = self._dir(path)
        if path == "/":
            raise FsError(errno.EBUSY, path)
        if self.children(path):
            raise FsError(errno.ENOTEMPTY, path)
        del self.volatile[path]
        self._collect(node.ino)

    def rename(self, old: str, new: str) -> None:
        node = self.lookup(old)
        self._dir(parent(new))
        if _under(new, old) and new != old:
            raise FsError(errno.EINVAL, new)
        target = self.volatile.get(new)
        if target is not None and target != node.ino:
            if self.inodes[target].is_dir != node.is_dir:
                raise FsError(errno.EISDIR if self.inodes[target].is_dir else errno.ENOTDIR, new)
            if self.inodes[target].is_dir and self.children(new):
                raise FsError(errno.ENOTEMPTY, new)
            del self.volatile[new]
        moved = {p: i for p, i in self.volatile.items() if _under(p, old)}
        for p in moved:
            del self.volatile[p]
        for p, i in moved.items():
            self.volatile[new + p[len(old) :]] = i
        if target is not None:
            self._collect(target)

    def chmod(self, node: Inode, mode: int) -> None:
        node.mode = stat.S_IMODE(mode)

    # ----------------------------------------------------------------- syncs (the only disk writes)

    def _durable_paths(self, ino: int) -> list[str]:
        return [p for p, i in self.durable.items() if i == ino]

    def fsync_inode(self, ino: int) -> None:
        """Make a file's data durable at its names on disk (or its current names if none)."""
        node = self.inodes[ino]
        if node.is_dir:
            return
        paths = self._durable_paths(ino)
        if not paths:
            paths = [p for p, i in self.volatile.items() if i == ino]
            for path in paths:
                self._ensure_dir(parent(path))
                self._put(path, node, full=True)
        else:
            for path in paths:
                self._put(path, node, full=False)
        node.dirty.clear()

    def _put(self, path: str, node: Inode, *, full: bool) -> None:
        """Write ``node``'s volatile data at ``path`` on disk and fsync it."""
        real = self._real(path)
        old = self.inodes.get(self.durable.get(path, -1))
        if old is not None and old.ino != node.ino and old.is_dir:
            self._remove(path)
        full = full or self.durable.get(path) != node.ino
        fd = os.open(real, os.O_RDWR | os.O_CREAT, node.mode)
        try:
            pages = range((len(node.data) + PAGE - 1) // PAGE) if full else sorted(node.dirty)
            for page in pages:
                chunk = node.data[page * PAGE : (page + 1) * PAGE]
                if chunk:
                    os.pwrite(fd, chunk, page * PAGE)
            os.ftruncate(fd, len(node.data))
            os.fchmod(fd, node.mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        self.durable[path] = node.ino

    def _ensure_dir(self, path: str) -> None:
        ino = self.volatile.get(path)
        if ino is None or self.durable.get(path) == ino:
            return
        self._ensure_dir(parent(path))
        if path in self.durable:
            self._remove(path)
        self._real(path).mkdir(mode=self.inodes[ino].mode)
        self.durable[path] = ino
        _fsync_dir(self._real(parent(path)))

    def _remove(self, path: str) -> None:
        real = self._real(path)
        if real.is_dir() and not real.is_symlink():
            shutil.rmtree(real)
        else:
            real.unlink(missing_ok=True)
        for p in [p for p in self.durable if _under(p, path)]:
            del self.durable[p]

    def fsyncdir(self, path: str) -> None:
        """Make the entries of directory ``path`` durable as the volatile view has them."""
        self._dir(path)
        self._ensure_dir(path)
        wanted = {p: i for p, i in self.volatile.items() if p != "/" and parent(p) == path}
        present = {p: i for p, i in self.durable.items() if p != "/" and parent(p) == path}
        for p, ino in wanted.items():
            if present.get(p) == ino:
                continue
            node = self.inodes[ino]
            if node.is_dir:
                self._ensure_dir(p)
                continue
            self._put(p, self._durable_copy(node), full=True)
            self.durable[p] = ino
        for p, ino in present.items():
            if wanted.get(p) != ino and self.durable.get(p) == ino:
                self._remove(p)
        _fsync_dir(self._real(path))
        for ino in set(present.values()) - set(self.volatile.values()):
            self._collect(ino)

    def _durable_copy(self, node: Inode) -> Inode:
        """``node`` as the disk has it: its data at its last sync, or empty if never synced."""
        paths = self._durable_paths(node.ino)
        data = self._real(paths[0]).read_bytes() if paths else b""
        return Inode(node.ino, False, node.mode, bytearray(data))


def _fsync_dir(real: Path) -> None:
    fd = os.open(real, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
