"""``splitbrain cluster up``: run a local cluster of any system until Ctrl-C.

The nodes run as local subprocesses behind a Toxiproxy server, exactly as in a test run (one
proxy per link, nothing cut), so what you poke at by hand is what the harness attacks. The command
provisions users into ``--dir``, prints each node's client address and status address, and stops
every node and proxy it started when interrupted; its nodes die with it even on SIGKILL.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness.commands import Subparsers
from harness.system_flags import FlagError, add_shortcut_flags, given_options
from splitbrain.names import node_names
from systems import registry
from systems.seam import Accounts, SystemConfigError


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    cluster = subparsers.add_parser("cluster", help="run a system's cluster locally")
    actions = cluster.add_subparsers(dest="cluster_command", metavar="ACTION", required=True)
    up = actions.add_parser(
        "up",
        help="start N local nodes and keep them running until Ctrl-C",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    up.add_argument("--system", default=registry.DEFAULT, choices=registry.names())
    up.add_argument(
        "--system-opt",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an option of the system (see `splitbrain run --system NAME --help`)",
    )
    up.add_argument("--nodes", type=int, default=3, help="number of nodes (default 3)")
    add_shortcut_flags(up)
    up.add_argument("--users", type=int, default=3, help="users to provision (u1..uN)")
    up.add_argument("--seed", type=int, default=1, help="seed of the provisioning")
    up.add_argument("--dir", type=Path, help="folder for keys, data and logs")
    return cluster


def accounts_for(n_users: int) -> Accounts:
    """Users u1..uN, one group ``g1`` of all of them and a direct chat for each pair."""
    users = tuple(f"u{i + 1}" for i in range(n_users))
    conversations: dict[str, tuple[str, ...]] = {"g1": users}
    for i, a in enumerate(users):
        for b in users[i + 1 :]:
            conversations[f"d-{a}-{b}"] = (a, b)
    return Accounts(users, conversations)


def _options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for item in args.system_opt:
        name, sep, value = item.partition("=")
        if not sep:
            raise SystemConfigError(f"--system-opt {item!r}: write it as NAME=VALUE")
        options[name.strip()] = value
    return {**options, **given_options(args, args.system)}


def main(args: argparse.Namespace) -> int:
    """``cluster up`` is the one action so far."""
    return cluster_up(args)


def cluster_up(args: argparse.Namespace) -> int:
    from harness.backends.base import ClusterSpec
    from harness.backends.local import start_local

    if not 1 <= args.nodes <= 9 or not 2 <= args.users <= 5000:
        print("cluster up: --nodes must be 1..9 and --users 2..5000", file=sys.stderr)
        return 2
    try:
        system = registry.create(args.system, _options(args))
        system.prepare(sys.stderr)
    except (SystemConfigError, FlagError) as exc:
        print(f"cluster up: {exc}", file=sys.stderr)
        return 2
    folder = args.dir or Path(tempfile.mkdtemp(prefix="splitbrain-cluster-"))
    folder.mkdir(parents=True, exist_ok=True)
    nodes = node_names(args.nodes)
    system.provision(accounts_for(args.users), folder, nodes, args.seed)
    stop: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    try:
        cluster = start_local(ClusterSpec(nodes=nodes, system=system, run_dir=folder))
    except (RuntimeError, OSError) as exc:
        print(f"cluster up: the cluster did not come up: {exc}", file=sys.stderr)
        return 1
    try:
        settings = ", ".join(f"{k} {v}" for k, v in system.settings.items())
        print(f"cluster up: {args.system}, {args.nodes} nodes ({settings})")
        endpoints = cluster.client_endpoints("c0")
        for node in nodes:
            host, port = cluster.status_address(node)
            print(f"  {node}  client {endpoints[node]}  status {host}:{port}")
        print(f"accounts and keys: {folder}\nlogs: {folder / 'logs'}")
        print("press Ctrl-C to stop every node", flush=True)
        reported: set[str] = set()
        while not stop:
            for name, local in cluster.nodes_by_name.items():
                proc = local.process
                if proc is not None and proc.poll() is not None and name not in reported:
                    reported.add(name)
                    print(f"node {name} exited with {proc.returncode}; see {local.log}",
                          file=sys.stderr, flush=True)  # fmt: skip
            time.sleep(0.3)
    except KeyboardInterrupt:
        pass
    finally:
        cluster.stop()
        print("stopped every node", flush=True)
    return 0
