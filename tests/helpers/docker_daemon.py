"""A live Docker daemon for the docker tests, or a skip that CI turns into a failure."""

from __future__ import annotations

import os

import docker
import pytest

from harness.backends import docker as backend


def require_daemon() -> docker.DockerClient:
    """A client of a live daemon; skips without one, but fails in CI (where one must run)."""
    try:
        return backend.connect()
    except backend.DockerBackendError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the docker tests, but {exc}")
        pytest.skip(f"no Docker daemon: start one with `scripts/start-dockerd.sh` ({exc})")
