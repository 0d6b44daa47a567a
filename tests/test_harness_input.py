"""The harness survives its own bad input: what is not a history file, a run directory that
cannot be made, (``cluster up`` killed with SIGKILL is in test_sut_cluster_cmd.py)."""

from __future__ import annotations

import os
import time

import pytest

from harness.cli import main
from harness.runstore import RunDirError, new_run_dir, write_json


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
