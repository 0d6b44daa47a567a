"""Building nats-server from the Go module proxy: bad versions are clear errors, good ones run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from systems.nats import install
from systems.seam import SystemConfigError
from tests.helpers.nats_cluster import built_server


def test_unpublished_version_names_the_published_ones(tmp_path: Path) -> None:
    with pytest.raises(SystemConfigError) as caught:
        install.ensure_server("2.10.99", root=tmp_path)
    text = str(caught.value)
    assert "2.10.99 is not published" in text
    assert "2.10.22" in text and "2.10.23" in text
    assert install.DEFAULT_VERSION in text
    assert not (tmp_path / "nats-server" / "2.10.99" / "nats-server").exists()


def test_command_line_exits_1_with_the_reason_not_a_traceback() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "systems.nats", "2.10.99", "not-a-version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "2.10.99 is not published" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_default_server_builds_and_reports_its_version() -> None:
    binary = built_server(install.DEFAULT_VERSION)
    assert binary == install.binary_path(install.DEFAULT_VERSION)
    done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
    assert install.DEFAULT_VERSION in done.stdout
