"""Appends operations to ``history.jsonl`` as they happen (history-format.md, version 1).

Operations recorded on a running event loop are written together once the loop's current turn
ends (one ``write`` per turn, not one per operation: at the generator's rates the system calls
cost more than everything else the recorder does). Operations recorded with no running loop are
written at once, after any still waiting. So a run killed half-way keeps every operation but
those of its last turn, and a line is never torn; :meth:`flush` and :meth:`close` write what
waits. ``index`` counts lines from 0 and ``time`` is nanoseconds on the monotonic clock since the
recorder was created; both are assigned under one lock, so neither goes backwards down the file.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import orjson


class Recorder:
    """Thread-safe, append-only writer of one history file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = open(path, "ab", buffering=0)  # noqa: SIM115 (closed by close())
        self._lock = threading.Lock()
        self._start = time.monotonic_ns()
        self._index = 0
        self._waiting: list[bytes] = []

    def record(
        self,
        process: int | str,
        type: str,
        f: str,
        value: Any,
        **extra: Any,
    ) -> dict[str, Any]:
        """Append one operation and return it as written (with its ``index`` and ``time``).

        ``extra`` holds optional fields (``node``, ``error``, ...); ``None`` values are left out.
        """
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        with self._lock:
            if self._file.closed:
                raise ValueError(f"{self.path}: an operation recorded after the recorder closed")
            op: dict[str, Any] = {
                "index": self._index,
                "time": time.monotonic_ns() - self._start,
                "process": process,
                "type": type,
                "f": f,
                "value": value,
            }
            for k, v in extra.items():
                if v is not None:
                    op[k] = v
            self._waiting.append(orjson.dumps(op, option=orjson.OPT_APPEND_NEWLINE))
            self._index += 1
            if loop is None:
                self._write_waiting()
            elif len(self._waiting) == 1:
                loop.call_soon(self.flush)
        return op

    def flush(self) -> None:
        """Write every operation recorded so far (nothing once closed: closing wrote them)."""
        with self._lock:
            if not self._file.closed:
                self._write_waiting()

    def _write_waiting(self) -> None:
        if self._waiting:
            self._file.write(b"".join(self._waiting))
            self._waiting.clear()

    def clock(self) -> int:
        """Now on this history's clock: nanoseconds since the recorder was created, as ``time``
        is stamped (so a caller can say when it meant an operation to happen)."""
        return time.monotonic_ns() - self._start

    @property
    def count(self) -> int:
        return self._index

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._write_waiting()
                self._file.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
