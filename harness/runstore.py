"""Where runs live: ``histories/<test-name>/<UTC timestamp>/`` and the ``histories/latest`` link.

A run directory holds test.json, history.jsonl, results.json, report.html and logs/ (see
history-format.md). Commands that take a run accept a run directory, a bare history.jsonl, or
``latest``.
"""

from __future__ import annotations

import contextlib
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson


def new_run_dir(root: Path, test_name: str, now: datetime | None = None) -> Path:
    """Create and return a fresh run directory; a second run in the same second gets a suffix."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    base = root / test_name
    base.mkdir(parents=True, exist_ok=True)
    for attempt in range(1000):
        path = base / (stamp if attempt == 0 else f"{stamp}-{attempt}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        (path / "logs").mkdir()
        return path
    raise RuntimeError(f"could not create a run directory under {base}; remove old runs there")


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


def write_json(path: Path, data: Any) -> None:
    """Write JSON through a temporary file and a rename, so readers never see half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    tmp.replace(path)


def resolve_run(arg: str, root: Path = Path("histories")) -> Path:
    """A run argument as a path: ``latest`` means the newest run under ``root``."""
    if arg == "latest":
        return (root / "latest").resolve()
    return Path(arg)
