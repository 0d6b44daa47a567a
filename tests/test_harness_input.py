"""The harness survives its own bad input: what is not a history file, a run directory that
cannot be made, and a ``cluster up`` killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from harness.cli import main
from harness.runstore import RunDirError, new_run_dir, write_json
from system_under_test.launcher import fetch_status, free_base_port


@pytest.mark.parametrize("kind", ["fifo", "device", "directory-without-history"])
def test_check_refuses_what_is_not_a_regular_file_at_once(tmp_path, capsys, kind):
    if kind == "fifo":
        path = tmp_path / "history.jsonl"
        os.mkfifo(path)  # no writer: opening it the usual way would block for good
        expected = "is a FIFO"
    elif kind == "device":
        path, expected = "/dev/zero", "is a character device"
    else:
        path, expected = tmp_path, "has no history.jsonl"
    began = time.monotonic()
    assert main(["check", str(path)]) == 2
    assert time.monotonic() - began < 5
    err = capsys.readouterr().err
    assert expected in err and str(path) in err and err.count("\n") == 1


def test_a_run_directory_history_that_is_a_fifo_is_refused(tmp_path, capsys):
    os.mkfifo(tmp_path / "history.jsonl")
    assert main(["check", str(tmp_path)]) == 2
    assert "history.jsonl" in capsys.readouterr().err


def test_run_directory_under_a_regular_file_is_one_clear_line(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunDirError) as caught:
        new_run_dir(tmp_path / "file" / "out", "chat")
    text = str(caught.value)
    assert str(tmp_path / "file") in text and "Not a directory" in text and "--out" in text
    assert "\n" not in text and "[Errno" not in text
    with pytest.raises(RunDirError, match="cannot write"):
        write_json(tmp_path / "file" / "results.json", {})


def test_run_with_out_under_a_regular_file_exits_2_with_that_line(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert main(["run", "--out", str(tmp_path / "file" / "out"), "--time-limit", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("splitbrain run: cannot create the run folder") and "[Errno" not in err


@pytest.mark.slow
def test_cluster_up_killed_with_sigkill_takes_its_nodes_along(tmp_path):
    base = free_base_port(3)
    cmd = [sys.executable, "-m", "harness.cli", "cluster", "up", "--nodes", "3",
           "--base-port", str(base), "--dir", str(tmp_path)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if "Ctrl-C" in line or not line:
                break
        assert all(fetch_status("127.0.0.1", base + i) for i in range(3)), "cluster did not start"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if all(fetch_status("127.0.0.1", base + i) is None for i in range(3)):
                break
            time.sleep(0.2)
        assert all(fetch_status("127.0.0.1", base + i) is None for i in range(3))
        for name in ("secrets.json", "cluster.secret"):
            assert (tmp_path / name).stat().st_mode & 0o777 == 0o600
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
