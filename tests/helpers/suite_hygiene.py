"""Finds what makes a test suite lie: asserts that cannot fail, test modules imported as helpers,
and ``test_*`` modules pytest collects that hold no test.

Each finder takes source text and returns ``(line, why)`` pairs, so a test can plant a case.
The patterns are the ones this suite has had; the list is not a proof that an assert can fail.
"""

from __future__ import annotations

import ast

Finding = tuple[int, str]


def _is_object(node: ast.expr) -> bool:
    if isinstance(node, ast.Name):
        return node.id == "object"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        return _is_object(node.left) or _is_object(node.right)
    if isinstance(node, ast.Tuple):
        return any(_is_object(e) for e in node.elts)
    return False


def _always_true(test: ast.expr) -> str | None:
    """Why ``assert test`` cannot fail, or None when this finder sees no reason."""
    if isinstance(test, ast.Constant) and test.value:
        return f"asserts the constant {test.value!r}"
    if (
        isinstance(test, ast.Call)
        and getattr(test.func, "id", None) == "isinstance"
        and len(test.args) == 2
        and _is_object(test.args[1])
    ):
        return "isinstance(..., object) holds for every value"
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        right = test.comparators[0]
        if isinstance(test.ops[0], ast.In) and isinstance(right, ast.Tuple | ast.List | ast.Set):
            values = {e.value for e in right.elts if isinstance(e, ast.Constant)}
            if {True, False} <= values:
                return "`in (True, False, ...)` lists every value the verdict may take"
        same = ast.dump(test.left) == ast.dump(right)
        calls = any(isinstance(n, ast.Call) for n in ast.walk(test.left))
        if isinstance(test.ops[0], ast.Eq | ast.Is) and same and not calls:
            return "compares an expression with itself"  # f(x) == f(x) checks determinism
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or):
        for value in test.values:
            if why := _always_true(value):
                return f"one side of `or` {why}"
    return None


def tautologies(source: str) -> list[Finding]:
    """Asserts in ``source`` that hold whatever the code under test does."""
    return [
        (node.lineno, why)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Assert) and (why := _always_true(node.test))
    ]


def imports_of_test_modules(source: str) -> list[Finding]:
    """Imports of test modules (``test_x`` or ``tests.test_x``): shared code belongs in
    tests/helpers/, so that importing it does not collect or run another module's tests."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        found += [
            (node.lineno, f"imports the test module {name}: move what it needs to tests/helpers/")
            for name in names
            if any(part.startswith("test_") for part in name.split("."))
        ]
    return found


def holds_tests(source: str) -> bool:
    """Whether a module defines a test pytest would collect (a ``test*`` function or a
    ``Test*`` class, including ``TestCase`` attributes made from a state machine)."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names = [node.name]
        elif isinstance(node, ast.Assign):
            names = [t.id for t in node.targets if isinstance(t, ast.Name)]
        else:
            continue
        if any(name.startswith(("test", "Test")) for name in names):
            return True
    return False
