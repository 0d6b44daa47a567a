"""Mount a lazy filesystem from the harness, and always unmount it.

``with mount(backing, mountpoint) as fs:`` starts ``python -m nemesis.lazyfs`` in its own
session, returns once the mount serves requests, and on leaving the block (normally, on an error
or on Ctrl-C) unmounts it: cleanly first (which makes every change durable in ``backing``), lazily
(``fusermount3 -uz`` / ``umount -l``) if it is busy, killing the FUSE process as a last resort.
If the harness itself is killed, the FUSE process gets SIGTERM and unmounts cleanly (Linux's
parent-death signal follows the thread that called :func:`mount`: call it from a thread that
lives as long as the mount, such as the main thread).
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from nemesis.lazyfs.fs import FSNAME_PREFIX, INSTALL_HINT
from splitbrain.errors import SplitbrainError
from splitbrain.processes import die_with_parent


class LazyFSError(SplitbrainError, RuntimeError):
    """The lazy filesystem could not be mounted, controlled or unmounted; the message says why."""


def missing_requirements() -> list[str]:
    """What this machine lacks to mount a lazy filesystem (empty when nothing is missing)."""
    missing = []
    if not os.path.exists("/dev/fuse"):
        missing.append("/dev/fuse (load the fuse module, or give the container --device /dev/fuse)")
    if shutil.which("fusermount3") is None:
        missing.append("fusermount3 (Debian: apt-get install fuse3)")
    if importlib.util.find_spec("mfusepy") is None:
        missing.append("the Python package mfusepy (pip install mfusepy)")
    return missing


@dataclass
class LazyFS:
    """A running lazy filesystem: ``backing`` is the disk, ``mountpoint`` what processes use."""

    backing: Path
    mountpoint: Path
    control: Path
    process: subprocess.Popen[bytes]
    log: Path

    def _command(self, command: str, timeout: float = 30.0) -> dict[str, Any]:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout)
                sock.connect(str(self.control))
                sock.sendall(command.encode() + b"\n")
                reply: dict[str, Any] = json.loads(sock.makefile("r").readline() or "{}")
        except (OSError, ValueError) as exc:
            raise LazyFSError(
                f"lazyfs at {self.mountpoint} did not answer {command!r} ({exc}); "
                f"its log is {self.log}: {self.log_tail()}"
            ) from exc
        if not reply.get("ok"):
            raise LazyFSError(f"lazyfs at {self.mountpoint}: {command!r} failed: {reply}")
        return reply

    def lose_unsynced(self) -> int:
        """Drop every change not fsynced (a power loss); return how many pages/names went.

        Kill the processes using the mount first: one still running may keep stale pages.
        """
        return int(self._command("lose").get("dropped", 0))

    def sync(self) -> None:
        """Make every change durable in ``backing`` now."""
        self._command("sync")

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, limit: int = 2000) -> str:
        try:
            return self.log.read_text(errors="replace")[-limit:].strip() or "(empty)"
        except OSError:
            return "(no log)"

    def unmount(self, timeout: float = 10.0) -> None:
        """Unmount (cleanly if possible) and end the FUSE process; safe to call twice."""
        if os.path.ismount(self.mountpoint):
            clean = _run(["fusermount3", "-u", str(self.mountpoint)])
            if not clean:
                _lazy_unmount(self.mountpoint)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            _lazy_unmount(self.mountpoint)
        shutil.rmtree(self.control.parent, ignore_errors=True)

    def __enter__(self) -> LazyFS:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.unmount()


def _run(argv: list[str]) -> bool:
    if shutil.which(argv[0]) is None:
        return False
    done = subprocess.run(argv, capture_output=True, check=False, timeout=30)
    return done.returncode == 0


def _lazy_unmount(mountpoint: Path) -> None:
    if not _run(["fusermount3", "-uz", str(mountpoint)]):
        _run(["umount", "-l", str(mountpoint)])


def mount(backing: Path | str, mountpoint: Path | str, timeout: float = 15.0) -> LazyFS:
    """Mount ``backing`` lazily at ``mountpoint`` (both created if missing) and wait until ready.

    Raises :class:`LazyFSError` naming what to install when FUSE is missing, with the FUSE
    process's own words when it fails to mount.
    """
    missing = missing_requirements()
    if missing:
        raise LazyFSError(f"cannot mount lazyfs: missing {'; '.join(missing)}. {INSTALL_HINT}")
    backing, mountpoint = Path(backing).resolve(), Path(mountpoint).resolve()
    if os.path.ismount(mountpoint) or _stale(mountpoint):
        _lazy_unmount(mountpoint)
    for what, path in (("backing directory", backing), ("mount point", mountpoint)):
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise LazyFSError(f"cannot create the lazyfs {what} {path}: {exc}") from exc
    workdir = Path(tempfile.mkdtemp(prefix="lazyfs-"))
    control, log = workdir / "control.sock", workdir / "lazyfs.log"
    argv = [sys.executable, "-m", "nemesis.lazyfs", str(backing), str(mountpoint)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*argv, "--control", str(control)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=functools.partial(die_with_parent, signal.SIGTERM),
        )
    fs = LazyFS(backing, mountpoint, control, process, log)
    try:
        _wait_ready(fs, timeout)
    except BaseException:
        fs.unmount(timeout=2.0)
        raise
    return fs


def leftover_mounts(mounts: Path = Path("/proc/mounts")) -> list[Path]:
    """Mount points of lazyfs mounts on this machine (a crashed harness leaves them behind)."""
    try:
        lines = mounts.read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        fields = line.split()
        if len(fields) >= 3 and fields[0].startswith(FSNAME_PREFIX) and "fuse" in fields[2]:
            found.append(Path(fields[1].replace("\\040", " ")))
    return found


def unmount_leftovers(
    under: Path | None = None, stale_only: bool = False, dry_run: bool = False
) -> list[Path]:
    """Lazily unmount every lazyfs mount left behind (only those below ``under`` if given, only
    those whose FUSE process died with ``stale_only``); return their mount points. Each one's
    FUSE process then exits by itself. ``dry_run`` only returns them."""
    root = Path(under).resolve() if under is not None else None
    found = [m for m in leftover_mounts() if root is None or m.is_relative_to(root)]
    if stale_only:
        found = [m for m in found if _stale(m)]
    if dry_run:
        return found
    for mountpoint in found:
        _lazy_unmount(mountpoint)
    return found


def _stale(mountpoint: Path) -> bool:
    """A mount left by a FUSE process that died ("Transport endpoint is not connected")."""
    try:
        os.stat(mountpoint)
    except OSError as exc:
        return exc.errno == 107
    return False


def _wait_ready(fs: LazyFS, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not fs.alive():
            raise LazyFSError(
                f"lazyfs for {fs.mountpoint} exited with {fs.process.returncode}: {fs.log_tail()}"
            )
        if os.path.ismount(fs.mountpoint) and fs.control.exists():
            with contextlib.suppress(LazyFSError):
                fs._command("ping", timeout=2.0)
                return
        time.sleep(0.05)
    raise LazyFSError(f"lazyfs for {fs.mountpoint} not ready after {timeout}s: {fs.log_tail()}")
