"""The lazy filesystem: what survives a power loss, through a real FUSE mount and real SQLite.

The Hypothesis property drives :class:`LazyTree` (the state behind the mount) directly against a
plain model of names, inodes and synced data, on a real backing directory.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from nemesis.lazyfs import LazyFS, LazyFSError, leftover_mounts, mount, unmount_leftovers
from nemesis.lazyfs.model import LazyTree


@pytest.fixture
def lazy(tmp_path: Path, fuse_available: None) -> Iterator[LazyFS]:
    """A lazyfs mount on a fresh backing directory, unmounted after the test."""
    with mount(tmp_path / "disk", tmp_path / "mnt") as fs:
        yield fs
    assert not os.path.ismount(tmp_path / "mnt")


def _write(path: Path, data: bytes, *, sync: bool) -> None:
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def test_fsynced_data_survives_and_unsynced_data_is_lost(lazy: LazyFS) -> None:
    mnt = lazy.mountpoint
    _write(mnt / "kept", b"synced", sync=True)
    _write(mnt / "gone", b"never synced", sync=False)
    fd = os.open(mnt / "kept", os.O_WRONLY | os.O_APPEND)
    os.write(fd, b" and more")
    os.close(fd)
    assert (mnt / "kept").read_bytes() == b"synced and more"
    assert sorted(os.listdir(lazy.backing)) == ["kept"]

    assert lazy.lose_unsynced() > 0

    assert sorted(os.listdir(mnt)) == ["kept"]
    assert (mnt / "kept").read_bytes() == b"synced"


def test_unlink_and_rename_are_lost_unless_the_directory_is_synced(lazy: LazyFS) -> None:
    mnt = lazy.mountpoint
    _write(mnt / "a", b"A", sync=True)
    _write(mnt / "b", b"B", sync=True)
    os.unlink(mnt / "a")
    os.rename(mnt / "b", mnt / "c")
    lazy.lose_unsynced()
    assert sorted(os.listdir(mnt)) == ["a", "b"]

    os.unlink(mnt / "a")
    os.rename(mnt / "b", mnt / "c")
    dfd = os.open(mnt, os.O_RDONLY | os.O_DIRECTORY)
    os.fsync(dfd)
    os.close(dfd)
    lazy.lose_unsynced()
    assert sorted(os.listdir(mnt)) == ["c"]
    assert (mnt / "c").read_bytes() == b"B"


def test_clean_unmount_writes_everything_to_the_backing_directory(
    tmp_path: Path, fuse_available: None
) -> None:
    with mount(tmp_path / "disk", tmp_path / "mnt") as fs:
        (fs.mountpoint / "sub").mkdir()
        _write(fs.mountpoint / "sub" / "f", b"unsynced", sync=False)
    assert (tmp_path / "disk" / "sub" / "f").read_bytes() == b"unsynced"


def _sqlite_rows(path: Path, synchronous: str, commits: int) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    with db:
        db.execute("CREATE TABLE t (i INTEGER PRIMARY KEY)")
    for i in range(commits):
        with db:
            db.execute("INSERT INTO t VALUES (?)", (i,))
    return db


def _count_after_power_loss(fs: LazyFS, name: str) -> int:
    fs.lose_unsynced()
    db = sqlite3.connect(fs.mountpoint / name)
    try:
        return db.execute("SELECT count(*) FROM t").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # the table itself was never synced
    finally:
        db.close()


def test_sqlite_with_synchronous_full_keeps_every_commit(lazy: LazyFS) -> None:
    db = _sqlite_rows(lazy.mountpoint / "full.db", "FULL", 50)
    # the connection stays open, as a killed process leaves it: nothing is checkpointed
    try:
        assert _count_after_power_loss(lazy, "full.db") == 50
    finally:
        db.close()


def test_sqlite_with_synchronous_off_loses_recent_commits(lazy: LazyFS) -> None:
    db = _sqlite_rows(lazy.mountpoint / "off.db", "OFF", 50)
    try:
        assert db.execute("SELECT count(*) FROM t").fetchone()[0] == 50
        assert _count_after_power_loss(lazy, "off.db") < 50
    finally:
        db.close()


def test_mount_reports_a_backing_directory_it_cannot_create(
    tmp_path: Path, fuse_available: None
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(LazyFSError, match=r"cannot create the lazyfs backing directory .*/disk"):
        mount(blocker / "disk", tmp_path / "mnt")
    assert not os.path.ismount(tmp_path / "mnt")


def test_a_killed_harness_takes_its_mount_down_cleanly(
    tmp_path: Path, fuse_available: None
) -> None:
    code = (
        "import os, sys, time\n"
        "from nemesis.lazyfs import mount\n"
        "fs = mount(sys.argv[1], sys.argv[2])\n"
        "open(os.path.join(sys.argv[2], 'f'), 'w').write('unsynced')\n"
        "print(fs.process.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    harness = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path / "disk"), str(tmp_path / "mnt")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        fuse_pid = int(harness.stdout.readline())
    finally:
        harness.kill()
        harness.wait()
    for _ in range(100):
        if not os.path.exists(f"/proc/{fuse_pid}"):
            break
        time.sleep(0.1)
    assert not os.path.ismount(tmp_path / "mnt")
    assert (tmp_path / "disk" / "f").read_text() == "unsynced"  # the clean unmount synced it


def test_leftover_mounts_are_found_and_unmounted(tmp_path: Path, fuse_available: None) -> None:
    fs = mount(tmp_path / "disk", tmp_path / "mnt")  # no ``with``: as a crashed harness leaves it
    try:
        assert fs.mountpoint in leftover_mounts()
        assert unmount_leftovers(under=tmp_path) == [fs.mountpoint]
        assert not os.path.ismount(fs.mountpoint)
        fs.process.wait(10)
    finally:
        fs.unmount()


# ----------------------------------------------------------------- the model, by property

NAMES = ["a", "b"]
op = st.one_of(
    st.tuples(st.just("create"), st.sampled_from(NAMES)),
    st.tuples(
        st.just("write"),
        st.sampled_from(NAMES),
        st.integers(0, 9000),
        st.binary(min_size=1, max_size=5000),
    ),
    st.tuples(st.just("truncate"), st.sampled_from(NAMES), st.integers(0, 12000)),
    st.tuples(st.just("fsync"), st.sampled_from(NAMES)),
    st.tuples(st.just("fsyncdir")),
    st.tuples(st.just("unlink"), st.sampled_from(NAMES)),
    st.tuples(st.just("rename"), st.sampled_from(NAMES), st.sampled_from(NAMES)),
    st.tuples(st.just("lose")),
)


class Reference:
    """Names -> inode ids in each view, and each inode's volatile and synced data."""

    def __init__(self) -> None:
        self.vol: dict[str, int] = {}
        self.dur: dict[str, int] = {}
        self.data: dict[int, bytes] = {}
        self.synced: dict[int, bytes] = {}
        self.next = 0

    def apply(self, step: tuple) -> None:
        kind, *args = step
        if kind == "create" and args[0] not in self.vol:
            self.next += 1
            self.vol[args[0]], self.data[self.next] = self.next, b""
        elif kind == "write" and args[0] in self.vol:
            ino, (off, data) = self.vol[args[0]], args[1:]
            old = self.data[ino].ljust(off, b"\0")
            self.data[ino] = old[:off] + data + old[off + len(data) :]
        elif kind == "truncate" and args[0] in self.vol:
            ino = self.vol[args[0]]
            self.data[ino] = self.data[ino][: args[1]].ljust(args[1], b"\0")
        elif kind == "fsync" and args[0] in self.vol:
            ino = self.vol[args[0]]
            self.synced[ino] = self.data[ino]
            if ino not in self.dur.values():
                self.dur[args[0]] = ino
        elif kind == "fsyncdir":
            self.dur = dict(self.vol)
            for ino in self.dur.values():
                self.synced.setdefault(ino, b"")
        elif kind == "unlink" and args[0] in self.vol:
            del self.vol[args[0]]
        elif kind == "rename" and args[0] in self.vol:
            self.vol[args[1]] = self.vol.pop(args[0])
        elif kind == "lose":
            self.vol = dict(self.dur)
            self.data = {i: self.synced[i] for i in self.dur.values()}

    def volatile(self) -> dict[str, bytes]:
        return {n: self.data[i] for n, i in self.vol.items()}

    def durable(self) -> dict[str, bytes]:
        return {n: self.synced[i] for n, i in self.dur.items()}


