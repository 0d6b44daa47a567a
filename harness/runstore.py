"""Where runs live: ``histories/<test-name>/<UTC timestamp>/`` and the ``histories/latest`` link.

A run directory holds test.json, history.jsonl, results.json, report.html and logs/ (see
history-format.md). Commands that take a run accept a run directory (``histories/latest``
too, being a link to one) or a bare history.jsonl.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from splitbrain.errors import SplitbrainError


class RunDirError(SplitbrainError, OSError):
    """The run directory cannot be made or written (an OSError, so callers that catch those still
    do); the message is one line naming the path, the system's reason and what to do."""


def _os_problem(path: Path, exc: OSError, what: str) -> RunDirError:
    reason = exc.strerror or type(exc).__name__
    return RunDirError(
        f"cannot {what} {path}: {reason}; pass --out a folder you can write to "
        "(not under a regular file) with free space"
    )


def new_run_dir(root: Path, test_name: str, now: datetime | None = None) -> Path:
    """Create and return a fresh run directory; a second run in the same second gets a suffix.
    Raises :class:`RunDirError` when the folders cannot be made."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    base = root / test_name
    try:
        base.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _os_problem(base, exc, "create the run folder") from None
    for attempt in range(1000):
        path = base / (stamp if attempt == 0 else f"{stamp}-{attempt}")
        try:
            path.mkdir()
            (path / "logs").mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise _os_problem(path, exc, "create the run directory") from None
        return path
    raise RunDirError(f"could not create a run directory under {base}; remove old runs there")


def point_latest(root: Path, run_dir: Path) -> None:
    """Make ``root/latest`` a relative symlink to ``run_dir`` (replaced atomically)."""
    link = root / "latest"
    tmp = root / f".latest-{os.getpid()}-{time.monotonic_ns()}"
    try:
        tmp.symlink_to(os.path.relpath(run_dir, root))
        tmp.replace(link)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()


def json_bytes(data: Any) -> bytes:
    """``data`` as indented JSON with a newline at the end, keys in their given order."""
    return orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n"


def write_json(path: Path, data: Any) -> None:
    """Replace ``path`` with ``data`` as JSON, atomically (see :func:`write_bytes`)."""
    write_bytes(path, json_bytes(data))


def write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``, so that a reader sees the old file or the new one
    (a temporary file in the same folder, synced, then renamed; removed again on failure).
    Raises :class:`RunDirError` when the folder cannot be written."""
    try:
        handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise _os_problem(path, exc, "write") from None
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except OSError as exc:
        Path(temp).unlink(missing_ok=True)
        raise _os_problem(path, exc, "write") from None
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
