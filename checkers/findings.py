"""The shape every example in the results shares, so reports can read any anomaly alike."""

from __future__ import annotations

from typing import Any, Protocol


class Finding(Protocol):
    """One piece of evidence of an anomaly; ``example()`` is its entry in the results."""

    def example(self) -> dict[str, Any]: ...


def example(
    ids: list[str], users: list[str], indexes: list[int], why: str, **extra: Any
) -> dict[str, Any]:
    """An example as the results hold it.

    ``ids`` are the message ids involved, ``users`` the users, ``indexes`` the history indexes
    that prove the finding (sorted, no repeats), ``why`` one plain sentence citing them; ``extra``
    adds keys particular to one anomaly.
    """
    return {
        "ids": ids,
        "users": users,
        "indexes": sorted(set(indexes)),
        "why": why,
        **extra,
    }


def at(index: int) -> str:
    """How a sentence cites a history line."""
    return f"index {index}"


def names(items: list[str] | tuple[str, ...]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"
