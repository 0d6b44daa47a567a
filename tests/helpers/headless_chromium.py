"""A real headless Chromium, driven over the DevTools protocol, for tests of HTML pages.

:func:`chromium` starts the browser (Debian's ``chromium``; ``scripts/setup.sh`` installs it) with
a fresh profile and no network chatter, and yields a :class:`Browser`; :meth:`Browser.load` opens
a page, waits for its load event, and returns what its console and the page reported as errors
and the value of a JavaScript expression evaluated on the loaded page. Without the binary a test
skips on a laptop and fails in CI (CI=true), so CI never skips it silently.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
    "--remote-debugging-port=0",
)


@dataclass
class PageLoad:
    """What loading one page gave: error messages (console, exceptions, log) and the value."""

    errors: list[str]
    value: Any


@dataclass
class Browser:
    socket: ClientConnection
    ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def call(self, method: str, params: dict[str, Any] | None = None, **extra: Any) -> Any:
        """Send one command and return its result; events that arrive meanwhile go to
        ``extra['events']`` when given."""
        number = next(self.ids)
        message = {"id": number, "method": method, "params": params or {}}
        if "session" in extra:
            message["sessionId"] = extra["session"]
        self.socket.send(json.dumps(message))
        while True:
            reply = json.loads(self.socket.recv(timeout=30))
            if reply.get("id") == number:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            extra.get("events", []).append(reply)

    def load(self, url: str, expression: str, settle_s: float = 0.3) -> PageLoad:
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})
        session = attached["sessionId"]
        events: list[dict[str, Any]] = []
        for domain in ("Runtime", "Log", "Page"):
            self.call(f"{domain}.enable", session=session, events=events)
        self.call("Page.navigate", {"url": url}, session=session, events=events)
        deadline = time.monotonic() + 30
        while not any(e.get("method") == "Page.loadEventFired" for e in events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not finish loading in 30 s")
            events.append(json.loads(self.socket.recv(timeout=30)))
        settle = time.monotonic() + settle_s
        while (left := settle - time.monotonic()) > 0:
            try:
                events.append(json.loads(self.socket.recv(timeout=left)))
            except TimeoutError:
                break
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True},
            session=session,
            events=events,
        )
        self.call("Target.closeTarget", {"targetId": target})
        return PageLoad(_errors(events, session), result.get("result", {}).get("value"))


def _errors(events: list[dict[str, Any]], session: str) -> list[str]:
    found = []
    for event in events:
        if event.get("sessionId") != session:
            continue
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            found.append("console: " + " ".join(str(a.get("value")) for a in params["args"]))
        elif method == "Runtime.exceptionThrown":
            found.append("exception: " + str(params["exceptionDetails"].get("text")))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            found.append("log: " + str(params["entry"].get("text")))
    return found


def binary() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        reason = "chromium not installed: run scripts/setup.sh (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return found


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium with a fresh profile; stopped and its profile removed on exit."""
    profile = Path(tempfile.mkdtemp(prefix="splitbrain-chromium-"))
    process = subprocess.Popen(
        [binary(), *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.is_file() or len(port_file.read_text().split()) < 2:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"chromium did not start (exit {process.poll()})")
            time.sleep(0.05)
        port, path = port_file.read_text().split()[:2]
        with connect(f"ws://127.0.0.1:{port}{path}", max_size=None) as socket:
            yield Browser(socket)
    finally:
        _stop(process)
        shutil.rmtree(profile, ignore_errors=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the browser and its helper processes: the process group it was started in."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(process.pid, 0)  # any member of the group left?
            except ProcessLookupError:
                return
            time.sleep(0.05)
