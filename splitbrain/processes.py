"""Child processes that cannot outlive the harness, even when it is killed with SIGKILL.

Shared by every package that starts processes (the backends, the nemesis's Toxiproxy and lazyfs,
the reference cluster's launcher), so it sits on the floor they all stand on.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """For ``subprocess.Popen(preexec_fn=...)``: the kernel sends ``sig`` (SIGKILL) to the child
    when the thread that started it exits (Linux ``PR_SET_PDEATHSIG``); elsewhere it does nothing.

    Start such children from a long-lived thread (the main thread or a pool that lives as long
    as the run), since the signal follows the starting thread, not the process.
    """
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, sig)


def process_start_time(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot, or None if it is gone.

    Together with the pid it names a process uniquely, even after the pid is reused.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ")".
    return stat.rsplit(")", 1)[1].split()[19]
