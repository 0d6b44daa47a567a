"""The NFQUEUE delayer: a process in one node's namespace that holds queued packets for a while.

Why it exists: latency is netem's job, but the kernels splitbrain runs on in CI (Firecracker
VMs) are built without netem (``CONFIG_NET_SCH_NETEM`` unset, no loadable modules) and without
nft's ``queue`` statement. They do have iptables-legacy's NFQUEUE target, which hands a packet
to a userspace process and waits for its verdict. This process gets the packets an iptables rule
of the run queues (see :func:`nemesis.ip.rules.iptables_script`), holds each one as
:class:`~nemesis.ip.delay_plan.DelayPlan` says, and accepts it when its time comes: the packets
really wait in the kernel's queue, the same packets go on, nothing is copied or re-sent. At most
``--limit`` packets are held; more are dropped, as by netem's ``limit``.

Run by :class:`nemesis.ip.control.PacketControl`, never by hand::

    python -m nemesis.ip.delayer --queue N [--limit L] [--seed S]

It prints one JSON line once bound (``{"ready": pid}``) or fails (``{"error": ...}``, exit 2).
Each JSON line on stdin (``{"id": k, "rules": [DelayRule.to_json(), ...]}``) replaces its rules
and is answered ``{"ok": k, "held": ..., "dropped": ...}``. On end of stdin (its parent closed the
pipe, or died: the kernel closes it then, even after a SIGKILL) or SIGTERM it releases what it
holds and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from netfilterqueue import COPY_PACKET, NetfilterQueue, Packet

from nemesis.ip.delay_plan import DelayPlan, Holding, direction_of, peer_of
from nemesis.ip.rules import DelayRule

HEADER_BYTES = 20


def parse_rules(data: Any) -> list[DelayRule]:
    """The rules of a command line; ValueError on anything else."""
    if not isinstance(data, list):
        raise ValueError("rules must be a list")
    return [
        DelayRule(
            direction="in" if r["direction"] == "in" else "out",
            peer=str(r["peer"]),
            delay_ms=float(r["delay_ms"]),
            jitter_ms=float(r.get("jitter_ms", 0.0)),
            reorder=float(r.get("reorder", 0.0)),
        )
        for r in data
    ]


class Delayer:
    """The loop: packets in, held, released; commands in, answered."""

    def __init__(self, queue: int, limit: int, seed: int, say: Callable[[dict[str, Any]], None]):
        self.queue = queue
        self.rng = random.Random(seed)
        self.plan = DelayPlan((), self.rng)
        self.held: Holding[Packet] = Holding(limit)
        self.dropped = 0
        self.say = say
        self.stopping = False
        self.nfq = NetfilterQueue()
        self.nfq.bind(
            queue, self._arrived, max_len=limit + 64, mode=COPY_PACKET, range=HEADER_BYTES
        )

    def _arrived(self, packet: Packet) -> None:
        direction = direction_of(packet.hook)
        peer = peer_of(packet.get_payload(), direction) if direction else None
        hold = self.plan.hold(direction, peer) if direction and peer else 0.0
        if hold <= 0:
            packet.accept()
        elif not self.held.push(time.monotonic() + hold, packet):
            packet.drop()
            self.dropped += 1

    def command(self, line: str) -> None:
        try:
            data = json.loads(line)
            self.plan = DelayPlan(parse_rules(data["rules"]), self.rng)
        except (ValueError, KeyError, TypeError) as exc:
            self.say({"error": f"bad command {line.strip()!r}: {exc}"})
            return
        self.say({"ok": data.get("id"), "held": len(self.held), "dropped": self.dropped})

    def run(self, stdin_fd: int) -> None:
        nfq_fd = self.nfq.get_fd()
        pending = b""
        while not self.stopping:
            release = self.held.next_release()
            wait = 0.5 if release is None else max(0.0, release - time.monotonic())
            try:
                ready, _, _ = select.select([nfq_fd, stdin_fd], [], [], wait)
            except InterruptedError:
                continue
            if nfq_fd in ready:
                self.nfq.run(block=False)
            if stdin_fd in ready:
                chunk = os.read(stdin_fd, 65536)
                if not chunk:
                    break
                pending += chunk
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    if line.strip():
                        self.command(line.decode())
            for packet in self.held.due(time.monotonic()):
                packet.accept()
        for packet in self.held.drain():
            packet.accept()
        self.nfq.unbind()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nemesis.ip.delayer")
    parser.add_argument("--queue", type=int, required=True)
    parser.add_argument("--limit", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    def say(message: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    try:
        delayer = Delayer(args.queue, args.limit, args.seed, say)
    except OSError as exc:
        say({"error": f"cannot bind NFQUEUE {args.queue}: {exc} (root? queue taken?)"})
        return 2

    def stop(signum: int, frame: object) -> None:
        delayer.stopping = True

    signal.signal(signal.SIGTERM, stop)
    say({"ready": os.getpid()})
    delayer.run(sys.stdin.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
