"""Network faults at the IP layer, as Jepsen and Chaos Mesh make them: on packets.

Every node has an address of its own in a network namespace (:class:`LocalTopology` makes them
for the local backend; a Docker container already has one: :func:`container_netns`), and every
fault is a rule inside a node's namespace (:class:`PacketControl`): nftables drops for cuts
(one-way too), loss and duplication; netem, or where the kernel has none an NFQUEUE delayer, for
latency, jitter and reordering. :func:`cleanup_leftovers` removes what a killed run left.

Modules: ``names`` (the run id in every name), ``leases`` (who owns a run, which /24 it holds),
``addressing`` (the /24 and who gets which address), ``netns`` (commands and processes inside a
namespace), ``rules`` (the pure core: faults -> rules), ``control`` (applying them), ``netem``
(does the kernel have it), ``delay_plan`` / ``delayer`` / ``delayer_process`` (the NFQUEUE
delayer), ``topology`` (the local network), ``docker`` (a container's namespace), ``cleanup``.
"""

from nemesis.ip.cleanup import RunParts, cleanup_leftovers, find_leftovers, remove_run
from nemesis.ip.control import PacketControl
from nemesis.ip.docker import ContainerFaults, container_netns
from nemesis.ip.names import RunNames, new_run_id
from nemesis.ip.netns import IpNetworkError, Netns
from nemesis.ip.rules import Endpoint, Faults, Impairment, Link
from nemesis.ip.topology import LocalTopology, NodeNet

__all__ = [
    "ContainerFaults",
    "Endpoint",
    "Faults",
    "Impairment",
    "IpNetworkError",
    "Link",
    "LocalTopology",
    "Netns",
    "NodeNet",
    "PacketControl",
    "RunNames",
    "RunParts",
    "cleanup_leftovers",
    "container_netns",
    "find_leftovers",
    "new_run_id",
    "remove_run",
]
