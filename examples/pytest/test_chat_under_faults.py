"""Fault-injection tests written as ordinary pytest tests, with splitbrain's pytest plugin.

    .venv/bin/pytest examples/pytest                                   # the reference cluster
    .venv/bin/pytest examples/pytest --splitbrain-opt bug=unordered-backlog   # a known bug: fails

A failing test's report names the run directory, its report.html and the replay command.
"""

from __future__ import annotations


def test_no_message_is_lost_reordered_or_duplicated_under_partitions(splitbrain_run):
    outcome = splitbrain_run(
        seed=3,
        nemesis="partition",
        time_limit=8,
        nemesis_interval=2,
        clients=6,
        rate=20,
        offline_fraction=1.0,
    )
    counts = outcome.results["anomaly_counts"]
    assert outcome.results["valid"] is True, {k: v for k, v in counts.items() if v}
