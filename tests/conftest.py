"""Shared test settings: Hypothesis profiles (CI runs more examples than a laptop), and a real
Toxiproxy server for the tests that cut links."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from nemesis.toxiproxy_server import ToxiproxyServer
from tests.helpers.needs import require_toxiproxy

# Generation-speed health checks fire on a loaded 2-core machine whatever the test asserts;
# they say nothing about the property, so neither profile lets them fail a run.
SLOW_MACHINE = [HealthCheck.too_slow, HealthCheck.filter_too_much]
settings.register_profile(
    "dev", max_examples=100, deadline=None, suppress_health_check=SLOW_MACHINE
)
settings.register_profile(
    "ci",
    max_examples=300,
    deadline=None,
    suppress_health_check=SLOW_MACHINE,
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(scope="module")
def toxiproxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToxiproxyServer]:
    """A Toxiproxy server on loopback for one test module. Without the binary the tests skip
    on a laptop and fail in CI (where .ci/run installs it), so CI never skips them silently."""
    require_toxiproxy()
    with ToxiproxyServer(tmp_path_factory.mktemp("toxiproxy") / "toxiproxy.log") as server:
        yield server


@pytest.fixture
def fuse_available() -> None:
    """FUSE for lazyfs (the power-loss fault): skips on a laptop without it, fails in CI, where
    scripts/setup.sh installs fuse3 and mfusepy, so CI never skips these tests silently."""
    from nemesis.lazyfs import missing_requirements

    missing = missing_requirements()
    if missing:
        reason = f"FUSE unavailable: {'; '.join(missing)}; run scripts/setup.sh as root"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
