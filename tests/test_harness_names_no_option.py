"""No harness module names an option a system declares (DESIGN.md): what a system's options are,
their flags and what they mean come from the system's own declaration (systems.seam)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from systems import registry

ROOT = Path(__file__).resolve().parents[1]
# Words of the harness's own vocabulary that a system may also use as an option name.
HARNESS_WORDS = {
    "version": "the field of every system's description (systems.seam.SystemDescription)",
}
# Keyword arguments of library calls that happen to share an option's name.
LIBRARY_KEYWORDS = {("mode", "touch"), ("mode", "open")}  # Path.touch, tarfile.open


def declared() -> tuple[set[str], set[str]]:
    """Every option name and every flag of every registered system."""
    options: set[str] = set()
    flags: set[str] = set()
    for name in registry.names():
        cls = registry.system_class(name)
        options |= {o.name for o in cls.options}
        for shortcut in cls.shortcuts:
            flags |= {shortcut.run_flag, *([shortcut.vary_flag] if shortcut.vary_flag else [])}
    return options - set(HARNESS_WORDS), flags


def _callee(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def offences(root: Path, options: set[str], flags: set[str]) -> list[str]:
    """``file:line: what`` for each place under ``root/harness`` that names an option: a string
    that is an option's name, a text holding one of the systems' flags, or a keyword argument
    named after an option."""
    flag_words = re.compile(
        "|".join(rf"(?<![\w-]){re.escape(f)}(?![\w-])" for f in sorted(flags)) or "(?!)"
    )
    found = []
    for path in sorted((root / "harness").rglob("*.py")):
        where = path.relative_to(root)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if node.value in options:
                    found.append(f"{where}:{node.lineno}: the string {node.value!r}")
                elif flag_words.search(node.value):
                    flag = flag_words.search(node.value).group(0)  # type: ignore[union-attr]
                    found.append(f"{where}:{node.lineno}: the flag {flag}")
            elif isinstance(node, ast.Call):
                for keyword in node.keywords:
                    name = keyword.arg
                    if name in options and (name, _callee(node)) not in LIBRARY_KEYWORDS:
                        found.append(f"{where}:{node.lineno}: the keyword {name}=")
    return found


def test_no_harness_module_names_a_system_option() -> None:
    options, flags = declared()
    assert {"mode", "bug", "e2e", "sync_interval"} <= options and "--modes" in flags
    assert offences(ROOT, options, flags) == []


def test_the_scan_fires_on_planted_option_names(tmp_path: Path) -> None:
    options, flags = declared()
    (tmp_path / "harness" / "present").mkdir(parents=True)
    (tmp_path / "harness" / "present" / "planted.py").write_text(
        "def header(test, base):\n"
        "    mode = test.get('mode')\n"
        "    hint = f'rerun with --e2e off or --sync-interval {mode}'\n"
        "    return base.changed(sync_interval='always'), hint\n"
    )
    assert offences(tmp_path, options, flags) == [
        "harness/present/planted.py:2: the string 'mode'",
        "harness/present/planted.py:3: the flag --e2e",
        "harness/present/planted.py:4: the keyword sync_interval=",
    ]
