"""The images the docker backend runs, built with or without a registry.

Two sources, chosen by ``--image-source``:

``local`` (the default; needs no registry at all)
    * Toxiproxy: a ``FROM scratch`` image holding only a statically linked ``toxiproxy-server``,
      either the one on PATH (when it is static) or one built here with
      ``CGO_ENABLED=0 go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0`` into a cache
      folder.
    * Node: an empty ``FROM scratch`` image. The container runs the host's own Python: the host's
      ``/usr``, ``/lib``, ``/lib64``, ``/bin``, ``/sbin``, ``/etc``, the Python prefix, the venv and
      the project tree are bind-mounted read-only at the same paths. Nothing is copied, so the image
      builds in well under a second and never goes stale; the containers see the same code as the
      local backend.

``registry`` (for machines that can pull)
    * Toxiproxy: the official ``ghcr.io/shopify/toxiproxy`` image.
    * Node: ``docker/Dockerfile`` (``FROM python:3.12-slim``, ``pip install .``), built from the
      project's sources. Self-contained: nothing of the host is mounted but the run folder.

Every image built here is tagged with a hash of what went into it, so an unchanged image is never
built twice; images carry the label ``splitbrain.image``.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import struct
import subprocess
import sys
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors
from docker.types import Mount

from splitbrain.errors import SplitbrainError

IMAGE_SOURCES = ("local", "registry")
TOXIPROXY_VERSION = "v2.12.0"
TOXIPROXY_MODULE = "github.com/Shopify/toxiproxy/v2/cmd/server"
TOXIPROXY_REGISTRY_IMAGE = f"ghcr.io/shopify/toxiproxy:{TOXIPROXY_VERSION.lstrip('v')}"
PROJECT_ROOT = Path(__file__).resolve().parents[2]
# What `pip install .` needs from the project; the registry image's build context is only these.
PROJECT_SOURCES = (
    "pyproject.toml",
    "README.md",
    "harness",
    "system_under_test",
    "nemesis",
    "checkers",
    "systems",
    "splitbrain",
)
HOST_SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc")


class ImageError(SplitbrainError, RuntimeError):
    """An image could not be built or found; the message says what to do about it."""


@dataclass(frozen=True)
class NodeImage:
    """How to run a node container from this image.

    ``python`` is the interpreter path inside the container; ``mounts`` are read-only bind mounts
    the container needs besides the run folder; ``environment`` and ``working_dir`` go to the
    container as they are.
    """

    tag: str
    source: str
    python: str
    mounts: tuple[Mount, ...] = ()
    environment: dict[str, str] = field(default_factory=dict)
    working_dir: str = "/"


def ensure_toxiproxy_image(client: docker.DockerClient, source: str = "local") -> str:
    """Return the tag of a Toxiproxy image present in the daemon, building or pulling it if needed.

    The image's entrypoint is the server: run it with ``["-host=0.0.0.0", "-port=8474"]``.
    """
    _check_source(source)
    if source == "registry":
        return _ensure_pulled(client, TOXIPROXY_REGISTRY_IMAGE)
    binary = static_toxiproxy_binary()
    dockerfile = (
        'FROM scratch\nCOPY toxiproxy-server /toxiproxy-server\nENTRYPOINT ["/toxiproxy-server"]\n'
    )
    files = {"toxiproxy-server": (binary.read_bytes(), 0o755)}
    return _ensure_built(client, "splitbrain/toxiproxy", dockerfile, files, kind="toxiproxy")


def ensure_node_image(client: docker.DockerClient, source: str = "local") -> NodeImage:
    """Return a node image present in the daemon (built if needed) and how to run it."""
    _check_source(source)
    if source == "registry":
        return _ensure_registry_node_image(client)
    dockerfile = "FROM scratch\nLABEL splitbrain.host-root=true\n"
    tag = _ensure_built(client, "splitbrain/node-hostroot", dockerfile, {}, kind="node")
    return NodeImage(
        tag=tag,
        source="local",
        python=sys.executable,
        mounts=tuple(
            Mount(target=p, source=p, type="bind", read_only=True) for p in host_root_paths()
        ),
        environment={
            "PYTHONPATH": str(PROJECT_ROOT),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "HOME": "/tmp",
        },
        working_dir=str(PROJECT_ROOT),
    )


def host_root_paths() -> list[str]:
    """The host paths a host-root node container mounts: system dirs, Python, venv, project.

    Paths that do not exist are left out, and so is any path inside another one in the list.
    """
    wanted = [*HOST_SYSTEM_DIRS, sys.base_prefix, sys.prefix, str(PROJECT_ROOT)]
    existing = sorted({os.path.normpath(p) for p in wanted if os.path.exists(p)})
    kept: list[str] = []
    for path in existing:
        if not any(path == k or path.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(path)
    return kept


def static_toxiproxy_binary() -> Path:
    """A statically linked ``toxiproxy-server``: the one on PATH if static, else one built here.

    The build goes to ``$XDG_CACHE_HOME/splitbrain`` (default ``~/.cache/splitbrain``) and is
    reused by later runs.
    """
    on_path = shutil.which("toxiproxy-server")
    if on_path and is_static_elf(Path(on_path)):
        return Path(on_path)
    cache = _cache_dir() / f"toxiproxy-{TOXIPROXY_VERSION}"
    built = cache / "server"
    if built.exists() and is_static_elf(built):
        return built
    return _go_install_static_toxiproxy(cache)


def is_static_elf(path: Path) -> bool:
    """True if ``path`` is an ELF executable with no program interpreter (statically linked)."""
    try:
        with path.open("rb") as f:
            header = f.read(64)
            if len(header) < 64 or header[:4] != b"\x7fELF" or header[4] != 2:
                return False  # not a 64-bit ELF
            endian = "<" if header[5] == 1 else ">"
            (phoff,) = struct.unpack_from(endian + "Q", header, 0x20)
            phentsize, phnum = struct.unpack_from(endian + "HH", header, 0x36)
            f.seek(phoff)
            table = f.read(phentsize * phnum)
    except OSError:
        return False
    pt_interp = 3
    types = (struct.unpack_from(endian + "I", table, i * phentsize)[0] for i in range(phnum))
    return pt_interp not in types


def _go_install_static_toxiproxy(cache: Path) -> Path:
    go = shutil.which("go") or (
        "/usr/local/go/bin/go" if Path("/usr/local/go/bin/go").exists() else None
    )
    if go is None:
        raise ImageError(
            "no statically linked toxiproxy-server on PATH and no Go toolchain to build one: "
            "install Go, or put a static toxiproxy-server on PATH, or use --image-source registry"
        )
    cache.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CGO_ENABLED": "0", "GOBIN": str(cache)}
    cmd = [go, "install", f"{TOXIPROXY_MODULE}@{TOXIPROXY_VERSION}"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    built = cache / "server"
    if done.returncode != 0 or not built.exists():
        raise ImageError(
            f"building Toxiproxy failed ({' '.join(cmd)}, exit {done.returncode}):\n"
            f"{done.stderr[-2000:]}\nCheck that the Go module proxy is reachable, "
            "or use --image-source registry"
        )
    if not is_static_elf(built):
        raise ImageError(
            f"{built} is not statically linked although CGO_ENABLED=0; delete it and retry"
        )
    return built


def _ensure_registry_node_image(client: docker.DockerClient) -> NodeImage:
    dockerfile = (PROJECT_ROOT / "docker" / "Dockerfile").read_text()
    files = dict(_project_files())
    tag = _ensure_built(client, "splitbrain/node", dockerfile, files, kind="node", pull=True)
    return NodeImage(
        tag=tag,
        source="registry",
        python="python",
        environment={"PYTHONUNBUFFERED": "1"},
        working_dir="/",
    )


def _project_files() -> Iterable[tuple[str, tuple[bytes, int]]]:
    for name in PROJECT_SOURCES:
        top = PROJECT_ROOT / name
        paths = [top] if top.is_file() else sorted(top.rglob("*")) if top.is_dir() else []
        for path in paths:
            if path.is_file() and "__pycache__" not in path.parts:
                rel = path.relative_to(PROJECT_ROOT).as_posix()
                yield rel, (path.read_bytes(), 0o644)


def _ensure_built(
    client: docker.DockerClient,
    repository: str,
    dockerfile: str,
    files: dict[str, tuple[bytes, int]],
    *,
    kind: str,
    pull: bool = False,
) -> str:
    """Build ``dockerfile`` with ``files`` as context unless an image of the same content exists."""
    tag = f"{repository}:{_content_hash(dockerfile, files)}"
    try:
        client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    context = _tar_context(dockerfile, files)
    try:
        client.images.build(
            fileobj=context,
            custom_context=True,
            tag=tag,
            pull=pull,
            rm=True,
            forcerm=True,
            labels={"splitbrain.image": kind},
        )
    except docker.errors.BuildError as exc:
        log = "".join(str(chunk.get("stream", chunk.get("error", ""))) for chunk in exc.build_log)
        hint = (
            "this source needs a registry; use --image-source local"
            if pull
            else "see the build log above"
        )
        raise ImageError(f"building {tag} failed: {exc.msg}\n{log[-2000:]}\n{hint}") from exc
    return tag


def _ensure_pulled(client: docker.DockerClient, reference: str) -> str:
    try:
        client.images.get(reference)
        return reference
    except docker.errors.ImageNotFound:
        pass
    try:
        client.images.pull(reference)
    except docker.errors.APIError as exc:
        raise ImageError(
            f"cannot pull {reference} ({exc.explanation or exc}); with no registry, "
            "use --image-source local"
        ) from exc
    return reference


def _content_hash(dockerfile: str, files: dict[str, tuple[bytes, int]]) -> str:
    digest = hashlib.sha256(dockerfile.encode())
    for name in sorted(files):
        data, mode = files[name]
        digest.update(f"\0{name}\0{mode:o}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()[:16]


def _tar_context(dockerfile: str, files: dict[str, tuple[bytes, int]]) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, (data, mode) in {"Dockerfile": (dockerfile.encode(), 0o644), **files}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "splitbrain"


def _check_source(source: str) -> None:
    if source not in IMAGE_SOURCES:
        raise ImageError(f"unknown image source {source!r}: use one of {', '.join(IMAGE_SOURCES)}")
