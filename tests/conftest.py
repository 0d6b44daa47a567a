"""Shared test settings: Hypothesis profiles (CI runs more examples than a laptop), and a real
Toxiproxy server for the tests that cut links."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from nemesis.toxiproxy_server import ToxiproxyServer

settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile(
    "ci",
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(scope="module")
def toxiproxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ToxiproxyServer]:
    """A Toxiproxy server on loopback for one test module. Without the binary the tests skip
    on a laptop and fail in CI (where .ci/run installs it), so CI never skips them silently."""
    if shutil.which("toxiproxy-server") is None:
        reason = "toxiproxy-server not on PATH: run scripts/install-toxiproxy.sh"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
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
