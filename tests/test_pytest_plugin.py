"""The pytest plugin: the example fault-injection test passes on the reference cluster and fails,
naming its run directory, when a known bug is switched on from the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "pytest" / "test_chat_under_faults.py"

pytest_plugins = ["pytester"]


@pytest.mark.slow
def test_the_example_passes_and_fails_as_the_system_under_it_does(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_example=EXAMPLE.read_text())
    passed = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    passed.assert_outcomes(passed=1)

    failed = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--splitbrain-opt", "bug=unordered-backlog"
    )
    failed.assert_outcomes(failed=1)
    out = failed.stdout.str()
    assert "splitbrain runs" in out and "run directory:" in out and "replay: splitbrain run" in out
    assert "fifo-violation" in out or "order-divergence" in out


def test_a_malformed_option_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="def test_x(splitbrain_run):\n    splitbrain_run()\n")
    result = pytester.runpytest_subprocess("--splitbrain-opt", "no-equals-sign")
    assert result.ret != 0
    assert "write it as NAME=VALUE" in result.stderr.str() + result.stdout.str()


def test_the_cluster_fixture_starts_a_cluster_behind_toxiproxy(splitbrain_cluster) -> None:
    cluster = splitbrain_cluster(nodes=3, mode="cp")
    statuses = cluster.statuses()
    assert all(s is not None and s.get("ready") for s in statuses.values())
    assert set(cluster.client_endpoints("c0")) == {"n1", "n2", "n3"}
    assert cluster.proxies.list()  # every link has its proxy
