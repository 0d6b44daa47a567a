"""Mistakes a user (or a developer adding a command) makes end in one line that names the file or
setting and what to do, exit 2, before any cluster starts; and a re-check loses nothing."""

from __future__ import annotations

import json
import pkgutil
import shutil
from pathlib import Path

import pytest

import harness.commands
from harness import cli
from harness.config import RunConfig
from harness.run import make_schedule
from nemesis.lazyfs import LazyFSError
from splitbrain.errors import SplitbrainError

EXAMPLES = Path(__file__).resolve().parents[1] / "histories" / "examples"


@pytest.fixture
def no_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    """Starting a cluster fails the test: these errors must come before."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a cluster was started")

    monkeypatch.setattr("harness.run.start_backend", refuse)


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_a_schedule_file_that_is_not_json_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_cluster: None
) -> None:
    bad = tmp_path / "schedule.json"
    bad.write_text("{not json")
    code = cli.main(["run", "--schedule", str(bad), "--out", str(tmp_path / "out")])
    line = one_line(capsys.readouterr().err)
    assert code == 2
    assert str(bad) in line and "not JSON" in line and "give a run's test.json" in line
    assert not (tmp_path / "out").exists()


def stored_run(folder: Path, config: RunConfig) -> Path:
    folder.mkdir(parents=True)
    test = {"config": config.to_json(), "schedule": make_schedule(config).to_json()}
    (folder / "test.json").write_text(json.dumps(test))
    return folder


def test_a_replay_on_another_cluster_size_says_which_flag_to_drop(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], no_cluster: None
) -> None:
    run = stored_run(tmp_path / "run", RunConfig(out=tmp_path / "out", nemesis=("partition",)))
    code = cli.main(["run", "--replay", str(run), "--nodes", "5"])
    line = one_line(capsys.readouterr().err)
    assert code == 2
    assert str(run / "test.json") in line
    assert "3 nodes" in line and "has 5" in line and "drop --nodes or give --nodes 3" in line
    assert not (tmp_path / "out").exists()


def test_lazyfs_errors_are_the_projects_errors(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert issubclass(LazyFSError, SplitbrainError)

    def lose_power(config: RunConfig) -> None:
        raise LazyFSError("cannot mount lazyfs: missing fusermount3. apt-get install fuse3")

    monkeypatch.setattr("harness.run.run_test", lose_power)
    assert cli.main(["run", "--nemesis", "power-loss"]) == 2
    assert "missing fusermount3" in one_line(capsys.readouterr().err)


def test_a_recheck_keeps_the_run_level_finding_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(EXAMPLES / "valid-basic.jsonl", run / "history.jsonl")
    assert cli.main(["check", str(run)]) == 0
    stored = json.loads((run / "results.json").read_text())
    leak = {"ids": ["m1-1"], "indexes": [], "why": "the raw form of m1-1's body is in n1.log"}
    stored["anomaly_counts"]["leaked"] = 2
    stored["anomalies"]["leaked"] = [leak]
    stored["valid"] = False
    (run / "results.json").write_text(json.dumps(stored))  # as a run that leaked writes it
    capsys.readouterr()
    assert cli.main(["check", str(run)]) == 1
    err = capsys.readouterr().err
    assert "kept the run-level findings" in err and "leaked 2" in err
    again = json.loads((run / "results.json").read_text())
    assert again["anomaly_counts"]["leaked"] == 2 and again["valid"] is False
    assert again["anomalies"]["leaked"] == [leak] and again["run_level"] == ["leaked"]


def test_a_misspelt_command_module_is_an_error_not_a_missing_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        cli, "SUBCOMMAND_MODULES", (*cli.SUBCOMMAND_MODULES, "harness.commands.chek")
    )
    assert cli.main(["check", str(EXAMPLES / "valid-basic.jsonl")]) == 2
    line = one_line(capsys.readouterr().err)
    assert "harness.commands.chek does not exist" in line and "SUBCOMMAND_MODULES" in line


def test_every_command_module_is_wired_and_of_the_one_shape() -> None:
    found = {f"harness.commands.{m.name}" for m in pkgutil.iter_modules(harness.commands.__path__)}
    assert found == set(cli.SUBCOMMAND_MODULES)
    for name in cli.SUBCOMMAND_MODULES:
        module = cli.command(name)
        assert callable(module.add_parser) and callable(module.main)
