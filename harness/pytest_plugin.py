"""A pytest plugin: fault-injection tests written as ordinary pytest tests.

Installed with splitbrain (entry point ``pytest11``), it gives two fixtures:

``splitbrain_run(**settings) -> RunOutcome``
    One seeded run, as ``splitbrain run`` makes it (cluster up behind Toxiproxy, load, faults,
    heal, drain, check), with ``settings`` as in :class:`harness.config.RunConfig` (``seed``,
    ``system``, ``nemesis``, ``time_limit``, ... and the system's shortcut options, as the
    reference system's). Runs go under the test's
    ``tmp_path``; a failing test's report names the run directory, its ``report.html`` and the
    command that replays it.

``splitbrain_cluster(system="reference", nodes=3, **options) -> Cluster``
    A started local cluster of a system behind its own Toxiproxy (``cluster.proxies`` cuts links,
    ``cluster.kill(node)`` ...), stopped after the test.

Command-line options apply to every run of the session, so one test file can be pointed at
another system or a known bug without editing it: ``--splitbrain-system NAME`` and
``--splitbrain-opt NAME=VALUE`` (repeatable).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

RUNS_KEY = pytest.StashKey[list[Path]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("splitbrain", "fault-injection runs (splitbrain)")
    group.addoption(
        "--splitbrain-system",
        default=None,
        help="run every splitbrain_run/splitbrain_cluster against this system",
    )
    group.addoption(
        "--splitbrain-opt",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a system option for every run (see `splitbrain run --system NAME --help`)",
    )


def _session_options(config: pytest.Config) -> tuple[str | None, dict[str, str]]:
    options: dict[str, str] = {}
    for item in config.getoption("--splitbrain-opt"):
        name, sep, value = item.partition("=")
        if not sep:
            raise pytest.UsageError(f"--splitbrain-opt {item!r}: write it as NAME=VALUE")
        options[name.strip()] = value
    return config.getoption("--splitbrain-system"), options


@pytest.fixture
def splitbrain_run(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., Any]:
    """Make one checked fault-injection run; see the module docstring."""
    from harness.config import from_mapping, shortcut_options
    from harness.run import run_test
    from systems import registry

    system, forced = _session_options(request.config)
    runs: list[Path] = []
    request.node.stash[RUNS_KEY] = runs

    def run(**settings: Any) -> Any:
        values: dict[str, Any] = {"out": tmp_path / "histories", **settings}
        if system is not None:
            values["system"] = system
        if forced:
            given = dict(values.get("system_options") or {})
            for key in shortcut_options(str(values.get("system") or registry.DEFAULT)):
                if key in values:
                    given[key] = values.pop(key)
            values["system_options"] = {**given, **forced}
        outcome = run_test(from_mapping(values, f"splitbrain_run in {request.node.nodeid}"))
        runs.append(outcome.run_dir)
        return outcome

    return run


@pytest.fixture
def splitbrain_cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """Start a local cluster of a system behind Toxiproxy; see the module docstring."""
    from harness.backends.base import ClusterSpec
    from harness.backends.local import start_local
    from harness.commands.cluster import accounts_for
    from splitbrain.names import node_names
    from systems import registry

    system_name, forced = _session_options(request.config)
    started: list[Any] = []

    def start(system: str = "reference", nodes: int = 3, users: int = 3, **options: Any) -> Any:
        chosen = system_name or system
        sut = registry.create(chosen, {**options, **forced})
        sut.prepare(None)
        names = node_names(nodes)
        folder = tmp_path / f"cluster-{len(started) + 1}"
        folder.mkdir()
        sut.provision(accounts_for(users), folder, names, seed=1)
        cluster = start_local(ClusterSpec(nodes=names, system=sut, run_dir=folder))
        started.append(cluster)
        return cluster

    try:
        yield start
    finally:
        for cluster in started:
            cluster.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    runs = item.stash.get(RUNS_KEY, [])
    if report.when == "call" and report.failed and runs:
        lines = []
        for run_dir in runs:
            lines.append(f"run directory: {run_dir}")
            if (run_dir / "report.html").exists():
                lines.append(f"report: {run_dir / 'report.html'}")
            lines.append(f"replay: splitbrain run --replay {run_dir}")
        report.sections.append(("splitbrain runs", "\n".join(lines)))
    return report
