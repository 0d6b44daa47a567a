"""The suite itself: no assert that cannot fail, no test module imported as a helper, no
collected ``test_*`` module without tests. Each finder is first shown to fire on a planted case."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.helpers.needs import require_binary, skip_or_fail
from tests.helpers.suite_hygiene import holds_tests, imports_of_test_modules, tautologies

TESTS = Path(__file__).resolve().parent
SOURCES = sorted(TESTS.rglob("*.py"))


def _where(path: Path, findings: list[tuple[int, str]]) -> list[str]:
    return [f"{path.relative_to(TESTS.parent)}:{line}: {why}" for line, why in findings]


@pytest.mark.parametrize(
    "line",
    [
        "assert isinstance(a, Applied | object)",
        "assert isinstance(a, (int, object))",
        'assert outcome.results["valid"] in (True, False, "unknown")',
        "assert True",
        "assert 'why'",
        "assert x == x",
        "assert ok or True",
    ],
)
def test_a_planted_tautology_is_found(line: str) -> None:
    assert [n for n, _ in tautologies(f"x = 1\n{line}\n")] == [2]


@pytest.mark.parametrize(
    "line",
    [
        "assert isinstance(a, Applied | Note)",
        'assert outcome.results["valid"] in (True, "unknown")',
        "assert x == y",
        "assert generate(seed) == generate(seed)",
        "assert False, 'unreachable'",
        "assert ok or retried",
    ],
)
def test_an_assert_that_can_fail_is_not_flagged(line: str) -> None:
    assert tautologies(line) == []


def test_no_assert_in_the_suite_is_a_tautology() -> None:
    found = [w for p in SOURCES for w in _where(p, tautologies(p.read_text(encoding="utf-8")))]
    assert found == []


def test_imports_of_test_modules_are_found() -> None:
    source = "from test_report import parse\nimport tests.test_x\nfrom tests.helpers import y\n"
    assert [n for n, _ in imports_of_test_modules(source)] == [1, 2]


def test_no_module_of_the_suite_imports_a_test_module() -> None:
    found = [
        where
        for p in SOURCES
        for where in _where(p, imports_of_test_modules(p.read_text(encoding="utf-8")))
    ]
    assert found == []


def test_a_module_without_tests_is_told_from_one_with_tests() -> None:
    assert not holds_tests("def main():\n    pass\nclass Handler:\n    pass\n")
    assert holds_tests("def test_x():\n    pass\n")
    assert holds_tests("class TestX:\n    pass\n")
    assert holds_tests("TestMachine = Machine.TestCase\n")


def test_every_collected_test_module_holds_tests() -> None:
    empty = [
        str(p.relative_to(TESTS.parent))
        for p in sorted(TESTS.rglob("test_*.py"))
        if not holds_tests(p.read_text(encoding="utf-8"))
    ]
    assert empty == [], "move these helpers to tests/helpers/ under a name pytest does not collect"


def test_a_missing_part_skips_on_a_laptop_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no daemon"):
        skip_or_fail("no daemon")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI must run this test, but no daemon"):
        skip_or_fail("no daemon")
    with pytest.raises(pytest.fail.Exception, match="no-such-binary-here not on PATH: apt it"):
        require_binary("no-such-binary-here", "apt it")
    assert require_binary("sh", "") == shutil.which("sh")
