"""The reference system's launch with each node running another module: the docker backend's
own tests run the stand-in node (``tests.helpers.docker_standin``) or a module that fails."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from harness.backends.base import ClusterSpec
from systems.reference import ReferenceSystem
from systems.seam import Accounts, NodeAddresses, NodeLaunch, resolve_options

STANDIN = "tests.helpers.docker_standin"


class StandinSystem(ReferenceSystem):
    """As the reference system, but each node runs ``module`` (the stand-in by default)."""

    def __init__(self, module: str = STANDIN) -> None:
        super().__init__(resolve_options("reference", ReferenceSystem.options, {}))
        self.module = module

    def launch(self, node: NodeAddresses) -> NodeLaunch:
        launch = super().launch(node)
        argv = [self.module if arg == "system_under_test.node" else arg for arg in launch.argv]
        return dataclasses.replace(launch, argv=tuple(argv))


def standin_spec(
    run_dir: Path, nodes: tuple[str, ...] = ("n1", "n2", "n3"), module: str = STANDIN
) -> ClusterSpec:
    """A provisioned spec of ``nodes`` stand-in nodes, one client group."""
    system = StandinSystem(module)
    system.provision(Accounts(("u1", "u2"), {"g": ("u1", "u2")}), run_dir, nodes, seed=1)
    return ClusterSpec(nodes=nodes, system=system, run_dir=run_dir, client_groups=1)
