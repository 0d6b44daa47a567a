"""Appends operations to ``history.jsonl`` as they happen (history-format.md, version 1).

Every line is written and flushed at once, so a run killed half-way keeps each operation it
recorded. ``index`` counts lines from 0 and ``time`` is nanoseconds on the monotonic clock since
the recorder was created; both are assigned under one lock, so neither goes backwards down the
file.
"""

from __future__ import annotations

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
        with self._lock:
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
            self._file.write(orjson.dumps(op, option=orjson.OPT_APPEND_NEWLINE))
            self._index += 1
        return op

    @property
    def count(self) -> int:
        return self._index

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
