"""Whether this kernel has netem: asked by adding one on a scratch namespace's loopback.

Reading ``/proc/config.gz`` would only tell how the kernel was built, not whether the qdisc can
be loaded, so the probe does what the control would do, in a namespace of its own named after
the run (``<run id>-probe``, which ``splitbrain clean`` removes if the probe is killed).
"""

from __future__ import annotations

import contextlib

from nemesis.ip.names import RunNames
from nemesis.ip.netns import DEFAULT_TIMEOUT, IpNetworkError, Netns, run


def kernel_has_netem(names: RunNames, timeout: float = DEFAULT_TIMEOUT) -> tuple[bool, str]:
    """(True, "") when a netem qdisc can be added here; else (False, the kernel's answer)."""
    probe = names.probe_netns()
    run(["ip", "netns", "add", probe], timeout=timeout, what="the netem probe's namespace")
    try:
        done = run(
            ["tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"],
            netns=Netns.named(probe),
            check=False,
            timeout=timeout,
        )
    finally:
        with contextlib.suppress(IpNetworkError):
            run(["ip", "netns", "del", probe], timeout=timeout)
    if done.returncode == 0:
        return True, ""
    answer = done.stderr.strip() or f"tc exited {done.returncode}"
    return False, f"this kernel has no netem: `tc qdisc add ... netem` said {answer!r}"