def _apply(tree: LazyTree, step: tuple) -> None:
    kind, *args = step
    path = "/" + args[0] if args else "/"
    if kind in ("write", "truncate", "fsync", "unlink", "rename") and path not in tree.volatile:
        return
    if kind == "create" and path not in tree.volatile:
        tree.release(tree.create(path, 0o644))
    elif kind == "write":
        tree.write(tree.lookup(path), args[2], args[1])
    elif kind == "truncate":
        tree.truncate(tree.lookup(path), args[1])
    elif kind == "fsync":
        tree.fsync_inode(tree.lookup(path).ino)
    elif kind == "fsyncdir":
        tree.fsyncdir("/")
    elif kind == "unlink":
        tree.unlink(path)
    elif kind == "rename":
        tree.rename(path, "/" + args[1])
    elif kind == "lose":
        tree.lose_power()


SHRINK_THEN_WRITE_PAST_END = [
    ("create", "a"),
    ("write", "a", 0, b"x" * 8000),
    ("fsync", "a"),
    ("truncate", "a", 100),
    ("write", "a", 5000, b"y"),
    ("fsync", "a"),
]


@given(st.lists(op, min_size=3, max_size=40))
@example(SHRINK_THEN_WRITE_PAST_END)
@example([*SHRINK_THEN_WRITE_PAST_END[:4], ("truncate", "a", 8000), ("fsync", "a")])
def test_tree_matches_the_reference_model(tmp_path_factory: pytest.TempPathFactory, steps) -> None:
    backing = tmp_path_factory.mktemp("disk")
    tree, ref = LazyTree(backing), Reference()
    for step in steps:
        _apply(tree, step)
        ref.apply(step)
        seen = {p[1:]: bytes(tree.lookup(p).data) for p in tree.volatile if p != "/"}
        assert seen == ref.volatile(), step
        on_disk = {p.name: p.read_bytes() for p in backing.iterdir()}
        assert on_disk == ref.durable(), step
    tree.sync_all()
    assert {p.name: p.read_bytes() for p in backing.iterdir()} == ref.volatile()
