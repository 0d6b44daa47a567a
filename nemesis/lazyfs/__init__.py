"""A filesystem that forgets what was not fsynced when the power goes (after Jepsen's lazyfs).

A node's data directory is mounted through FUSE; writes, creates, renames, truncates and unlinks
stay in the FUSE process's memory until a file or directory is synced (see
:mod:`nemesis.lazyfs.model` for exactly what a sync makes durable). :meth:`LazyFS.lose_unsynced`
is the power loss; a clean unmount writes everything out. Start one with :func:`mount`.
"""

from nemesis.lazyfs.mount import (
    LazyFS,
    LazyFSError,
    leftover_mounts,
    missing_requirements,
    mount,
    unmount_leftovers,
)

__all__ = [
    "LazyFS",
    "LazyFSError",
    "leftover_mounts",
    "missing_requirements",
    "mount",
    "unmount_leftovers",
]
