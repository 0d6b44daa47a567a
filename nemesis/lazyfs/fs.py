"""The FUSE process: serves a :class:`~nemesis.lazyfs.model.LazyTree` at a mount point.

Run as ``python -m nemesis.lazyfs BACKING MOUNTPOINT --control SOCKET``. It stays in the
foreground until the mount is unmounted (then it syncs everything to BACKING, see
:meth:`LazyTree.sync_all`) and answers one-line commands on the Unix socket SOCKET:

- ``ping``: ``{"ok": true}`` once the mount serves requests;
- ``lose``: drop every change not synced (a power loss); ``{"ok": true, "dropped": N}``;
- ``sync``: make everything durable now; ``{"ok": true}``.

The kernel is told to cache nothing (attribute, entry and negative timeouts of 0, no
``kernel_cache``), so after ``lose`` a process that opens a file reads the durable data. Only
this module imports ``mfusepy``, so the rest of the nemesis works where FUSE is absent.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import socket
import stat
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from nemesis.lazyfs.model import FsError, LazyTree

T = TypeVar("T")
log = logging.getLogger("lazyfs")
FSNAME_PREFIX = "lazyfs:"  # the mount's source in /proc/mounts, so leftovers can be found

INSTALL_HINT = (
    "lazyfs needs /dev/fuse, libfuse3 and fusermount3 (Debian: apt-get install fuse3) and the "
    "Python package mfusepy (pip install mfusepy; scripts/setup.sh installs both)"
)


def _load_mfusepy() -> Any:
    try:
        import mfusepy
    except (ImportError, OSError) as exc:
        raise RuntimeError(f"cannot load FUSE bindings ({exc}); {INSTALL_HINT}") from exc
    return mfusepy


def make_operations(tree: LazyTree, lock: threading.Lock) -> Any:
    """An ``mfusepy.Operations`` serving ``tree``; every call holds ``lock``."""
    mfusepy = _load_mfusepy()

    class LazyOperations(mfusepy.Operations):  # type: ignore[misc,name-defined]
        use_ns = True

        def _locked(self, fn: Callable[[], T]) -> T:
            with lock:
                try:
                    return fn()
                except FsError as exc:
                    raise mfusepy.FuseOSError(exc.errno) from None

        def getattr(self, path: str | None, fh: int | None = None) -> dict[str, int]:
            def attrs() -> dict[str, int]:
                node = tree.node(path, fh)
                kind = stat.S_IFDIR if node.is_dir else stat.S_IFREG
                return {
                    "st_mode": kind | node.mode,
                    "st_nlink": 2 if node.is_dir else 1,
                    "st_size": len(node.data),
                    "st_uid": os.getuid(),
                    "st_gid": os.getgid(),
                    "st_mtime": node.mtime_ns,
                    "st_ctime": node.mtime_ns,
                    "st_atime": node.mtime_ns,
                }

            return self._locked(attrs)

        def readdir(self, path: str, fh: int) -> list[str]:
            return self._locked(lambda: [".", "..", *tree.children(path)])

        def access(self, path: str, amode: int) -> int:
            self._locked(lambda: tree.lookup(path))
            return 0

        def open(self, path: str, flags: int) -> int:
            return self._locked(lambda: tree.open(path))

        def create(self, path: str, mode: int, fi: Any = None) -> int:
            return self._locked(lambda: tree.create(path, mode))

        def release(self, path: str | None, fh: int) -> int:
            self._locked(lambda: tree.release(fh))
            return 0

        def read(self, path: str | None, size: int, offset: int, fh: int) -> bytes:
            return self._locked(lambda: tree.read(tree.node(path, fh), size, offset))

        def write(self, path: str | None, data: bytes, offset: int, fh: int) -> int:
            return self._locked(lambda: tree.write(tree.node(path, fh), data, offset))

        def truncate(self, path: str | None, length: int, fh: int | None = None) -> int:
            self._locked(lambda: tree.truncate(tree.node(path, fh), length))
            return 0

        def fsync(self, path: str | None, datasync: int, fh: int) -> int:
            self._locked(lambda: tree.fsync_inode(tree.node(path, fh).ino))
            return 0

        def fsyncdir(self, path: str, datasync: int, fh: int) -> int:
            self._locked(lambda: tree.fsyncdir(path))
            return 0

        def flush(self, path: str | None, fh: int) -> int:
            return 0

        def unlink(self, path: str) -> int:
            self._locked(lambda: tree.unlink(path))
            return 0

        def mkdir(self, path: str, mode: int) -> int:
            self._locked(lambda: tree.mkdir(path, mode))
            return 0

        def rmdir(self, path: str) -> int:
            self._locked(lambda: tree.rmdir(path))
            return 0

        def rename(self, old: str, new: str) -> int:
            self._locked(lambda: tree.rename(old, new))
            return 0

        def chmod(self, path: str, mode: int) -> int:
            self._locked(lambda: tree.chmod(tree.lookup(path), mode))
            return 0

        def chown(self, path: str, uid: int, gid: int) -> int:
            return 0

        def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
            return 0

        def statfs(self, path: str) -> dict[str, int]:
            st = os.statvfs(tree.backing)
            keys = ("f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail", "f_files")
            return {k: getattr(st, k) for k in (*keys, "f_ffree", "f_favail", "f_namemax")}

        def destroy(self, path: str) -> None:
            with lock:
                tree.sync_all()

    return LazyOperations()


def _answer(tree: LazyTree, lock: threading.Lock, command: str) -> dict[str, Any]:
    with lock:
        if command == "ping":
            return {"ok": True}
        if command == "lose":
            return {"ok": True, "dropped": tree.lose_power()}
        if command == "sync":
            tree.sync_all()
            return {"ok": True}
    return {"ok": False, "error": f"unknown command {command!r}; use ping, lose or sync"}


def serve_control(path: Path, tree: LazyTree, lock: threading.Lock) -> socket.socket:
    """Answer control commands on the Unix socket ``path`` from a daemon thread."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(4)

    def connections() -> Iterator[socket.socket]:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            yield conn

    def loop() -> None:
        for conn in connections():
            with conn:
                try:
                    command = conn.makefile("r").readline().strip()
                    reply = _answer(tree, lock, command)
                except Exception as exc:  # the reply carries it; the mount keeps serving
                    reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
                with contextlib.suppress(OSError):
                    conn.sendall(json.dumps(reply).encode() + b"\n")

    threading.Thread(target=loop, name="lazyfs-control", daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m nemesis.lazyfs",
        description="Mount BACKING at MOUNTPOINT, keeping writes that were not fsynced in memory.",
    )
    parser.add_argument("backing", type=Path)
    parser.add_argument("mountpoint", type=Path)
    parser.add_argument("--control", type=Path, required=True, help="Unix socket for commands")
    parser.add_argument("--debug", action="store_true", help="log every FUSE request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING)
    if not os.path.exists("/dev/fuse"):
        print(f"lazyfs: /dev/fuse is missing; {INSTALL_HINT}", file=sys.stderr)
        return 2
    try:
        mfusepy = _load_mfusepy()
        tree = LazyTree(args.backing)
    except (RuntimeError, OSError) as exc:
        print(f"lazyfs: {exc}", file=sys.stderr)
        return 2
    lock = threading.Lock()
    server = serve_control(args.control, tree, lock)
    options: dict[str, Any] = {
        "foreground": True,
        "nothreads": True,
        "hard_remove": True,
        "attr_timeout": 0,
        "entry_timeout": 0,
        "negative_timeout": 0,
        "fsname": f"{FSNAME_PREFIX}{args.backing}",
    }
    if os.geteuid() == 0:
        options["allow_other"] = True
    try:
        mfusepy.FUSE(make_operations(tree, lock), str(args.mountpoint), **options)
    except RuntimeError as exc:
        print(f"lazyfs: mounting {args.mountpoint} failed ({exc}); {INSTALL_HINT}", file=sys.stderr)
        return 1
    finally:
        server.close()
        with contextlib.suppress(FileNotFoundError):
            args.control.unlink()
    return 0
