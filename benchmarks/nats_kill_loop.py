"""Calibration: does nats-server forget acknowledged messages when every node is killed -9 soon
after a stream was created?

NATS 2.10.20-2.10.22 can forget a whole stream after process crashes (nats-server issue 6888,
fixed in 2.10.23): after a cluster-wide crash shortly after a stream was created, a new meta
leader can be elected from a snapshot older than the stream and make every node drop it (#5946,
one of the fixes Jepsen's NATS 2.12.1 report lists). The cycles are in
``tests/helpers/nats_kill_cycles.py``; this prints one line per seed and how many seeds lost
acknowledged messages.

    .venv/bin/python benchmarks/nats_kill_loop.py --version 2.10.22 --seeds 1-5 --cycles 8
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.helpers.nats_cluster import built_server
from tests.helpers.nats_kill_cycles import one_seed


def seeds(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", default="2.10.22")
    parser.add_argument("--seeds", type=seeds, default=seeds("1-3"))
    parser.add_argument("--cycles", type=int, default=10)
    args = parser.parse_args()
    built_server(args.version)
    hits = 0
    for seed in args.seeds:
        started = time.monotonic()
        result = asyncio.run(one_seed(args.version, seed, args.cycles))
        hits += result["lost"] > 0
        print(f"{args.version} {time.monotonic() - started:.0f}s {result}", flush=True)
    print(f"{args.version}: {hits}/{len(args.seeds)} seeds lost acknowledged messages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
