"""The example CI workflows in examples/ci/: their YAML parses, every command they call exists
(scripts in the repo; `splitbrain` subcommands and flags, parsed by the real argparse parser),
the seeded test fails the job on an anomaly, and the run directory and report are kept."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
CI = ROOT / "examples" / "ci"
SETUP = "bash scripts/setup.sh"  # the README's set-up command
OPERATORS = {"&&", "||", ";", "|"}


def load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((CI / name).read_text())
    assert isinstance(data, dict)
    return data


def github_steps() -> tuple[list[dict[str, Any]], dict[str, str]]:
    (job,) = load("github-actions.yml")["jobs"].values()
    return job["steps"], job.get("env", {})


def gitlab_job() -> dict[str, Any]:
    return load("gitlab-ci.yml")["fault-injection"]


def simple_commands(line: str, env: dict[str, str]) -> list[list[str]]:
    """The simple commands of one shell line, variables from ``env`` expanded."""
    line = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), m.group(0)), line)
    words = shlex.split(line, comments=True)
    commands: list[list[str]] = [[]]
    for word in words:
        if word in OPERATORS:
            commands.append([])
        else:
            commands[-1].append(word)
    return [c for c in commands if c]


def all_commands() -> list[tuple[str, list[str]]]:
    steps, env = github_steps()
    found = [("github", c) for s in steps if "run" in s for c in simple_commands(s["run"], env)]
    job = gitlab_job()
    for key in ("before_script", "script", "after_script"):
        for line in job.get(key, []):
            found += [("gitlab", c) for c in simple_commands(line, job.get("variables", {}))]
    return found


def test_both_workflows_parse_and_set_up_with_the_readme_command() -> None:
    assert SETUP in (ROOT / "README.md").read_text()
    steps, _ = github_steps()
    assert any(s.get("run") == SETUP for s in steps)
    assert SETUP in gitlab_job()["before_script"]


@pytest.mark.parametrize(("where", "argv"), all_commands(), ids=lambda x: str(x)[:40])
def test_every_command_called_exists(where: str, argv: list[str]) -> None:
    if argv[0] == "bash":
        assert (ROOT / argv[1]).is_file(), f"{where}: {argv[1]} is not in the repo"
    elif argv[0] == ".venv/bin/splitbrain":
        args = build_parser().parse_args(argv[1:])  # unknown subcommand or flag: SystemExit
        assert callable(args.func)


def test_the_commands_cover_a_seeded_run_and_the_junit_report() -> None:
    splitbrain = [argv[1:] for _, argv in all_commands() if argv[0] == ".venv/bin/splitbrain"]
    runs = [a for a in splitbrain if a[0] == "run"]
    assert len(runs) == 2 and all("--seed" in a and a[a.index("--seed") + 1] == "7" for a in runs)
    assert sum(1 for a in splitbrain if a[0] == "check" and "--junit" in a) == 2


def test_an_anomaly_fails_the_job_and_the_run_is_kept_anyway() -> None:
    steps, _ = github_steps()
    (run,) = [s for s in steps if "splitbrain run" in s.get("run", "")]
    assert "continue-on-error" not in run and "|| true" not in run["run"]
    uploads = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact")]
    assert all(s.get("if") == "always()" for s in uploads)
    paths = [s["with"]["path"] for s in uploads]
    assert "histories/ci/" in paths and "histories/ci/latest/report.html" in paths

    job = gitlab_job()
    assert not any("|| true" in line for line in job["script"])
    assert job["artifacts"]["when"] == "always"
    assert {"histories/ci/", "histories/ci/latest/report.html"} <= set(job["artifacts"]["paths"])
    assert job["artifacts"]["reports"]["junit"] == "histories/ci/junit.xml"


def test_the_checker_would_notice_a_missing_command() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--no-such-flag"])
    assert simple_commands('a "$SEED" && b || c', {"SEED": "7"}) == [["a", "7"], ["b"], ["c"]]
