"""``splitbrain cluster up`` starts a working cluster and stops every node on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from system_under_test.launcher import fetch_status, free_base_port


def test_cluster_up_serves_and_stops_every_node_on_ctrl_c(tmp_path):
    base = free_base_port(3)
    cmd = [sys.executable, "-m", "harness.cli", "cluster", "up", "--nodes", "3", "--mode", "cp",
           "--base-port", str(base), "--dir", str(tmp_path)]  # fmt: skip
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
        assert f"ws://127.0.0.1:{base}/client" in text, text
        assert str(tmp_path / "secrets.json") in text
        statuses = [fetch_status("127.0.0.1", base + i) for i in range(3)]
        assert sorted(s["role"] for s in statuses) == ["primary", "secondary", "secondary"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(20) == 0
        assert "stopped every node" in proc.stdout.read()
        assert all(fetch_status("127.0.0.1", base + i) is None for i in range(3))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
