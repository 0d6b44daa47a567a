"""Does pyproject.toml declare what the code imports, and import what it declares?

Pure parts (``requirement_name``, ``imports_in_source``, ``compare``) take text and mappings, so a
test can plant a mismatch and see it reported; ``read_manifest`` and ``imports_in_packages`` read
the repository. An import inside ``if TYPE_CHECKING:`` is not a run-time import and is not counted;
an import inside a function is (that is how optional parts are imported where used).
"""

from __future__ import annotations

import ast
import fnmatch
import re
import sys
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Manifest:
    """What pyproject.toml declares: runtime and per-extra distributions, first-party packages."""

    dependencies: frozenset[str]
    extras: Mapping[str, frozenset[str]]
    packages: tuple[str, ...]


@dataclass(frozen=True)
class Mismatch:
    """Declared distributions no module imports, and imports no declared distribution provides.

    ``undeclared`` maps a top-level import name to the ``file:line`` places that import it.
    """

    unused: tuple[str, ...] = ()
    undeclared: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.unused or self.undeclared)

    def explain(self) -> str:
        lines = [
            f"{name} is declared in pyproject.toml but no module imports it: remove it"
            for name in self.unused
        ]
        lines += [
            f"{name} is imported at {', '.join(places)} but no declared distribution provides "
            "it: add its distribution to pyproject.toml"
            for name, places in self.undeclared.items()
        ]
        return "\n".join(lines)


def normalize(name: str) -> str:
    """A distribution name in PEP 503 form: ``PyNaCl`` and ``pynacl`` are one distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    """The normalized distribution name of a PEP 508 requirement (``"docker>=7"`` -> docker)."""
    found = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    if found is None:
        raise ValueError(f"not a requirement: {requirement!r}")
    return normalize(found.group(1))


def read_manifest(pyproject: Path) -> Manifest:
    """The declarations of ``pyproject`` and the first-party packages at its root that match
    ``[tool.setuptools.packages.find] include`` (dotted sub-package patterns are ignored)."""
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    project = data["project"]
    extras = {
        extra: frozenset(requirement_name(r) for r in reqs)
        for extra, reqs in project.get("optional-dependencies", {}).items()
    }
    patterns = data["tool"]["setuptools"]["packages"]["find"]["include"]
    root = pyproject.parent
    packages = sorted(
        p.name
        for p in root.iterdir()
        if (p / "__init__.py").is_file() and any(fnmatch.fnmatch(p.name, pat) for pat in patterns)
    )
    return Manifest(
        frozenset(requirement_name(r) for r in project.get("dependencies", [])),
        extras,
        tuple(packages),
    )


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_in_source(source: str, filename: str = "<source>") -> dict[str, list[int]]:
    """Top-level names of the absolute imports ``source`` makes at run time, with their lines."""
    found: dict[str, list[int]] = {}

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.setdefault(alias.name.split(".")[0], []).append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.setdefault(node.module.split(".")[0], []).append(node.lineno)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(source, filename=filename))
    return found


def imports_in_files(files: Iterable[Path], root: Path) -> dict[str, list[str]]:
    """Top-level import name -> ``path:line`` places, over every file (paths relative to root)."""
    places: dict[str, list[str]] = {}
    for path in sorted(files):
        source = path.read_text(encoding="utf-8")
        for name, lines in imports_in_source(source, str(path)).items():
            rel = path.relative_to(root)
            places.setdefault(name, []).extend(f"{rel}:{line}" for line in lines)
    return places


def compare(
    declared: Iterable[str],
    imports: Mapping[str, Iterable[str]],
    providers: Mapping[str, Iterable[str]],
    local: Iterable[str],
    *,
    check_unused: bool = True,
) -> Mismatch:
    """Match declared distributions against imports.

    ``providers`` maps an import name to the distributions that provide it (the shape of
    ``importlib.metadata.packages_distributions()``); ``local`` names the project's own packages.
    The standard library needs no declaration. With ``check_unused`` every declared distribution
    must provide at least one import.
    """
    wanted = {normalize(d) for d in declared}
    own = set(local) | set(sys.stdlib_module_names) | {"__future__"}
    used: set[str] = set()
    undeclared: dict[str, tuple[str, ...]] = {}
    for name, places in sorted(imports.items()):
        if name in own:
            continue
        dists = {normalize(d) for d in providers.get(name, ())}
        if dists & wanted:
            used |= dists & wanted
        else:
            undeclared[name] = tuple(places)
    unused = tuple(sorted(wanted - used)) if check_unused else ()
    return Mismatch(unused, undeclared)
