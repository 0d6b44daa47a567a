"""The import graph stays one-way (DESIGN.md): the harness knows systems only through the seam
and the registry, the checkers import no other package of the project, the nemesis no harness."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imports_of(package: str, root: Path = ROOT) -> dict[str, set[str]]:
    """Module file -> the dotted names it imports (at any depth, TYPE_CHECKING included)."""
    found: dict[str, set[str]] = {}
    for path in (root / package).rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        found[str(path.relative_to(root))] = names
    return found


def offenders(
    package: str, allowed: Callable[[str], bool], forbidden: tuple[str, ...], root: Path = ROOT
) -> list[str]:
    return sorted(
        f"{module} imports {name}"
        for module, names in imports_of(package, root).items()
        for name in names
        if name.split(".")[0] in forbidden and not allowed(name)
    )


def test_no_harness_module_imports_a_particular_system() -> None:
    seam = ("systems.seam", "systems.registry")

    def allowed(name: str) -> bool:
        return name == "systems" or any(name == s or name.startswith(s + ".") for s in seam)

    assert offenders("harness", allowed, ("systems", "system_under_test")) == []


def test_the_checkers_and_the_nemesis_stay_below_the_harness() -> None:
    never = lambda name: False  # noqa: E731
    assert (
        offenders("checkers", never, ("harness", "nemesis", "systems", "system_under_test")) == []
    )
    assert offenders("nemesis", never, ("harness", "systems", "system_under_test")) == []


def never(name: str) -> bool:
    return False


def test_the_check_fires_on_a_planted_import(tmp_path: Path) -> None:
    (tmp_path / "harness").mkdir()
    (tmp_path / "harness" / "planted.py").write_text("from systems.reference import X\n")
    found = offenders("harness", never, ("systems",), root=tmp_path)
    assert found == ["harness/planted.py imports systems.reference", "harness/planted.py imports "
                     "systems.reference.X"]  # fmt: skip
