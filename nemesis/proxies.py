"""Control of one Toxiproxy server's proxies: create, cut, restore, latency, reset.

This speaks Toxiproxy's HTTP API with ``requests`` directly rather than through toxiproxy-python
0.1.1, because that library cannot be contained: every call goes through the module-level class
``toxiproxy.api.APIConsumer``, whose ``host`` and ``port`` are class attributes that ``Proxy`` and
``Toxiproxy`` look up by name, and it calls ``requests.get/post/delete`` with no timeout. Aiming it
at a server means mutating that shared class (two servers, or two threads, would fight over it),
and a hung server would block the nemesis forever. Here each :class:`ProxyControl` owns its URL,
a ``requests.Session`` and a timeout on every request; the endpoints and payloads are the ones the
library sends (plus ``PATCH`` for updates, which Toxiproxy 2.x prefers to ``POST``).

Every method is blocking and thread-safe, and calls from different threads run at the same time
(each thread has its own HTTP session): a slow call on one proxy does not hold up another.
Call it from worker threads in async code. Every failure raises :class:`ToxiproxyError` naming
the proxy, the API URL and what to do. :class:`ToxiproxyNetwork` is the nemesis's
:class:`~nemesis.interface.NetworkControl` on top of it: a link is the proxy of that name.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

import requests

from nemesis.interface import CutMode, Link, proxy_name
from splitbrain.errors import SplitbrainError

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
    the server's own limit (25 s): removing a toxic waits up to 5 s for each buffered piece of
    a connection whose destination does not read (a node that just died, a client that just
    closed, a paused process), the server holds every other change to that proxy until then,
    and a client that gave up first would count a removal that then succeeded as failed.
    """

    def __init__(self, api_url: str, timeout: float = 30.0) -> None:
        self.api_url = api_url.rstrip("/")
        self.timeout = timeout
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    def _session(self) -> requests.Session:
        """This thread's session (``requests.Session`` is not safe to share between threads)."""
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()

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
            response = self._session().request(method, url, json=body, timeout=self.timeout)
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
        """Every proxy on the server, by name; ``toxics`` names those that act on data (not a
        latency toxic left at 0 ms by :meth:`clear_latency`)."""
        proxies = self._call("GET", "/proxies") or {}
        return {
            name: ProxyInfo(
                name=name,
                listen=p["listen"],
                upstream=p["upstream"],
                enabled=bool(p["enabled"]),
                toxics=tuple(sorted(t["name"] for t in p.get("toxics") or () if _acts(t))),
            )
            for name, p in proxies.items()
        }

    def _set_enabled(self, name: str, enabled: bool) -> None:
        self._call("PATCH", f"/proxies/{name}", name, {"enabled": enabled})

    def _add_toxic(
        self, name: str, toxic: str, stream: str, kind: str, attrs: dict[str, Any]
    ) -> None:
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
        Latency stays (see :meth:`clear_latency`). A cut's toxic closes the connections it held
        when it is deleted, so deleting it does not wait as a latency toxic's deletion can."""
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
        """End the latency :meth:`latency` added; harmless where there is none.

        The latency toxics are set to 0 ms rather than deleted (a toxic at 0 ms passes data on
        at once; :meth:`list` does not show it; :meth:`reset` and :meth:`delete_all` remove
        it): Toxiproxy deletes a toxic by flushing what it holds under the proxy's lock, and
        waits up to 5 s for every piece held for a connection whose destination closed during
        the latency (a client or node that gave up on the slow link), so a deletion can hold
        the proxy, and every change to it, for 25 s and more. Setting it to 0 returns at once.
        """
        idle = {"attributes": {"latency": 0, "jitter": 0}}
        for name in names:
            for toxic in _LATENCY_TOXICS.values():
                path = f"/proxies/{name}/toxics/{toxic}"
                self._call("PATCH", path, name, idle, ok_statuses=(404,))

    def reset(self) -> None:
        """Remove every toxic of every proxy and enable every proxy."""
        self._call("POST", "/reset")

    def delete_all(self) -> None:
        """Delete every proxy (their listeners close)."""
        for name in self.list():
            self._call("DELETE", f"/proxies/{name}", name, ok_statuses=(404,))


def _acts(toxic: dict[str, Any]) -> bool:
    attributes = toxic.get("attributes") or {}
    idle = toxic.get("type") == "latency" and not attributes.get("latency")
    return not (idle and not attributes.get("jitter"))


class ToxiproxyNetwork:
    """The :class:`~nemesis.interface.NetworkControl` of a Toxiproxy-routed cluster: the link
    ``src -> dst`` is the proxy :func:`~nemesis.interface.proxy_name` names, a cut is
    :meth:`ProxyControl.cut`, a delay a latency toxic on both streams (so a request-response
    round trip through the link gains about twice the delay)."""

    def __init__(self, proxies: ProxyControl) -> None:
        self.proxies = proxies

    def cut(self, links: Collection[Link], mode: CutMode = "drop") -> None:
        self.proxies.cut(_names(links), mode)

    def heal(self, links: Collection[Link]) -> None:
        self.proxies.restore(_names(links))

    def delay(self, links: Collection[Link], ms: int, jitter: int = 0) -> None:
        self.proxies.latency(_names(links), ms, jitter)

    def clear_delay(self, links: Collection[Link]) -> None:
        self.proxies.clear_latency(_names(links))


def _names(links: Collection[Link]) -> list[str]:
    return [proxy_name(src, dst) for src, dst in sorted(links)]
