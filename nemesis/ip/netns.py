"""Run commands and processes inside a network namespace, every call bounded by a timeout.

A namespace is named by the path of its namespace file: ``/run/netns/NAME`` for one made with
``ip netns add``, ``/proc/PID/ns/net`` for a container's. Commands go through ``nsenter --net``,
which changes only the network namespace (unlike ``ip netns exec``, it leaves the mount namespace
and ``/sys`` alone). Processes enter with :func:`enter_preexec`, a ``setns(2)`` between fork and
exec: the process Popen returns *is* the program (no wrapper), so kill -9, SIGSTOP and power loss
act on it as on any other child, and it sees every mount the harness sees, lazyfs mounts made
later included.

Every failure raises :class:`IpNetworkError` naming the command, its stderr and what to do.
"""

from __future__ import annotations

import ctypes
import os
import socket
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from splitbrain.errors import SplitbrainError

CLONE_NEWNET = 0x40000000
DEFAULT_TIMEOUT = 10.0
_INSTALL = {
    "nft": "install nftables: bash scripts/setup.sh (as root)",
    "iptables-legacy": "install iptables: bash scripts/setup.sh (as root)",
    "iptables-legacy-restore": "install iptables: bash scripts/setup.sh (as root)",
    "ip": "install iproute2: apt-get install iproute2",
    "tc": "install iproute2: apt-get install iproute2",
    "nsenter": "install util-linux: apt-get install util-linux",
    "sysctl": "install procps: apt-get install procps",
}


class IpNetworkError(SplitbrainError, RuntimeError):
    """The IP network layer could not do what was asked; the message says what to do next."""


@dataclass(frozen=True)
class Netns:
    """A network namespace, by the path of its namespace file; ``label`` names it in errors."""

    path: str
    label: str

    @classmethod
    def named(cls, name: str) -> Netns:
        """The namespace ``ip netns add NAME`` made."""
        return cls(f"/run/netns/{name}", f"namespace {name}")

    @classmethod
    def of_process(cls, pid: int, what: str = "") -> Netns:
        """The namespace process ``pid`` (a container's init, say) lives in."""
        return cls(f"/proc/{pid}/ns/net", what or f"the namespace of pid {pid}")

    def argv(self, *command: str) -> list[str]:
        """``command`` to run inside this namespace."""
        return ["nsenter", f"--net={self.path}", "--", *command]


def run(
    argv: Sequence[str],
    *,
    netns: Netns | None = None,
    input: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    check: bool = True,
    what: str = "",
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` (inside ``netns`` when given) and return what it did.

    With ``check`` a non-zero exit raises :class:`IpNetworkError`; so do a missing program, a
    missing permission and a command that outlives ``timeout`` seconds (it is killed first).
    ``what`` says in errors what the command was for.
    """
    full = netns.argv(*argv) if netns is not None else list(argv)
    where = f" in {netns.label}" if netns is not None else ""
    shown = " ".join(argv)
    try:
        done = subprocess.run(
            full, input=input, capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError as exc:
        raise IpNetworkError(
            f"{shown!r}{where} failed: {exc.filename or full[0]} is not installed; "
            f"{_INSTALL.get(full[0], 'install it')}"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise IpNetworkError(
            f"{shown!r}{where} did not finish in {timeout:g} s and was killed"
            f"{' (' + what + ')' if what else ''}; the machine may be overloaded: try again"
        ) from exc
    if check and done.returncode != 0:
        raise IpNetworkError(
            f"{shown!r}{where} exited {done.returncode}{' (' + what + ')' if what else ''}: "
            f"{done.stderr.strip() or done.stdout.strip() or 'no output'}; "
            f"{hint(full, done.stderr)}"
        )
    return done


def hint(argv: Sequence[str], stderr: str) -> str:
    """What to do about a failed command, from its program and its stderr."""
    text = stderr.lower()
    if "operation not permitted" in text or "permission denied" in text or os.geteuid() != 0:
        return "the IP network needs root: run as root"
    if "no such file or directory" in text and "nsenter" in argv[:1]:
        return "the namespace is gone (its run was torn down, or its container stopped)"
    program = argv[3] if argv[:1] == ["nsenter"] and len(argv) > 3 else argv[0]
    if "not found" in text or "unknown" in text or "not supported" in text:
        return f"this kernel or {program} lacks a feature it needs; {_INSTALL.get(program, '')}"
    return f"see the message of {program}"


def setns(path: str) -> None:
    """Move the calling thread into the network namespace at ``path`` (``setns(2)``)."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns({path}): {os.strerror(errno)}")
    finally:
        os.close(fd)


def enter_preexec(netns: Netns, then: Callable[[], None] | None = None) -> Callable[[], None]:
    """A ``preexec_fn`` that moves the child into ``netns`` (then calls ``then``, such as
    :func:`nemesis.orphans.die_with_parent`). If the namespace is gone, Popen raises
    ``subprocess.SubprocessError`` (the child's exception cannot cross the exec)."""

    def preexec() -> None:
        setns(netns.path)
        if then is not None:
            then()

    return preexec


def socket_in(netns: Netns | None, kind: int = socket.SOCK_STREAM) -> socket.socket:
    """A new IPv4 socket that belongs to ``netns`` (the caller's namespace when None).

    A socket lives in the namespace of the thread that made it, whatever thread uses it later,
    so this makes it in a short-lived thread that entered ``netns``; the calling thread never
    changes namespace. Hand it to asyncio with ``sock=`` to talk from inside a node's network.
    """
    if netns is None:
        return socket.socket(socket.AF_INET, kind)
    made: list[socket.socket] = []
    failed: list[OSError] = []

    def make() -> None:
        try:
            setns(netns.path)
            made.append(socket.socket(socket.AF_INET, kind))
        except OSError as exc:
            failed.append(exc)

    thread = threading.Thread(target=make, name=f"socket in {netns.label}")
    thread.start()
    thread.join()
    if failed:
        raise IpNetworkError(
            f"cannot make a socket in {netns.label}: {failed[0]}; run as root, and check the "
            "namespace still exists"
        ) from failed[0]
    return made[0]
