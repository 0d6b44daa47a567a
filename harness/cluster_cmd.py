"""``splitbrain cluster up``: run a local reference cluster until Ctrl-C.

Nodes run as local subprocesses that dial each other directly (no fault proxies); the command
provisions users and random keys (seeded only with ``--seed``, to replay) and a cluster secret
into ``--dir`` (secret files mode 0600), prints the client addresses and the users/secrets files,
and stops every node it started when interrupted; the nodes die with it even when it is killed.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from pathlib import Path

from system_under_test.core import BUGS
from system_under_test.launcher import LocalCluster, local_specs, provision_users


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    cluster = subparsers.add_parser("cluster", help="run the reference cluster locally")
    actions = cluster.add_subparsers(dest="cluster_command", metavar="ACTION", required=True)
    up = actions.add_parser(
        "up",
        help="start N local nodes and keep them running until Ctrl-C",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    up.add_argument("--nodes", type=int, default=3, help="number of nodes (default 3)")
    up.add_argument("--mode", choices=("cp", "ap"), default="cp")
    up.add_argument(
        "--bug",
        choices=sorted(BUGS),
        help="switch on one known bug: " + "; ".join(f"{k}: {v}" for k, v in BUGS.items()),
    )
    up.add_argument("--e2e", choices=("on", "off"), default="on")
    up.add_argument("--base-port", type=int, default=7001, help="n1 listens here, n2 on +1, ...")
    up.add_argument("--users", type=int, default=3, help="users to provision (u1..uN)")
    up.add_argument(
        "--seed",
        type=int,
        help="derive the user keys from this seed, to replay with the same keys (anyone who "
        "knows the seed can rebuild them); default: random keys",
    )
    up.add_argument("--dir", type=Path, help="folder for keys, SQLite files and logs")
    up.set_defaults(func=cluster_up)


def cluster_up(args: argparse.Namespace) -> int:
    if args.nodes < 1:
        print("--nodes must be at least 1", file=sys.stderr)
        return 2
    folder = args.dir or Path(tempfile.mkdtemp(prefix="splitbrain-cluster-"))
    folder.mkdir(parents=True, exist_ok=True)
    _, users, secrets = provision_users(folder, args.users, seed=args.seed)
    specs = local_specs(
        args.nodes, folder, users, base_port=args.base_port, mode=args.mode, bug=args.bug,
        e2e=args.e2e == "on",
    )  # fmt: skip
    cluster = LocalCluster(specs)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    try:
        cluster.start()
        try:
            cluster.wait_ready(30)
        except TimeoutError as exc:
            print(f"cluster did not come up: {exc}", file=sys.stderr)
            return 1
        print(f"cluster up: {args.nodes} nodes, mode {args.mode}, bug {args.bug or 'none'}, "
              f"e2e {args.e2e}")  # fmt: skip
        for spec in specs:
            print(
                f"  {spec.name}  {spec.client_url}/client  status http://{spec.host}:{spec.port}/status"
            )
        print(f"users file:   {users}\nsecrets file: {secrets}\nlogs and data: {folder}")
        print(f"cluster secret: {specs[0].cluster_secret}")
        print("press Ctrl-C to stop every node", flush=True)
        reported: set[str] = set()
        while not stop:
            for name, proc in cluster.procs.items():
                if proc.poll() is not None and name not in reported:
                    reported.add(name)
                    print(f"node {name} exited with {proc.returncode}; see {folder}/{name}.log",
                          file=sys.stderr, flush=True)  # fmt: skip
            time.sleep(0.3)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
        print("stopped every node", flush=True)
    return 0
