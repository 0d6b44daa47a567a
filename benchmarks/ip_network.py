"""What the IP network layer costs: topology setup and teardown, and a veth path against loopback.

Usage (root): ``.venv/bin/python benchmarks/ip_network.py [--rounds 5] [--pings 2000] [--mb 200]``

1. ``setup``/``teardown``: :class:`~nemesis.ip.topology.LocalTopology` of 3 and of 5 nodes (one
   client group per node), started and closed ``--rounds`` times, alternating; the median of each,
   and the 5-node figure as a ratio of the 3-node one.
2. ``round trip``: the median of ``--pings`` UDP round trips (one 32-byte datagram and its echo)
   over three paths, measured alternately in the same minutes: loopback in the root namespace
   (the baseline), the harness to a node (root -> veth -> bridge -> veth), and node to node
   (veth -> bridge -> veth). Ratios against loopback.
3. ``throughput``: ``--mb`` MB over one TCP connection, sender and receiver each a process of its
   own (so the GIL is not what is measured), over the same three paths, alternating; the best of
   ``--rounds``, as MB/s and as a ratio of loopback's.
4. the same two figures over node -> node with a ``--delay`` ms delay on each direction (the
   NFQUEUE delayer where the kernel has no netem): the round trip should gain twice the delay,
   and the throughput shows what the delayer (one Python process per node) can carry.

Not a timed test: the figures that mean something are the ratios of one run.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from nemesis.ip.netns import Netns, enter_preexec, socket_in
from nemesis.ip.topology import LocalTopology

PORT = 9600
SINK = """
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(1); print("ready", flush=True)
c, _ = s.accept(); n = 0; t = None
while True:
    b = c.recv(1 << 20)
    if not b: break
    if t is None: t = time.monotonic()
    n += len(b)
print(n, time.monotonic() - t, flush=True)
"""
SOURCE = """
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])))
chunk = b"x" * (1 << 20)
for _ in range(int(sys.argv[3])): c.sendall(chunk)
c.close()
"""


def time_topology(nodes: int) -> tuple[float, float]:
    names = [f"n{i}" for i in range(1, nodes + 1)]
    start = time.perf_counter()
    topology = LocalTopology(names, [f"c{i}" for i in range(nodes)]).start()
    made = time.perf_counter()
    topology.close()
    return made - start, time.perf_counter() - made


def round_trips(client: Netns | None, server: Netns | None, dst: str, count: int) -> float:
    """The median UDP round trip in microseconds."""
    with socket_in(server, socket.SOCK_DGRAM) as srv, socket_in(client, socket.SOCK_DGRAM) as cli:
        srv.bind(("0.0.0.0", PORT))
        stop = threading.Event()

        def echo() -> None:
            srv.settimeout(0.2)
            while not stop.is_set():
                try:
                    data, peer = srv.recvfrom(64)
                except TimeoutError:
                    continue
                srv.sendto(data, peer)

        thread = threading.Thread(target=echo)
        thread.start()
        cli.settimeout(1)
        times = []
        for _ in range(count):
            start = time.perf_counter()
            cli.sendto(b"p" * 32, (dst, PORT))
            cli.recvfrom(64)
            times.append(time.perf_counter() - start)
        stop.set()
        thread.join()
    return statistics.median(times) * 1e6


def throughput(client: Netns | None, server: Netns | None, dst: str, mb: int) -> float:
    """MB/s of one TCP stream from a process in ``client`` to one in ``server``."""

    def popen(netns: Netns | None, argv: list[str]) -> subprocess.Popen[str]:
        pre: Callable[[], None] | None = enter_preexec(netns) if netns else None
        return subprocess.Popen(
            [sys.executable, "-c", *argv], stdout=subprocess.PIPE, text=True, preexec_fn=pre
        )

    sink = popen(server, [SINK, str(PORT + 1)])
    assert sink.stdout is not None and sink.stdout.readline().strip() == "ready"
    source = popen(client, [SOURCE, dst, str(PORT + 1), str(mb)])
    source.wait(timeout=300)
    received, seconds = sink.stdout.readline().split()
    sink.wait(timeout=30)
    return int(received) / float(seconds) / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pings", type=int, default=2000)
    parser.add_argument("--mb", type=int, default=200)
    parser.add_argument("--delay", type=float, default=1.0)
    args = parser.parse_args()

    timings: dict[int, list[tuple[float, float]]] = {3: [], 5: []}
    for _ in range(args.rounds):
        for nodes in (3, 5):
            timings[nodes].append(time_topology(nodes))
    print("topology        setup ms   teardown ms")
    med = {}
    for nodes, runs in timings.items():
        med[nodes] = (statistics.median(s for s, _ in runs), statistics.median(t for _, t in runs))
        print(f"{nodes} nodes       {med[nodes][0] * 1e3:8.1f}   {med[nodes][1] * 1e3:11.1f}")
    print(f"5 / 3 nodes     {med[5][0] / med[3][0]:8.2f}x  {med[5][1] / med[3][1]:10.2f}x")

    with LocalTopology(["n1", "n2"], ["c0"]) as net:
        n1, n2 = net.nodes["n1"], net.nodes["n2"]
        paths = {
            "loopback": (None, None, "127.0.0.1"),
            "harness -> node": (None, n1.netns, n1.address),
            "node -> node": (n2.netns, n1.netns, n1.address),
            f"+{args.delay:g} ms each way": (n2.netns, n1.netns, n1.address),
        }
        rtt: dict[str, list[float]] = {p: [] for p in paths}
        rate: dict[str, list[float]] = {p: [] for p in paths}
        for _ in range(args.rounds):
            for path, (cli, srv, dst) in paths.items():
                if path.startswith("+"):
                    net.control.delay([("n1", "n2"), ("n2", "n1")], args.delay)
                rtt[path].append(round_trips(cli, srv, dst, args.pings // args.rounds))
                rate[path].append(throughput(cli, srv, dst, args.mb))
                net.control.clear()
    base_rtt = statistics.median(rtt["loopback"])
    base_rate = max(rate["loopback"])
    print(f"\ndelays by: {net.control.mechanisms()['delay']}")
    print("path              rtt us   x loopback    MB/s   x loopback")
    for path in paths:
        r, t = statistics.median(rtt[path]), max(rate[path])
        print(f"{path:16} {r:7.1f}   {r / base_rtt:9.2f}x  {t:7.0f}   {t / base_rate:9.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
