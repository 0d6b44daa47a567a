"""Real Toxiproxy proxies for the links of a small cluster, for the nemesis tests that change
links: each proxy leads to a closed port unless the test names another destination."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator, Mapping

from nemesis.interface import Link, proxy_name
from nemesis.proxies import ProxyControl


def cluster_links(nodes: tuple[str, ...], groups: tuple[str, ...]) -> list[Link]:
    """Every directed link: node -> node and client group -> node."""
    return [(a, b) for a in nodes for b in nodes if a != b] + [
        (c, n) for c in groups for n in nodes
    ]


def closed_address() -> str:
    """A loopback address nothing listens on (a port that was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{sock.getsockname()[1]}"


@contextlib.contextmanager
def link_proxies(
    url: str, links: list[Link], upstreams: Mapping[Link, str] | None = None, timeout: float = 2.0
) -> Iterator[ProxyControl]:
    """A proxy per link on the server at ``url`` (to ``upstreams[link]``, else a closed port),
    deleted again on exit."""
    closed = closed_address()
    with ProxyControl(url, timeout=timeout) as pc:
        for link in links:
            pc.create(proxy_name(*link), "127.0.0.1:0", (upstreams or {}).get(link, closed))
        yield pc
        pc.delete_all()
