"""pyproject.toml declares exactly what the code imports at run time, and `--help` stays light."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

from tests.helpers.manifest import (
    compare,
    imports_in_files,
    imports_in_source,
    read_manifest,
    requirement_name,
)

ROOT = Path(__file__).resolve().parents[1]
TOOL_DIRS = ("tests", "benchmarks", "scripts")


def _python_files(*dirs: Path) -> list[Path]:
    return [p for d in dirs for p in d.rglob("*.py")]


def test_runtime_dependencies_are_exactly_what_the_packages_import() -> None:
    manifest = read_manifest(ROOT / "pyproject.toml")
    assert {"harness", "nemesis", "checkers", "system_under_test"} <= set(manifest.packages)
    files = _python_files(*(ROOT / p for p in manifest.packages))
    imports = imports_in_files(files, ROOT)
    mismatch = compare(manifest.dependencies, imports, packages_distributions(), manifest.packages)
    assert not mismatch, mismatch.explain()


def test_tests_benchmarks_and_scripts_import_only_declared_distributions() -> None:
    manifest = read_manifest(ROOT / "pyproject.toml")
    files = _python_files(*(ROOT / d for d in TOOL_DIRS if (ROOT / d).is_dir()))
    local = {*manifest.packages, *TOOL_DIRS, *(p.stem for p in files)}
    declared = manifest.dependencies | manifest.extras["test"]
    mismatch = compare(
        declared, imports_in_files(files, ROOT), packages_distributions(), local, check_unused=False
    )
    assert not mismatch, mismatch.explain()


def test_the_check_reports_a_planted_unused_and_a_planted_undeclared_dependency() -> None:
    imports = {
        "requests": ["nemesis/proxies.py:23"],
        "yaml": ["harness/x.py:3", "harness/y.py:9"],
        "os": ["harness/x.py:1"],
        "harness": ["harness/x.py:2"],
    }
    providers = {"requests": ["requests"], "yaml": ["PyYAML"], "toxiproxy": ["toxiproxy-python"]}
    mismatch = compare(
        [requirement_name("requests>=2"), requirement_name("toxiproxy-python>=0.1.1")],
        imports,
        providers,
        ["harness"],
    )
    assert mismatch.unused == ("toxiproxy-python",)
    assert dict(mismatch.undeclared) == {"yaml": ("harness/x.py:3", "harness/y.py:9")}
    words = mismatch.explain()
    assert "toxiproxy-python is declared" in words and "yaml is imported at harness/x.py:3" in words
    assert not compare(["requests", "PyYAML"], imports, providers, ["harness"])


def test_the_check_reads_a_planted_project_with_real_distribution_names(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "p"\ndependencies = ["PyNaCl>=1.5", "docker >= 7", "networkx"]\n'
        '[project.optional-dependencies]\ntest = ["pytest>=8"]\n'
        '[tool.setuptools.packages.find]\ninclude = ["app*"]\n'
    )
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "__init__.py").write_text("")
    (tmp_path / "app" / "a.py").write_text(
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "from nacl.signing import SigningKey\n"
        "from . import b\n"
        "if TYPE_CHECKING:\n"
        "    import networkx\n"
        "def lazy():\n"
        "    import docker.errors\n"
        "import requests\n"
    )
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "__init__.py").write_text("import websockets\n")
    manifest = read_manifest(tmp_path / "pyproject.toml")
    assert manifest.packages == ("app",)
    assert manifest.dependencies == {"pynacl", "docker", "networkx"}
    assert manifest.extras == {"test": {"pytest"}}
    imports = imports_in_files(_python_files(tmp_path / "app"), tmp_path)
    assert imports["requests"] == ["app/a.py:9"] and "networkx" not in imports
    mismatch = compare(manifest.dependencies, imports, packages_distributions(), manifest.packages)
    assert mismatch.unused == ("networkx",)
    assert list(mismatch.undeclared) == ["requests"]


def test_only_absolute_run_time_imports_count() -> None:
    source = (
        "import a.b as c, d\n"
        "from e.f import g\n"
        "from . import h\n"
        "from ..i import j\n"
        "import typing\n"
        "if typing.TYPE_CHECKING:\n"
        "    import k\n"
        "else:\n"
        "    import m\n"
        "class C:\n"
        "    def f(self):\n"
        "        import n\n"
    )
    assert imports_in_source(source) == {
        "a": [1],
        "d": [1],
        "e": [2],
        "typing": [5],
        "m": [9],
        "n": [12],
    }


HELP_THEN_MODULES = """
import contextlib, io, sys
from harness.cli import main
with contextlib.redirect_stdout(io.StringIO()) as shown, contextlib.suppress(SystemExit):
    main(["--help"])
assert "usage: splitbrain" in shown.getvalue(), shown.getvalue()
print("\\n".join(sorted(sys.modules)))
"""


def test_help_does_not_import_the_docker_sdk() -> None:
    """sys.modules, not ``-X importtime``: importtime does not list modules loaded through
    ``importlib.import_module``, which is how the CLI loads its subcommands."""
    done = subprocess.run(
        [sys.executable, "-c", HELP_THEN_MODULES],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    loaded = set(done.stdout.split())
    assert "harness.commands.clean" in loaded  # the subcommand that uses the SDK did load
    assert not {m for m in loaded if m == "docker" or m.startswith("docker.")}
