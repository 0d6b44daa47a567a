"""Find and remove what IP-layer runs left: namespaces, bridges, veths, nft tables, qdiscs,
iptables chains, processes, leases.

Everything a run makes is named after its run id (:mod:`nemesis.ip.names`), so a run is found
by name even when its owner was SIGKILLed mid-setup and recorded nothing else. A run counts as
alive while its owner process runs (:func:`nemesis.ip.leases.owner_state`); alive runs are kept
unless ``everything`` is asked, so cleaning never breaks a concurrent run. Removing a run kills
the processes still inside its namespaces (its nodes and delayers: they cannot outlive their
network), deletes its root-namespace interfaces, then its namespaces (with them go the bridge,
the veths, and every table and qdisc inside), then its tables and chains in namespaces it did not
make (containers'), then its leases.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from nemesis.ip.control import remove_chains
from nemesis.ip.leases import Leases, OwnerState, owner_state
from nemesis.ip.names import RunNames, run_id_of
from nemesis.ip.netns import DEFAULT_TIMEOUT, IpNetworkError, Netns, run

DEFAULT_QDISCS = {"noqueue", "noop", "pfifo_fast", "mq", "fq_codel"}


@dataclass(frozen=True)
class RunParts:
    """What one run left, and whether its owner still runs.

    ``namespaces`` and ``links`` (root-namespace interfaces) are what removal deletes;
    ``contents`` says what those namespaces hold (bridges, veths, nft tables, qdiscs,
    processes); ``foreign`` lists the run's tables and chains in namespaces it did not make.
    """

    run_id: str
    namespaces: tuple[str, ...]
    links: tuple[str, ...]
    contents: tuple[str, ...]
    foreign: tuple[str, ...]
    foreign_pids: tuple[int, ...]
    leased: bool
    state: OwnerState
    why: str

    def describe(self) -> str:
        things = [f"namespace {n}" for n in self.namespaces] + [f"link {n}" for n in self.links]
        things += list(self.contents) + list(self.foreign)
        if self.leased:
            things.append("its leases")
        return f"run {self.run_id} ({self.why}): {', '.join(things) or 'nothing'}"


def netns_names(timeout: float = DEFAULT_TIMEOUT) -> list[str]:
    """The names of every namespace ``ip netns add`` made."""
    done = run(["ip", "netns", "list"], timeout=timeout, what="listing namespaces")
    return [line.split()[0] for line in done.stdout.splitlines() if line.strip()]


def root_links(timeout: float = DEFAULT_TIMEOUT) -> list[str]:
    done = run(["ip", "-j", "link", "show"], timeout=timeout, what="listing interfaces")
    return [str(link["ifname"]) for link in json.loads(done.stdout or "[]")]


def netns_pids(name: str, timeout: float = DEFAULT_TIMEOUT) -> list[int]:
    done = run(["ip", "netns", "pids", name], check=False, timeout=timeout)
    return [int(p) for p in done.stdout.split() if p.isdigit()]


def describe_netns(name: str, timeout: float = DEFAULT_TIMEOUT) -> list[str]:
    """What namespace ``name`` holds: bridges, veths, nft tables, non-default qdiscs,
    processes."""
    netns = Netns.named(name)
    found: list[str] = []
    links = run(["ip", "-j", "-d", "link", "show"], netns=netns, check=False, timeout=timeout)
    with contextlib.suppress(ValueError):
        for link in json.loads(links.stdout or "[]"):
            kind = (link.get("linkinfo") or {}).get("info_kind")
            if kind in ("bridge", "veth"):
                found.append(f"{kind} {link['ifname']} in {name}")
    tables = run(["nft", "list", "tables"], netns=netns, check=False, timeout=timeout)
    found += [
        f"nft {line.strip()} in {name}" for line in tables.stdout.splitlines() if line.strip()
    ]
    qdiscs = run(["tc", "-j", "qdisc", "show"], netns=netns, check=False, timeout=timeout)
    with contextlib.suppress(ValueError):
        for q in json.loads(qdiscs.stdout or "[]"):
            if q.get("kind") not in DEFAULT_QDISCS:
                found.append(f"qdisc {q.get('kind')} on {q.get('dev')} in {name}")
    found += [f"process {pid} in {name}" for pid in netns_pids(name, timeout)]
    return found


def foreign_tables(timeout: float = DEFAULT_TIMEOUT) -> dict[str, list[tuple[int, str]]]:
    """Run id -> (a pid in the namespace, description) for the run's nft tables and iptables
    chains in namespaces that ``ip netns`` does not name (containers')."""
    root = _netns_inode(os.getpid())
    named = set()
    with contextlib.suppress(OSError):
        named = {os.stat(p).st_ino for p in Path("/run/netns").iterdir()}
    seen: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            inode = _netns_inode(int(entry.name))
            if inode is not None and inode != root and inode not in named:
                seen.setdefault(inode, int(entry.name))
    found: dict[str, list[tuple[int, str]]] = {}
    for pid in seen.values():
        netns = Netns.of_process(pid)
        tables = run(["nft", "list", "tables"], netns=netns, check=False, timeout=timeout)
        chains = run(
            ["iptables-legacy", "-w", "5", "-S"], netns=netns, check=False, timeout=timeout
        )
        names = [line.split()[-1] for line in tables.stdout.splitlines() if line.strip()]
        names += [line.split()[1] for line in chains.stdout.splitlines() if line.startswith("-N ")]
        for name in names:
            run_id = run_id_of(name)
            if run_id:
                found.setdefault(run_id, []).append((pid, f"{name} in the namespace of pid {pid}"))
    return found


def _netns_inode(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except OSError:
        return None


def find_leftovers(
    leases: Leases | None = None, *, deep: bool = True, timeout: float = DEFAULT_TIMEOUT
) -> list[RunParts]:
    """Every run that left something on this machine, sorted by run id. ``deep`` also looks
    inside every other namespace (containers') for the runs' tables and chains."""
    leases = leases or Leases()
    namespaces: dict[str, list[str]] = {}
    links: dict[str, list[str]] = {}
    for name in netns_names(timeout):
        if run_id := run_id_of(name):
            namespaces.setdefault(run_id, []).append(name)
    for name in root_links(timeout):
        if run_id := run_id_of(name):
            links.setdefault(run_id, []).append(name)
    foreign = foreign_tables(timeout) if deep else {}
    leased = leases.run_ids()
    found = []
    for run_id in sorted(set(namespaces) | set(links) | set(foreign) | leased):
        state, why = owner_state(leases.owner(run_id))
        contents = [c for n in sorted(namespaces.get(run_id, [])) for c in describe_netns(n)]
        found.append(
            RunParts(
                run_id=run_id,
                namespaces=tuple(sorted(namespaces.get(run_id, []))),
                links=tuple(sorted(links.get(run_id, []))),
                contents=tuple(contents),
                foreign=tuple(d for _, d in foreign.get(run_id, [])),
                foreign_pids=tuple(sorted({p for p, _ in foreign.get(run_id, [])})),
                leased=run_id in leased,
                state=state,
                why=why,
            )
        )
    return found


def remove_run(
    run_id: str,
    leases: Leases | None = None,
    *,
    foreign_pids: Iterable[int] = (),
    timeout: float = DEFAULT_TIMEOUT,
) -> None:
    """Remove everything of ``run_id`` found by name, whatever its owner's state: safe on a run
    that was only half set up, and a second time. ``foreign_pids`` name processes in
    namespaces the run did not make, where its table and chains are removed too."""
    leases = leases or Leases()
    names = RunNames(run_id)
    ours = [n for n in netns_names(timeout) if run_id_of(n) == run_id]
    for name in ours:
        _kill_all(name, timeout)
    for link in root_links(timeout):
        if run_id_of(link) == run_id:
            run(["ip", "link", "del", link], check=False, timeout=timeout)
    # the hub last: deleting a node's namespace first removes its veth pair at once
    for name in sorted(ours, key=lambda n: n == names.hub):
        run(["ip", "netns", "del", name], check=False, timeout=timeout)
    for pid in set(foreign_pids):
        netns = Netns.of_process(pid)
        with contextlib.suppress(IpNetworkError):
            run(
                ["nft", "delete", "table", "ip", names.table],
                netns=netns,
                check=False,
                timeout=timeout,
            )
            remove_chains(names, netns, timeout)
    left = [n for n in netns_names(timeout) if run_id_of(n) == run_id]
    if left:
        raise IpNetworkError(
            f"could not remove the namespaces {', '.join(left)} of run {run_id}; "
            f"remove them by hand: ip netns del NAME (as root)"
        )
    leases.release(run_id)


def _kill_all(netns: str, timeout: float) -> None:
    """SIGKILL every process in namespace ``netns`` and wait (bounded) until they are gone."""
    deadline = time.monotonic() + timeout
    while pids := netns_pids(netns, timeout):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if time.monotonic() > deadline:
            raise IpNetworkError(
                f"processes {pids} in namespace {netns} survived SIGKILL for {timeout:g} s; "
                "they may be stuck in the kernel (a hung FUSE mount?): unmount it and try again"
            )
        time.sleep(0.02)


def cleanup_leftovers(
    dry_run: bool = False,
    *,
    everything: bool = False,
    leases: Leases | None = None,
    deep: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
) -> tuple[list[RunParts], list[RunParts]]:
    """Remove what runs whose owner is gone left (every run with ``everything``); return
    (removed, kept). With ``dry_run`` nothing is removed and the first list is what would be.
    Only names that start with a run id (``sbip`` and six hex digits) are touched."""
    leases = leases or Leases()
    removed, kept = [], []
    for parts in find_leftovers(leases, deep=deep, timeout=timeout):
        if parts.state == "dead" or everything:
            if not dry_run:
                remove_run(parts.run_id, leases, foreign_pids=parts.foreign_pids, timeout=timeout)
            removed.append(parts)
        else:
            kept.append(parts)
    return removed, kept
