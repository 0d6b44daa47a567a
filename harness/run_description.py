"""``test.json``: what a run was, written before it starts and read back by every presenter.

:func:`describe_run` makes its contents (everything needed to repeat or replay the run: the whole
configuration, the system's description, the workload plan, the fault schedule, the reproduce
command). :class:`RunDescription` is the typed view the report, JUnit and comparisons read; it
also reads test.json files of older versions (whose system description had another shape, and
which kept the reference system's options at the top level).
"""

from __future__ import annotations

import contextlib
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.config import RunConfig, reproduce_command, shortcut_options
from splitbrain.numbers import int_or, number_or
from systems import registry
from systems.seam import System, SystemDescription, changed_options, describe

if TYPE_CHECKING:
    from harness.workload import WorkloadPlan
    from nemesis.schedule import Schedule


def describe_run(
    config: RunConfig, system: System, plan: WorkloadPlan, schedule: Schedule, run_dir: Path
) -> dict[str, Any]:
    """The contents of test.json: everything needed to repeat or replay the run."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for package in ("splitbrain", "docker"):
        with contextlib.suppress(PackageNotFoundError):
            versions[package] = version(package)
    return {
        "name": config.name,
        "seed": config.seed,
        "system": describe(system).to_json(),
        "nodes": list(config.node_names),
        "backend": config.backend,
        "config": config.to_json(),
        "workload": {
            "users": list(plan.users),
            "conversations": {k: list(v) for k, v in plan.conversations.items()},
            "client_groups": plan.client_group,
            "planned_sends": len(plan.sends),
            "offline": [vars(w) for w in plan.offline],
        },
        "schedule": schedule.to_json(),
        "command": reproduce_command(config),
        "versions": versions,
        "run_dir": str(run_dir),
    }


def _legacy_system(test: Mapping[str, Any], config: Mapping[str, Any]) -> SystemDescription:
    """The description of a run whose test.json predates the one shape: its name, a version
    where one was recorded, and the options that differ from their defaults (from the given
    options, the stored settings, and the shortcut options older files kept at the top)."""
    stored = test.get("system")
    stored = stored if isinstance(stored, Mapping) else {}
    name = stored.get("name") or stored.get("system") or config.get("system") or registry.DEFAULT
    name = str(name)
    settings: dict[str, Any] = {}
    if isinstance(stored.get("options"), Mapping):
        settings.update(stored["options"])
    given = config.get("system_options")
    if isinstance(given, Mapping):
        settings.update(given)
    for option in shortcut_options(name):
        if test.get(option) is not None:
            settings.setdefault(option, test[option])
    declared = registry.declared_options(name)
    options = changed_options(declared, settings) if declared else settings
    server = stored.get("server")
    version = server.get("version") if isinstance(server, Mapping) else None
    details = {k: v for k, v in stored.items() if k not in ("name", "system", "options")}
    return SystemDescription(name, str(version or "unknown"), options, details)


@dataclass(frozen=True)
class RunDescription:
    """What presenters show of a run's test.json; every field may be missing (None or empty)
    in a hand-written or partial file."""

    name: str | None
    seed: int | None
    system: SystemDescription | None
    nodes: tuple[str, ...]
    nemesis: tuple[str, ...]
    time_limit: float | None
    command: str | None

    @classmethod
    def from_json(cls, test: Mapping[str, Any]) -> RunDescription:
        config = test.get("config")
        config = config if isinstance(config, Mapping) else {}
        system: SystemDescription | None = None
        stored = test.get("system")
        if isinstance(stored, Mapping):
            with contextlib.suppress(ValueError):
                system = SystemDescription.from_json(stored)
        if system is None and test:
            system = _legacy_system(test, config)
        nodes = test.get("nodes")
        kinds = config.get("nemesis")
        schedule = test.get("schedule")
        if kinds is None and isinstance(schedule, Mapping):
            kinds = schedule.get("kinds")
        name = test.get("name")
        command = test.get("command")
        return cls(
            name=name if isinstance(name, str) else None,
            seed=int_or(test.get("seed"), None),
            system=system,
            nodes=tuple(map(str, nodes)) if isinstance(nodes, list) else (),
            nemesis=tuple(map(str, kinds)) if isinstance(kinds, list) else (),
            time_limit=number_or(config.get("time_limit"), None),
            command=command if isinstance(command, str) else None,
        )
