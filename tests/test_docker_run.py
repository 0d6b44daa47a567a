"""End to end through the docker backend: the same seeded run as on the local backend.

Real nodes in containers, a real Toxiproxy container, the harness's clients on loopback. Each run
is bounded (about 15 s of load plus start, heal and drain); together they take about a minute.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from harness.backends import docker as backend
from harness.config import from_mapping
from harness.run import run_test
from tests.helpers.docker_daemon import require_daemon

pytestmark = [pytest.mark.docker, pytest.mark.slow]

BASE = from_mapping(
    {
        "name": "docker-e2e",
        "backend": "docker",
        "mode": "cp",
        "time_limit": 16.0,
        "nemesis_interval": 3.0,
        "clients": 8,
        "rate": 20.0,
        "drain_timeout": 40.0,
    }
)


@pytest.fixture(scope="module", autouse=True)
def daemon() -> Iterator[docker.DockerClient]:
    client = require_daemon()
    yield client
    client.close()


def _assert_nothing_left(client: docker.DockerClient, run_dir: Path) -> None:
    ours = [
        c.name
        for c in client.containers.list(all=True, filters={"label": backend.LABEL_RUN})
        if c.labels.get(backend.LABEL_PID) == str(os.getpid())
    ]
    assert ours == [], f"containers left behind by {run_dir}: {ours}"


def test_seeded_cp_run_with_partitions_kills_and_pauses_is_valid(
    daemon: docker.DockerClient, tmp_path: Path
) -> None:
    config = BASE.changed(
        out=tmp_path,
        seed=11,
        nemesis=("partition", "kill", "pause"),
        time_limit=20.0,
        nemesis_interval=2.5,
    )
    outcome = run_test(config, out=io.StringIO())
    results = outcome.results
    assert results["valid"] is True, results["anomaly_counts"]
    assert outcome.exit_code == 0 and results["stats"]["sends"]["ok"] > 50
    history = (outcome.run_dir / "history.jsonl").read_text()
    for fault in ('"f":"partition"', '"f":"kill"', '"f":"pause"'):
        assert fault in history, f"the schedule made no {fault}"
    assert json.loads((outcome.run_dir / "test.json").read_text())["backend"] == "docker"
    assert (outcome.run_dir / "logs" / "n1.log").stat().st_size > 0
    _assert_nothing_left(daemon, outcome.run_dir)


def test_a_known_bug_is_caught_through_the_docker_backend(
    daemon: docker.DockerClient, tmp_path: Path
) -> None:
    expected = {"fifo-violation", "causal-violation", "order-divergence"}
    seen: dict[int, dict[str, int]] = {}
    for seed in (1, 2):
        config = BASE.changed(
            out=tmp_path / str(seed),
            seed=seed,
            bug="unordered-backlog",
            nemesis=(),
            offline_fraction=1.0,
        )
        outcome = run_test(config, out=io.StringIO())
        _assert_nothing_left(daemon, outcome.run_dir)
        seen[seed] = counts = outcome.results["anomaly_counts"]
        if any(counts[name] for name in expected):
            assert outcome.exit_code == 1
            return
    pytest.fail(f"unordered-backlog went unnoticed through the docker backend: {seen}")
