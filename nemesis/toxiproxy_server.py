"""A local Toxiproxy server for one run: started on loopback, stopped after, output to a log."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import requests

from splitbrain.errors import SplitbrainError
from splitbrain.processes import die_with_parent

INSTALL_HINT = (
    "install it with scripts/install-toxiproxy.sh (needs Go; it puts toxiproxy-server on PATH)"
)


class ToxiproxyServerError(SplitbrainError, RuntimeError):
    """The server could not be started; the message says why and what to do."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether nothing listens on ``host:port`` now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


class ToxiproxyServer:
    """``toxiproxy-server -host 127.0.0.1 -port P`` as a child process.

    Use as a context manager: on entry the API answers at :attr:`url`; on exit (also on Ctrl-C or
    an exception) the server is stopped: SIGTERM, then SIGKILL after ``stop_timeout`` seconds.
    The child runs in its own session, so a Ctrl-C meant for the harness does not kill it before
    the harness has healed the network through it. Its stdout and stderr go to ``log_path``.
    """

    def __init__(
        self,
        log_path: Path,
        port: int | None = None,
        binary: str = "toxiproxy-server",
        start_timeout: float = 10.0,
        stop_timeout: float = 5.0,
    ) -> None:
        self.log_path = Path(log_path)
        self.port = port
        self.binary = binary
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The API's base URL, ``http://127.0.0.1:P``; valid once started."""
        if self.port is None:
            raise ToxiproxyServerError("the Toxiproxy server has not been started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> ToxiproxyServer:
        """Start the server and wait until its API answers; raises :class:`ToxiproxyServerError`."""
        if self.running:
            return self
        path = shutil.which(self.binary)
        if path is None:
            raise ToxiproxyServerError(f"{self.binary!r} is not on PATH; {INSTALL_HINT}")
        if self.port is None:
            self.port = free_port()
        elif not port_is_free(self.port):
            raise ToxiproxyServerError(
                f"port {self.port} on 127.0.0.1 is in use (a Toxiproxy server left running?); "
                "stop what holds it, or let ToxiproxyServer pick a free port"
            )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                [path, "-host", "127.0.0.1", "-port", str(self.port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        assert self._process is not None
        while True:
            code = self._process.poll()
            if code is not None:
                raise ToxiproxyServerError(
                    f"toxiproxy-server exited with code {code} at start (port {self.port} taken?); "
                    f"see {self.log_path}"
                )
            try:
                requests.get(f"{self.url}/version", timeout=0.5).raise_for_status()
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise ToxiproxyServerError(
                        f"toxiproxy-server did not answer at {self.url} within "
                        f"{self.start_timeout}s; see {self.log_path}"
                    ) from None
                time.sleep(0.05)
                continue
            if self._process.poll() is None:
                return

    def stop(self) -> None:
        """Stop the server; safe to call twice or when it never started."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(self.stop_timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> ToxiproxyServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
