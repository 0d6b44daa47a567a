"""A live Docker daemon for the docker tests, or a skip that CI turns into a failure."""

from __future__ import annotations

import docker

from harness.backends import docker as backend
from tests.helpers.needs import skip_or_fail


def require_daemon() -> docker.DockerClient:
    """A client of a live daemon; skips without one, but fails in CI (where one must run)."""
    try:
        return backend.connect()
    except backend.DockerBackendError as exc:
        skip_or_fail(f"no Docker daemon: start one with `scripts/start-dockerd.sh` ({exc})")
