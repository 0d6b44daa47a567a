"""Control of one Toxiproxy server's proxies: create, cut, restore, latency, reset.

This speaks Toxiproxy's HTTP API with ``requests`` directly rather than through toxiproxy-python
0.1.1, because that library cannot be contained: every call goes through the module-level class
``toxiproxy.api.APIConsumer``, whose ``host`` and ``port`` are class attributes that ``Proxy`` and
``Toxiproxy`` look up by name, and it calls ``requests.get/post/delete`` with no timeout. Aiming it
at a server means mutating that shared class (two servers, or two threads, would fight over it),
and a hung server would block the nemesis forever. Here each :class:`ProxyControl` owns its URL,
a ``requests.Session`` and a timeout on every request; the endpoints and payloads are the ones the
library sends (plus ``PATCH`` for updates, which Toxiproxy 2.x prefers to ``POST``).

Every method is blocking and thread-safe; call it from a worker thread in async code.
Every failure raises :class:`ToxiproxyError` naming the proxy, the API URL and what to do.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import requests

from splitbrain.errors import SplitbrainError

CutMode = Literal["drop", "refuse"]

_CUT_TOXICS = {"upstream": "splitbrain-cut-up", "downstream": "splitbrain-cut-down"}
_LATENCY_TOXICS = {"upstream": "splitbrain-latency-up", "downstream": "splitbrain-latency-down"}


class ToxiproxyError(SplitbrainError, RuntimeError):
    """A Toxiproxy API call failed; the message says which proxy, which server, and what to do."""


@dataclass(frozen=True)
class ProxyInfo:
    """One proxy as the server reports it."""

    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: tuple[str, ...]


class ProxyControl:
    """The proxies of the Toxiproxy server whose HTTP API is at ``api_url``.

    ``timeout`` bounds each HTTP request (connect and read), in seconds. The default outlasts
    the server's own limit (25 s): removing a toxic waits up to 5 s for each link whose
    destination does not read (a node that just died), and a client that gave up first would
    count a removal that then succeeded as failed.
    """

    def __init__(self, api_url: str, timeout: float = 30.0) -> None:
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()
        self._lock = threading.Lock()

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> ProxyControl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(
        self,
        method: str,
        path: str,
        proxy: str | None = None,
        body: Any = None,
        ok_statuses: Iterable[int] = (),
    ) -> Any:
        """One API request; returns the decoded JSON body (``None`` when empty)."""
        url = self.api_url + path
        what = (
            f"proxy {proxy!r} on the Toxiproxy server at {self.api_url}"
            if proxy
            else (f"the Toxiproxy server at {self.api_url}")
        )
        try:
            with self._lock:
                response = self._session.request(method, url, json=body, timeout=self.timeout)
        except requests.RequestException as exc:
            raise ToxiproxyError(
                f"{method} {path} failed for {what}: {exc}. Is the server running "
                "(nemesis.toxiproxy_server.ToxiproxyServer starts one)?"
            ) from exc
        if response.status_code >= 400 and response.status_code not in set(ok_statuses):
            hint = {
                404: "the proxy or toxic does not exist: create the proxies before the run",
                409: "it already exists: delete_all() first, or use another name",
            }.get(response.status_code, "see the server's log")
            raise ToxiproxyError(
                f"{method} {path} for {what} answered {response.status_code} "
                f"{response.text.strip()}; {hint}"
            )
        if not response.content or response.status_code >= 400:
            return None
        return response.json()

    def version(self) -> str:
        """The server's version string (also a cheap liveness check)."""
        return str(self._call("GET", "/version")["version"])

    def create(self, name: str, listen: str, upstream: str) -> str:
        """Create an enabled proxy ``listen -> upstream`` and return the address it listens on.

        ``listen`` ``"127.0.0.1:0"`` picks a free port; the address returned holds the real port,
        which the proxy keeps when it is disabled and enabled again.
        """
        body = {"name": name, "listen": listen, "upstream": upstream, "enabled": True}
        created = self._call("POST", "/proxies", name, body)
        return str(created["listen"])

    def list(self) -> dict[str, ProxyInfo]:
        """Every proxy on the server, by name."""
        proxies = self._call("GET", "/proxies") or {}
        return {
            name: ProxyInfo(
                name=name,
                listen=p["listen"],
                upstream=p["upstream"],
                enabled=bool(p["enabled"]),
                toxics=tuple(sorted(t["name"] for t in p.get("toxics") or ())),
            )
            for name, p in proxies.items()
        }

    def _set_enabled(self, name: str, enabled: bool) -> None:
        self._call("PATCH", f"/proxies/{name}", name, {"enabled": enabled})

    def _add_toxic(self, name: str, toxic: str, stream: str, kind: str, attrs: dict) -> None:
        body = {"name": toxic, "type": kind, "stream": stream, "toxicity": 1.0, "attributes": attrs}
        path = f"/proxies/{name}/toxics"
        if self._call("POST", path, name, body, ok_statuses=(409,)) is None:
            self._call("PATCH", f"{path}/{toxic}", name, {"attributes": attrs, "toxicity": 1.0})

    def _remove_toxic(self, name: str, toxic: str) -> None:
        self._call("DELETE", f"/proxies/{name}/toxics/{toxic}", name, ok_statuses=(404,))

    def cut(self, names: Iterable[str], mode: CutMode = "drop") -> None:
        """Cut each proxy in ``names``.

        ``drop``: a ``timeout`` toxic with timeout 0 on both streams; open connections stay open
        but nothing gets through, new connections are accepted and stay silent. When restored,
        Toxiproxy closes the connections that were open during the cut (as a peer's TCP
        would after a long outage); new connections work.
        ``refuse``: the proxy is disabled; it closes its connections and refuses new ones.
        Cutting a cut proxy again is harmless.
        """
        if mode not in ("drop", "refuse"):
            raise ValueError(f"cut mode must be 'drop' or 'refuse', not {mode!r}")
        for name in names:
            if mode == "refuse":
                self._set_enabled(name, False)
                continue
            for stream, toxic in _CUT_TOXICS.items():
                self._add_toxic(name, toxic, stream, "timeout", {"timeout": 0})

    def restore(self, names: Iterable[str]) -> None:
        """Undo :meth:`cut` (either mode) on each proxy; harmless on a proxy that is not cut.
        Latency stays (see :meth:`clear_latency`)."""
        for name in names:
            for toxic in _CUT_TOXICS.values():
                self._remove_toxic(name, toxic)
            self._set_enabled(name, True)

    def latency(self, names: Iterable[str], ms: int, jitter: int = 0) -> None:
        """Delay the data of each proxy by ``ms`` +- ``jitter`` milliseconds, in each direction
        (so a request-response round trip gains about ``2 * ms``). Replaces earlier latency."""
        attrs = {"latency": int(ms), "jitter": int(jitter)}
        for name in names:
            for stream, toxic in _LATENCY_TOXICS.items():
                self._add_toxic(name, toxic, stream, "latency", attrs)

    def clear_latency(self, names: Iterable[str]) -> None:
        """Remove the latency :meth:`latency` added; harmless where there is none."""
        for name in names:
            for toxic in _LATENCY_TOXICS.values():
                self._remove_toxic(name, toxic)

    def reset(self) -> None:
        """Remove every toxic of every proxy and enable every proxy."""
        self._call("POST", "/reset")

    def delete_all(self) -> None:
        """Delete every proxy (their listeners close)."""
        for name in self.list():
            self._call("DELETE", f"/proxies/{name}", name, ok_statuses=(404,))
