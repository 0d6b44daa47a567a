"""Loopback ports for the processes a run starts, picked so that nothing else is handed them
between the pick and the process binding them."""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

FIRST = 10_000  # below this, ports other services commonly use


def ephemeral_low() -> int:
    """The first port of the kernel's ephemeral range (``ip_local_port_range``)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port_block(count: int, host: str = "127.0.0.1") -> int:
    """The first of ``count`` consecutive ports free on ``host`` now, below the ephemeral range.

    A port picked there stays free for the process it is meant for: ``bind(0)`` (a proxy's
    listener) and outgoing connections only ever get ports of the ephemeral range. Where the
    search starts depends on the process id, so concurrent runs rarely pick the same block.
    """
    span = ephemeral_low() - count - FIRST + 1
    if span < 1:
        raise OSError(f"no room for {count} ports between {FIRST} and the ephemeral range")
    offset = os.getpid() * 7 % span
    for i in range(span):
        base = FIRST + (offset + i) % span
        with contextlib.ExitStack() as held:
            try:
                for port in range(base, base + count):
                    held.enter_context(socket.socket()).bind((host, port))
            except OSError:
                continue
            return base
    raise OSError(f"no {count} consecutive free ports on {host} below the ephemeral range")
