"""How the nodes and client groups of a run are named: ``n1, n2, ...`` and ``c0, c1, ...``.

Histories, schedules, proxies and test.json all use these names, so they are made here only.
"""

from __future__ import annotations


def node_names(count: int) -> tuple[str, ...]:
    """The names of a cluster of ``count`` nodes: ``n1`` .. ``n<count>``."""
    return tuple(f"n{i + 1}" for i in range(count))


def client_group_names(count: int) -> tuple[str, ...]:
    """The names of ``count`` client groups: ``c0`` .. ``c<count - 1>``."""
    return tuple(f"c{i}" for i in range(count))


def client_group_of(position: int, count: int) -> str:
    """The client group of the ``position``-th user when users are dealt over ``count`` groups."""
    return f"c{position % count}"
