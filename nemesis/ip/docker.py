"""The same packet faults for the Docker backend, applied from the host.

A container on a user-defined bridge network already has its own namespace and address; its
rules go into ``/proc/<pid>/ns/net`` of its main process, with the host's ``nft``, ``tc`` and
``iptables-legacy`` run under ``nsenter --net`` by the host's root. The container needs no
``NET_ADMIN`` and no tools of its own. The Docker SDK stays in the backend: this module takes
pids and addresses (``container.attrs["State"]["Pid"]`` and the address on the run's network).

A container that restarts gets a new namespace, empty of rules: the backend calls
:meth:`ContainerFaults.restarted` with its new pid, which puts its faults back.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from nemesis.ip.control import PacketControl
from nemesis.ip.leases import Leases
from nemesis.ip.names import RunNames, new_run_id
from nemesis.ip.netns import DEFAULT_TIMEOUT, IpNetworkError, Netns
from nemesis.ip.rules import Endpoint


def container_netns(pid: int, container: str = "") -> Netns:
    """The network namespace of the container whose main process is ``pid``."""
    if pid <= 0:
        raise IpNetworkError(
            f"container {container or '?'} has no running process (pid {pid}): start it first"
        )
    return Netns.of_process(pid, f"the namespace of container {container or pid}")


class ContainerFaults:
    """Packet faults on a Docker run's containers.

    ``containers``: node -> (pid of its main process, its address on the run's network);
    ``client_groups``: group -> a source address of the host on that network (an address the
    backend put on the network's bridge, outside Docker's allocation range). The run id is
    claimed in ``leases`` (so ``splitbrain clean`` knows when its owner is gone) and released by
    :meth:`close`.
    """

    def __init__(
        self,
        containers: Mapping[str, tuple[int, str]],
        client_groups: Mapping[str, str] | None = None,
        *,
        device: str = "eth0",
        seed: int = 0,
        leases: Leases | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.leases = leases or Leases()
        rng = random.Random()
        for _ in range(100):
            run_id = new_run_id(rng.randrange(256))
            if self.leases.claim_run(run_id):
                break
        else:
            raise IpNetworkError(f"no free run id in {self.leases.directory}: clean it")
        self.names = RunNames(run_id)
        endpoints = {
            node: Endpoint(node, address, container_netns(pid, node), device)
            for node, (pid, address) in containers.items()
        }
        endpoints |= {g: Endpoint(g, a) for g, a in (client_groups or {}).items()}
        self.control = PacketControl(self.names, endpoints, seed=seed, timeout=timeout)
        self._closed = False

    @property
    def run_id(self) -> str:
        return self.names.run_id

    def restarted(self, node: str, pid: int, address: str | None = None) -> None:
        """Container ``node`` runs again as ``pid`` (in a new namespace): put its faults back."""
        self.control.rebind(node, container_netns(pid, node), address)

    def close(self) -> None:
        """Remove the run's rules from every container that still runs, stop the delayers,
        release the run id. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self.control.close()
        finally:
            self.leases.release(self.run_id)

    def __enter__(self) -> ContainerFaults:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
