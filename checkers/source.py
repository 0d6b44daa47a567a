"""A history file read in chunks of whole lines: bounded memory per line, and progress.

Every reader (JSON lines, EDN op maps, Jepsen queue EDN) takes its bytes from :func:`chunks`, so
they share two promises: no line longer than :data:`MAX_LINE_BYTES` is ever held whole (such a
line is refused with its file and line number as soon as the cap is passed, not after it was read
into memory), and a caller's ``progress`` hook hears how far the read has got.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from checkers.errors import HistoryError

MAX_LINE_BYTES = 16 * 1024 * 1024
"""The longest line a history may have. An operation is a few hundred bytes; a send to a group of
10^5 users is about 1.5 MB. Anything longer is not an operation of any format read here."""
CHUNK_BYTES = 8 * 1024 * 1024

Progress = Callable[[str, int, int], None]
"""``progress(phase, done, total)``: ``phase`` names the step ("read", then the checks), ``done``
and ``total`` count its units (bytes while reading; ``total`` is 0 when unknown)."""
PROGRESS_EVERY_S = 1.0


def no_progress(phase: str, done: int, total: int) -> None:
    """The default hook: nothing to tell."""


@dataclass(frozen=True, slots=True)
class Chunk:
    """Whole lines ``lines`` (newlines removed) starting at 1-based line ``first``; ``last`` is
    true on the final chunk of the file."""

    first: int
    lines: list[bytes]
    last: bool


def chunks(
    stream: BinaryIO,
    source: str,
    size: int = 0,
    progress: Progress = no_progress,
    max_line: int = MAX_LINE_BYTES,
    chunk_bytes: int = CHUNK_BYTES,
) -> Iterator[Chunk]:
    """The lines of ``stream`` in chunks (``size``: its length in bytes, for progress).

    Raises :class:`HistoryError` naming the line when a line grows past ``max_line`` bytes.
    """
    pending = b""
    line = 1
    done = 0
    told = time.monotonic()
    progress("read", 0, size)
    block = stream.read(chunk_bytes)
    while True:
        done += len(block)
        following = stream.read(chunk_bytes) if block else b""
        data = pending + block if pending else block
        if not following:  # the last chunk: every line left, the one after a final newline too
            lines = data.split(b"\n")
            if lines[-1] == b"":
                lines.pop()
            if lines:
                longest = _longest(lines)
                _check_length(lines[longest], source, line + longest, max_line)
            yield Chunk(line, lines, True)
            break
        cut = data.rfind(b"\n")
        if cut < 0:
            pending = data
            _check_length(pending, source, line, max_line)
            block = following
            continue
        lines = data[:cut].split(b"\n")
        pending = data[cut + 1 :]
        if chunk_bytes < max_line:
            _check_length(lines[0], source, line, max_line)  # only the first can have grown
        else:
            _check_length(lines[_longest(lines)], source, line + _longest(lines), max_line)
        _check_length(pending, source, line + len(lines), max_line)
        yield Chunk(line, lines, False)
        line += len(lines)
        block = following
        now = time.monotonic()
        if now - told >= PROGRESS_EVERY_S:
            progress("read", done, size)
            told = now
    progress("read", done, size)


def _longest(lines: list[bytes]) -> int:
    return max(range(len(lines)), key=lambda i: len(lines[i]))


def _check_length(data: bytes, source: str, line: int, max_line: int) -> None:
    if len(data) > max_line:
        raise HistoryError(
            source,
            line,
            f"line {line} is longer than {max_line // (1024 * 1024)} MiB (the most one operation "
            "may take), so it was not read whole",
            "No recorder writes such a line: the file is damaged or not a history. Cut that line "
            "out (or give the right file) and run the check again.",
        )
