"""`splitbrain clean`: remove the Docker leftovers (and lazyfs mounts) of runs whose harness is
gone.

A run's containers and network carry ``splitbrain.run`` and the harness's pid, start time and host
(see ``harness.backends.docker``). A run counts as alive while a process with that pid and start
time runs on this host; ``clean`` keeps alive runs (and runs made on another host) unless
``--all`` is given. Images are kept: they are a cache, rebuilt only when their content changes.
"""

from __future__ import annotations

import argparse
import socket
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.commands import Subparsers
from splitbrain.processes import process_start_time

if TYPE_CHECKING:
    import docker


@dataclass(frozen=True)
class RunLeftovers:
    """What one run left in the daemon, and whether its harness still runs."""

    run_id: str
    containers: tuple[str, ...]
    networks: tuple[str, ...]
    state: str  # "dead", "alive" or "foreign" (made on another host: liveness unknown)
    why: str


def harness_state(labels: dict[str, str]) -> tuple[str, str]:
    """("dead" | "alive" | "foreign", reason) for the harness named by a run's labels."""
    from harness.backends.docker import LABEL_HOST, LABEL_PID, LABEL_PIDSTART

    host = labels.get(LABEL_HOST, "")
    if host and host != socket.gethostname():
        return "foreign", f"made on host {host}"
    try:
        pid = int(labels.get(LABEL_PID, ""))
    except ValueError:
        return "dead", "no harness pid recorded"
    started = process_start_time(pid)
    if started is None:
        return "dead", f"harness pid {pid} is gone"
    if labels.get(LABEL_PIDSTART) and labels[LABEL_PIDSTART] != started:
        return "dead", f"harness pid {pid} now belongs to another process"
    return "alive", f"harness pid {pid} still runs"


def find_leftovers(client: docker.DockerClient) -> list[RunLeftovers]:
    """Every run with a container or network labelled ``splitbrain.run``, sorted by run id."""
    from harness.backends.docker import LABEL_RUN

    label: dict[str, str | list[str] | bool] = {"label": LABEL_RUN}
    labels: dict[str, dict[str, str]] = {}
    containers: dict[str, list[str]] = {}
    networks: dict[str, list[str]] = {}
    for container in client.containers.list(all=True, filters=label):
        run = container.labels[LABEL_RUN]
        labels.setdefault(run, container.labels)
        containers.setdefault(run, []).append(str(container.name))
    for network in client.networks.list(filters=label):
        run_labels = network.attrs.get("Labels") or {}
        run = run_labels[LABEL_RUN]
        labels.setdefault(run, run_labels)
        networks.setdefault(run, []).append(str(network.name))
    found = []
    for run in sorted(labels):
        state, why = harness_state(labels[run])
        found.append(
            RunLeftovers(
                run,
                tuple(sorted(containers.get(run, []))),
                tuple(sorted(networks.get(run, []))),
                state,
                why,
            )
        )
    return found


def clean(
    client: docker.DockerClient, *, everything: bool = False, dry_run: bool = False
) -> tuple[list[RunLeftovers], list[RunLeftovers]]:
    """Remove the leftovers of dead runs (all runs with ``everything``); return (removed, kept).

    With ``dry_run`` nothing is removed, and the first list is what would have been.
    """
    from harness.backends.docker import remove_run

    removed, kept = [], []
    for run in find_leftovers(client):
        if run.state == "dead" or everything:
            if not dry_run:
                remove_run(client, run.run_id)
            removed.append(run)
        else:
            kept.append(run)
    return removed, kept


def _describe(runs: Iterable[RunLeftovers], verb: str) -> list[str]:
    lines = []
    for run in runs:
        things = [f"container {c}" for c in run.containers] + [f"network {n}" for n in run.networks]
        lines.append(f"{verb} run {run.run_id} ({run.why}): {', '.join(things)}")
    return lines


def main(args: argparse.Namespace) -> int:
    import docker.errors  # the Docker SDK is paid for only when `clean` runs

    from harness.backends.docker import DockerBackendError, connect
    from nemesis.lazyfs.mount import unmount_leftovers

    # lazyfs mounts of the power-loss fault: those whose FUSE process died (all with --all)
    for mountpoint in unmount_leftovers(stale_only=not args.all, dry_run=args.dry_run):
        print(f"{'would unmount' if args.dry_run else 'unmounted'} lazyfs mount {mountpoint}")
    try:
        client = connect()
    except DockerBackendError as exc:
        print(f"splitbrain clean: {exc}", file=sys.stderr)
        return 1
    try:
        removed, kept = clean(client, everything=args.all, dry_run=args.dry_run)
    except docker.errors.DockerException as exc:
        print(f"splitbrain clean: the Docker daemon failed ({exc}); try again", file=sys.stderr)
        return 1
    verb = "would remove" if args.dry_run else "removed"
    for line in _describe(removed, verb):
        print(line)
    for line in _describe(kept, "kept"):
        print(line)
    if kept and not args.all:
        print("(use --all to remove kept runs too; stop their harness first)")
    if not removed and not kept:
        print("nothing to clean: no splitbrain containers or networks")
    return 0


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "clean",
        help="remove Docker containers and networks left by runs that died",
        description=(
            "Remove the containers and networks of docker-backend runs whose harness process is "
            "gone (a crash, a killed CI job). Runs still in progress are kept unless --all."
        ),
    )
    parser.add_argument(
        "--all", action="store_true", help="also remove runs whose harness still runs"
    )
    parser.add_argument("--dry-run", action="store_true", help="only print what would be removed")
    return parser
