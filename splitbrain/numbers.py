"""Numbers read from JSON the project did not necessarily write (histories, results, test.json):
an int is an int only if it is not a bool, a number is finite-or-not but never a bool."""

from __future__ import annotations

from typing import Any, TypeVar

D = TypeVar("D")


def is_int(value: Any) -> bool:
    """Whether ``value`` is an int that is not a bool (JSON ``true`` is not a count)."""
    return isinstance(value, int) and not isinstance(value, bool)


def int_or(value: Any, default: D) -> int | D:
    """``value`` if it is an int (a bool is not), else ``default``."""
    return value if is_int(value) else default  # type: ignore[no-any-return]


def number_or(value: Any, default: D) -> float | int | D:
    """``value`` if it is an int or a float (a bool is not), else ``default``."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return default
