"""Builds ``nats-server`` from the Go module proxy, once per version, into the project's cache.

``go install github.com/nats-io/nats-server/v2@vX.Y.Z`` with ``CGO_ENABLED=0`` gives a static
binary that also runs in a FROM-scratch container. It lands in
``$SPLITBRAIN_CACHE/nats-server/<version>/nats-server`` (default cache ``~/.cache/splitbrain``),
put there by a rename, so a half-built binary is never seen; a lock file serialises concurrent
builds of one version. A version the proxy does not serve is a :class:`SystemConfigError` naming
the versions it does serve.

Command line (``scripts/install-nats.sh`` calls it)::

    python -m systems.nats [VERSION ...]     # none: the default version
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from systems.seam import SystemConfigError

MODULE = "github.com/nats-io/nats-server/v2"
DEFAULT_VERSION = "2.15.3"
BUILD_TIMEOUT = 900.0
LIST_TIMEOUT = 60.0
PROGRESS_EVERY = 10.0
_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?$")


def parse_version(value: object) -> str:
    """``"2.10.22"`` or ``"v2.10.22"`` as ``"2.10.22"``; ValueError for anything else."""
    text = str(value).strip()
    match = _VERSION.match(text)
    if not match:
        raise ValueError("expected a release number such as 2.10.22")
    if match.group(1) != "2":
        raise ValueError(f"{MODULE} serves 2.x releases only")
    return text.removeprefix("v")


def cache_root() -> Path:
    """Where built servers live: ``$SPLITBRAIN_CACHE`` or ``$XDG_CACHE_HOME/splitbrain``."""
    if explicit := os.environ.get("SPLITBRAIN_CACHE"):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "splitbrain"


def binary_path(version: str, root: Path | None = None) -> Path:
    """The cached ``nats-server`` of ``version`` (it may not exist yet)."""
    return (root or cache_root()) / "nats-server" / version / "nats-server"


def find_go() -> str:
    """The ``go`` command, from PATH or the usual install places; SystemConfigError if none."""
    found = shutil.which("go")
    if found:
        return found
    for candidate in ("/usr/local/go/bin/go", "/usr/lib/go/bin/go"):
        if os.access(candidate, os.X_OK):
            return candidate
    raise SystemConfigError(
        "building nats-server needs Go 1.22+ (no 'go' on PATH or in /usr/local/go/bin): install "
        "Go (e.g. 'apt-get install golang-go'), then run scripts/install-nats.sh again"
    )


def _version_key(version: str) -> tuple[int, int, int, int, str]:
    match = _VERSION.match(version)
    assert match
    major, minor, patch, pre = match.groups()
    return (int(major), int(minor), int(patch), 0 if pre else 1, pre or "")


def stable_versions(listing: str) -> list[str]:
    """The releases (no RC/beta/preview) named in ``go list -m -versions`` output, sorted."""
    words = listing.split()[1:]
    versions = [w.removeprefix("v") for w in words if _VERSION.match(w) and "-" not in w]
    return sorted(set(versions), key=_version_key)


def published_versions(go: str) -> list[str]:
    """Releases the Go module proxy serves, newest last; SystemConfigError when it can't say."""
    try:
        done = subprocess.run(
            [go, "list", "-m", "-versions", MODULE],
            capture_output=True,
            text=True,
            timeout=LIST_TIMEOUT,
            cwd=tempfile.gettempdir(),
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SystemConfigError(
            f"asking the Go module proxy for the versions of {MODULE} took over "
            f"{LIST_TIMEOUT:.0f} s (GOPROXY={os.environ.get('GOPROXY', 'default')}); check the "
            "network and try again"
        ) from None
    if done.returncode != 0:
        raise SystemConfigError(
            f"'go list -m -versions {MODULE}' failed: {done.stderr.strip()[-400:]}; check that "
            "the Go module proxy is reachable"
        )
    return stable_versions(done.stdout)


def unknown_version_message(version: str, published: Sequence[str]) -> str:
    """Says that ``version`` is not published and which releases are (same minor first)."""
    match = _VERSION.match(version)
    minor = f"{match.group(1)}.{match.group(2)}." if match else ""
    same_minor = [v for v in published if v.startswith(minor)]
    newest = published[-1] if published else "none"
    lines = [f"nats-server {version} is not published on the Go module proxy ({MODULE})."]
    if same_minor:
        lines.append(f"Releases of {minor}x: {', '.join(same_minor)}.")
    minors = sorted(
        {".".join(v.split(".")[:2]) for v in published}, key=lambda m: _version_key(m + ".0")
    )
    newest_per_minor = [
        max((v for v in published if v.startswith(m + ".")), key=_version_key) for m in minors
    ]
    lines.append(f"Newest release of each minor: {', '.join(newest_per_minor)} (newest: {newest}).")
    lines.append("Pick one with --system-opt version=X.Y.Z.")
    return "\n".join(lines)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pump(stream: TextIO, out: TextIO, tail: list[str]) -> None:
    for line in stream:
        tail.append(line.rstrip())
        del tail[:-30]
        print(f"nats-install:   {line.rstrip()}", file=out, flush=True)


def _go_install(go: str, version: str, gobin: Path, out: TextIO) -> None:
    env = {**os.environ, "GOBIN": str(gobin), "CGO_ENABLED": "0"}
    tail: list[str] = []
    started = time.monotonic()
    with subprocess.Popen(
        [go, "install", f"{MODULE}@v{version}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tempfile.gettempdir(),
    ) as proc:
        assert proc.stdout is not None
        reader = threading.Thread(target=_pump, args=(proc.stdout, out, tail), daemon=True)
        reader.start()
        while True:
            try:
                proc.wait(timeout=PROGRESS_EVERY)
                break
            except subprocess.TimeoutExpired:
                elapsed = time.monotonic() - started
                if elapsed > BUILD_TIMEOUT:
                    proc.kill()
                    proc.wait()
                    raise SystemConfigError(
                        f"building nats-server {version} took over {BUILD_TIMEOUT:.0f} s; killed"
                    ) from None
                print(
                    f"nats-install: still building nats-server {version} ({elapsed:.0f} s)",
                    file=out,
                    flush=True,
                )
        reader.join(timeout=5)
    if proc.returncode != 0:
        raise SystemConfigError(
            f"'go install {MODULE}@v{version}' failed (exit {proc.returncode}):\n  "
            + "\n  ".join(tail[-10:])
            + "\ncheck that the Go module proxy is reachable and that Go is 1.22 or newer"
        )


def ensure_server(version: str, out: TextIO | None = None, root: Path | None = None) -> Path:
    """The path of a runnable ``nats-server`` of ``version``, building it first when missing.

    Raises :class:`SystemConfigError` (never a Go traceback) when Go is missing, the version is
    not published, or the build fails.
    """
    out = out or sys.stderr  # at call time: a captured stderr may be gone later
    version = parse_version(version)
    target = binary_path(version, root)
    if target.is_file() and os.access(target, os.X_OK):
        return target
    with _locked(target.parent.parent / f".{version}.lock"):
        if target.is_file():
            return target
        go = find_go()
        published = published_versions(go)
        if version not in published:
            raise SystemConfigError(unknown_version_message(version, published))
        print(
            f"nats-install: building nats-server {version} with {go} (static, CGO_ENABLED=0); "
            "this takes 20-40 s the first time, then it is cached at " + str(target),
            file=out,
            flush=True,
        )
        started = time.monotonic()
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as tmp:
            _go_install(go, version, Path(tmp), out)
            built = Path(tmp) / "nats-server"
            if not built.is_file():
                raise SystemConfigError(f"go install succeeded but left no nats-server in {tmp}")
            os.replace(built, target)
        print(
            f"nats-install: built nats-server {version} in {time.monotonic() - started:.0f} s",
            file=out,
            flush=True,
        )
    return target


def main(argv: Sequence[str] | None = None) -> int:
    """Build each version given (default: :data:`DEFAULT_VERSION`); exit 1 with the reason."""
    versions = list(argv if argv is not None else sys.argv[1:]) or [DEFAULT_VERSION]
    for raw in versions:
        try:
            path = ensure_server(parse_version(raw), sys.stdout)
        except (SystemConfigError, ValueError) as exc:
            print(f"nats-install: {raw}: {exc}", file=sys.stderr)
            return 1
        print(f"nats-install: nats-server {raw} at {path}")
    return 0
