"""``splitbrain cluster up`` starts a working cluster and stops every node on Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

from system_under_test.launcher import fetch_status


def test_cluster_up_serves_and_stops_every_node_on_ctrl_c(tmp_path):
    cmd = [sys.executable, "-m", "harness.cli", "cluster", "up", "--nodes", "3", "--mode", "cp",
           "--dir", str(tmp_path)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        lines = []
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "Ctrl-C" in line or not line:
                break
        text = "".join(lines)
        status_ports = [int(p) for p in re.findall(r"status 127\.0\.0\.1:(\d+)", text)]
        assert len(status_ports) == 3 and len(re.findall(r"client 127\.0\.0\.1:\d+", text)) == 3
        statuses = [fetch_status("127.0.0.1", port) for port in status_ports]
        assert sorted(s["role"] for s in statuses) == ["primary", "secondary", "secondary"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 0
        assert "stopped every node" in proc.stdout.read()
        assert all(fetch_status("127.0.0.1", port) is None for port in status_ports)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cluster_up_nodes_die_with_it_on_sigkill(tmp_path):
    cmd = [sys.executable, "-m", "harness.cli", "cluster", "up", "--nodes", "2", "--mode", "ap",
           "--dir", str(tmp_path)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        text = ""
        deadline = time.monotonic() + 40
        while "Ctrl-C" not in text and time.monotonic() < deadline:
            text += proc.stdout.readline()
        ports = [int(p) for p in re.findall(r"status 127\.0\.0\.1:(\d+)", text)]
        assert len(ports) == 2 and all(fetch_status("127.0.0.1", p) for p in ports)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 10
        while any(fetch_status("127.0.0.1", p) for p in ports) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert all(fetch_status("127.0.0.1", p) is None for p in ports)
        for name in ("secrets.json", "cluster.secret"):
            assert (tmp_path / name).stat().st_mode & 0o777 == 0o600
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
