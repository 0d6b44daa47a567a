"""The harness's side of one NFQUEUE delayer (:mod:`nemesis.ip.delayer`): start it inside a
namespace, give it rules, stop it. Every wait is bounded; a delayer that died is reported, never
talked to."""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from typing import IO, Any

from nemesis.ip.netns import IpNetworkError, Netns, enter_preexec
from nemesis.ip.rules import DelayRule


class DelayerProcess:
    """A running delayer in ``netns`` bound to NFQUEUE ``queue``.

    It exits when its stdin closes: on :meth:`stop`, and when this process ends in any way,
    SIGKILL included (the kernel closes the pipe). There is deliberately no parent-death signal:
    it follows the *thread* that started the child, and the nemesis calls from worker threads
    that may end long before the run does.
    """

    def __init__(
        self, netns: Netns, queue: int, *, seed: int = 0, limit: int = 10000, timeout: float = 10.0
    ) -> None:
        self.netns = netns
        self.queue = queue
        self.timeout = timeout
        self._next_id = 0
        self._buffer = b""
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the process)
        argv = [sys.executable, "-m", "nemesis.ip.delayer", "--queue", str(queue)]
        argv += ["--limit", str(limit), "--seed", str(seed)]
        try:
            self.process: subprocess.Popen[bytes] = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                preexec_fn=enter_preexec(netns),
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise IpNetworkError(
                f"cannot start the packet delayer in {netns.label}: {exc}; run as root, and "
                "check the namespace still exists"
            ) from exc
        reply = self._read_reply("start")
        if "ready" not in reply:
            self.stop()
            raise IpNetworkError(
                f"the packet delayer in {netns.label} did not start: {reply.get('error', reply)}; "
                "install NetfilterQueue and libnetfilter-queue (bash scripts/setup.sh, as root)"
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def configure(self, rules: Iterable[DelayRule]) -> dict[str, Any]:
        """Replace the delayer's rules; returns its answer (``held``, ``dropped``) once it has
        them."""
        self._next_id += 1
        line = json.dumps({"id": self._next_id, "rules": [r.to_json() for r in rules]})
        stdin = self._pipe(self.process.stdin)
        try:
            stdin.write(line.encode() + b"\n")
            stdin.flush()
        except (BrokenPipeError, ValueError) as exc:
            raise self._died("was given rules") from exc
        reply = self._read_reply("rules")
        if reply.get("ok") != self._next_id:
            raise IpNetworkError(
                f"the packet delayer in {self.netns.label} refused its rules: {reply}; "
                "this is a bug of splitbrain"
            )
        return reply

    def stop(self) -> None:
        """Close its stdin (it releases what it holds and exits), kill it if it lingers.
        Idempotent."""
        if self.process.stdin is not None and not self.process.stdin.closed:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=self.timeout)
        if self.process.stdout is not None:
            self.process.stdout.close()
        self._stderr.close()

    def _pipe(self, pipe: IO[bytes] | None) -> IO[bytes]:
        if pipe is None or not self.alive():
            raise self._died("was used")
        return pipe

    def _read_reply(self, what: str) -> dict[str, Any]:
        """One JSON line from its stdout, waiting at most ``timeout``."""
        stdout = self.process.stdout
        assert stdout is not None
        fd = stdout.fileno()
        deadline = time.monotonic() + self.timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise IpNetworkError(
                    f"the packet delayer in {self.netns.label} did not answer ({what}) in "
                    f"{self.timeout:g} s; the machine may be overloaded: try again"
                )
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                raise self._died(f"answered ({what})")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        try:
            reply = json.loads(line)
        except ValueError:
            reply = {"error": line.decode(errors="replace")}
        return reply if isinstance(reply, dict) else {"error": repr(reply)}

    def _died(self, when: str) -> IpNetworkError:
        code = self.process.poll()
        err = b""
        if code is not None:
            with contextlib.suppress(OSError, ValueError):
                self._stderr.seek(0)
                err = self._stderr.read()
        return IpNetworkError(
            f"the packet delayer in {self.netns.label} died before it {when} (exit {code}): "
            f"{err.decode(errors='replace').strip()[-1000:] or 'no output'}; the delays it held "
            "are gone: clear and set them again"
        )
