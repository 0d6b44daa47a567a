"""The docker backend: one container per node and one Toxiproxy container on a bridge network.

Layout of one run (``runid`` is given by the caller or made from the run folder's name):

* network ``splitbrain-<runid>`` (user-defined bridge: containers resolve each other by name);
* container ``splitbrain-<runid>-toxiproxy`` (alias ``toxiproxy``) holding every proxy:
  ``n_i-n_j`` listens on ``PEER_PORT_BASE + 100*i + j`` inside the network, upstream the peer
  port of ``n_j``; ``c_k-n_j`` listens on ``CLIENT_PORT_BASE + 100*k + j``, upstream the client
  port of ``n_j``, and is published on ``127.0.0.1``; the API (8474) is published there too;
* container ``splitbrain-<runid>-<node>`` (hostname and alias ``<node>``) per node, running what
  the system's ``launch`` says, its named ports at ``NODE_PORT + i`` (i-th port name), dialling
  its peers through ``toxiproxy:<port of n_self-n_peer>``; its status port is also published on
  ``127.0.0.1`` for ``status_address`` only, so the harness can watch a node the nemesis has cut.

The harness reaches the nodes only through loopback: clients through the published ``c_k-n_j``
proxies, exactly as on the local backend (the workload and the recorder stay in the harness
process, with one clock), and never through a container address.

Every container and the network carry the labels ``splitbrain.run``, ``splitbrain.role``
(``node``, ``toxiproxy`` or ``network``), ``splitbrain.pid``, ``splitbrain.pidstart`` and
``splitbrain.host`` (the harness process, its start time and its host), which is what
``splitbrain clean`` reads to find leftovers of runs that died. ``stop()`` removes everything
labelled with this run, so it also removes what a start that failed half-way had made.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container
from docker.types import Mount

from harness.backends.base import ClusterSpec, NodeStatuses, plan_links, write_launch_files
from harness.backends.docker_images import NodeImage, ensure_node_image, ensure_toxiproxy_image
from nemesis.interface import proxy_name
from nemesis.proxies import ProxyControl
from nemesis.toxiproxy_server import free_port
from splitbrain.errors import SplitbrainError
from splitbrain.processes import process_start_time
from systems.seam import NodeAddresses, NodeLaunch

NODE_PORT = 7000
TOXIPROXY_API_PORT = 8474
PEER_PORT_BASE = 10000
CLIENT_PORT_BASE = 20000
TOXIPROXY_ALIAS = "toxiproxy"
LABEL_RUN = "splitbrain.run"
LABEL_ROLE = "splitbrain.role"
LABEL_PID = "splitbrain.pid"
LABEL_PIDSTART = "splitbrain.pidstart"
LABEL_NODE = "splitbrain.node"
LABEL_HOST = "splitbrain.host"
READY_TIMEOUT_S = 60.0


class DockerBackendError(SplitbrainError, RuntimeError):
    """The docker backend could not do what was asked; the message says what to do next."""


@dataclass(frozen=True)
class ProxyRoute:
    """One Toxiproxy proxy of the run: ``listen`` is the port inside the toxiproxy container."""

    name: str
    listen: int
    upstream: str
    published: bool  # True for client proxies: reachable from the host's loopback


def plan_routes(spec: ClusterSpec) -> list[ProxyRoute]:
    """The proxy of every link of :func:`~harness.backends.base.plan_links`, at a fixed port of
    the toxiproxy container: ``n_i -> n_j`` at ``PEER_PORT_BASE + 100*i + j``, ``c_k -> n_j``
    at ``CLIENT_PORT_BASE + 100*k + j`` (published on the host)."""
    if len(spec.nodes) > 99 or spec.client_groups > 99:
        raise DockerBackendError("the docker backend runs at most 99 nodes and 99 client groups")
    node_at = {node: j for j, node in enumerate(spec.nodes)}
    group_at = {group: k for k, group in enumerate(spec.client_group_names)}
    routes: list[ProxyRoute] = []
    for link in plan_links(spec):
        j = node_at[link.dst]
        if link.from_clients:
            listen = CLIENT_PORT_BASE + 100 * group_at[link.src] + j
        else:
            listen = PEER_PORT_BASE + 100 * node_at[link.src] + j
        upstream = f"{link.dst}:{container_port(spec, link.port)}"
        routes.append(ProxyRoute(link.name, listen, upstream, link.from_clients))
    return routes


def container_port(spec: ClusterSpec, name: str) -> int:
    """The port inside a node's container of the system's port ``name``."""
    return NODE_PORT + spec.system.port_names.index(name)


def node_launch(spec: ClusterSpec, node: str, python: str, routes: list[ProxyRoute]) -> NodeLaunch:
    """What the system runs in ``node``'s container (paths are the host's: the run folder is
    mounted at the same path)."""
    by_name = {r.name: r for r in routes}
    run_dir = spec.run_dir.resolve()
    peers = {}
    if spec.system.peer_port is not None:
        peers = {
            peer: f"{TOXIPROXY_ALIAS}:{by_name[proxy_name(node, peer)].listen}"
            for peer in spec.nodes
            if peer != node
        }
    data_dir = run_dir / "data" / node
    data_dir.mkdir(parents=True, exist_ok=True)
    return spec.system.launch(
        NodeAddresses(
            name=node,
            bind_host="0.0.0.0",
            ports={name: container_port(spec, name) for name in spec.system.port_names},
            peers=peers,
            data_dir=data_dir,
            log=run_dir / "logs" / f"{node}.log",
            run_dir=run_dir,
            python=python,
        )
    )


def default_run_id(run_dir: Path) -> str:
    """A docker-safe run id: the run folder's name (shortened) and a random suffix."""
    stem = re.sub(r"[^a-zA-Z0-9_.-]+", "-", run_dir.name).strip("-.")[-24:] or "run"
    return f"{stem}-{secrets.token_hex(3)}"


def harness_labels(run_id: str, role: str) -> dict[str, str]:
    """The labels every object of run ``run_id`` carries (see ``harness.commands.clean``)."""
    return {
        LABEL_RUN: run_id,
        LABEL_ROLE: role,
        LABEL_PID: str(os.getpid()),
        LABEL_PIDSTART: process_start_time(os.getpid()) or "",
        LABEL_HOST: socket.gethostname(),
    }


def connect() -> docker.DockerClient:
    """A client of the local Docker daemon (API version negotiated), or a clear error."""
    try:
        client = docker.from_env(version="auto", timeout=120)
        client.ping()
    except docker.errors.DockerException as exc:
        raise DockerBackendError(
            f"no Docker daemon answers ({exc}). Start one with `scripts/start-dockerd.sh` "
            "(as root; it installs Debian's docker.io if needed) or use --backend local"
        ) from exc
    return client


@dataclass
class DockerCluster(NodeStatuses):
    """A running cluster on Docker; satisfies ``harness.backends.base.Cluster``.

    Use it as a context manager, or call ``stop()`` in a ``finally``: it removes this run's
    containers and network even after a failure or Ctrl-C, and may be called any number of times.
    Client and status URLs stay valid across ``kill``/``restart`` (ports are fixed at creation).
    """

    spec: ClusterSpec
    run_id: str
    client: docker.DockerClient
    node_image: NodeImage
    toxiproxy_image: str
    routes: list[ProxyRoute] = field(default_factory=list)
    _toxiproxy_url: str = ""
    _client_ports: dict[tuple[str, str], int] = field(default_factory=dict)
    _status_ports: dict[str, int] = field(default_factory=dict)
    _containers: dict[str, Container] = field(default_factory=dict)
    _proxies: ProxyControl | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopped: bool = False

    # -- the Cluster protocol ---------------------------------------------------------------

    @property
    def network_name(self) -> str:
        return f"splitbrain-{self.run_id}"

    @property
    def toxiproxy_url(self) -> str:
        return self._toxiproxy_url

    @property
    def proxies(self) -> ProxyControl:
        """A client of this run's Toxiproxy API (as the local cluster's ``proxies``)."""
        if self._proxies is None:
            self._proxies = ProxyControl(self._toxiproxy_url)
        return self._proxies

    def client_endpoints(self, group: str) -> dict[str, str]:
        """Node -> ``127.0.0.1:PORT`` of the group's proxy (same form as the local backend)."""
        if group not in self.spec.client_group_names:
            raise KeyError(f"unknown client group {group!r}; this run has {self.client_groups}")
        return {node: f"127.0.0.1:{self._client_ports[(group, node)]}" for node in self.spec.nodes}

    def status_address(self, node: str) -> tuple[str, int]:
        self._node(node)
        return "127.0.0.1", self._status_ports[node]

    def kill(self, node: str) -> None:
        """SIGKILL the node (``docker kill``) and return once it has exited; its data and logs
        stay on the host. Does nothing if the node is not running (as on the local backend)."""
        container = self._node(node)
        state = self._state(container)
        if state == "paused":
            container.unpause()  # a frozen process would only die once thawed
        elif state != "running":
            return
        with contextlib.suppress(docker.errors.APIError):  # it may have exited meanwhile
            container.kill(signal="SIGKILL")
        container.wait(timeout=10, condition="not-running")

    def restart(self, node: str) -> None:
        """Start a killed node again (``docker start``) on the same status and proxy addresses;
        does not wait until it is ready. Does nothing if it runs."""
        container = self._node(node)
        if self._state(container) in ("running", "paused"):
            return
        try:
            container.start()
        except docker.errors.APIError as exc:
            raise DockerBackendError(
                f"cannot restart {node}: {exc.explanation or exc}. If its status port was taken "
                "meanwhile, run the test again"
            ) from exc

    def pause(self, node: str) -> None:
        """Freeze every process of the node (``docker pause``); does nothing unless it runs."""
        container = self._node(node)
        if self._state(container) == "running":
            container.pause()

    def resume(self, node: str) -> None:
        """Thaw a paused node (``docker unpause``); does nothing if it is not paused."""
        container = self._node(node)
        if self._state(container) == "paused":
            container.unpause()

    def stop(self) -> None:
        """Remove this run's containers and network; copies container output to run_dir/logs.

        Idempotent. Errors are reported on stderr with the command that cleans up, never raised:
        ``stop`` runs in ``finally`` blocks where another error is already on its way.
        """
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        if self._proxies is not None:
            self._proxies.close()
        remove_run(self.client, self.run_id, logs_dir=self.spec.run_dir / "logs")

    def __enter__(self) -> DockerCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers -------------------------------------------------------------------------------

    def _node(self, node: str) -> Container:
        try:
            return self._containers[node]
        except KeyError:
            raise KeyError(f"unknown node {node!r}; this run has {self.spec.nodes}") from None

    @staticmethod
    def _state(container: Container) -> str:
        container.reload()
        return str(container.status)


def start(
    spec: ClusterSpec,
    *,
    run_id: str | None = None,
    image_source: str = "local",
    client: docker.DockerClient | None = None,
    ready_timeout: float = READY_TIMEOUT_S,
) -> DockerCluster:
    """Start the cluster of ``spec`` on Docker and wait until every node says it is ready.

    On any failure (or Ctrl-C) while starting, whatever was created is removed before the error
    propagates; Docker's own errors come as :class:`DockerBackendError` (a RuntimeError). The
    returned cluster must be stopped by the caller (``with start(...) as c:``).
    """
    client = client or connect()
    run_dir = spec.run_dir.resolve()
    for sub in ("logs", "data"):
        (run_dir / sub).mkdir(parents=True, exist_ok=True)
    cluster = DockerCluster(
        spec=spec,
        run_id=run_id or default_run_id(run_dir),
        client=client,
        node_image=ensure_node_image(client, image_source),
        toxiproxy_image=ensure_toxiproxy_image(client, image_source),
        routes=plan_routes(spec),
    )
    try:
        _create_network(cluster)
        _start_toxiproxy(cluster)
        _create_proxies(cluster)
        for node in spec.nodes:
            _start_node(cluster, node)
        _wait_ready(cluster, ready_timeout)
    except docker.errors.DockerException as exc:
        cluster.stop()
        raise DockerBackendError(
            f"Docker could not start the cluster: {exc}. Run `splitbrain clean` to remove what "
            "earlier runs left (their networks and ports), then try again"
        ) from exc
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _create_network(cluster: DockerCluster) -> None:
    cluster.client.networks.create(
        cluster.network_name,
        driver="bridge",
        labels=harness_labels(cluster.run_id, "network"),
    )


def _start_toxiproxy(cluster: DockerCluster) -> None:
    ports: dict[str, Any] = {f"{TOXIPROXY_API_PORT}/tcp": ("127.0.0.1", None)}
    for route in cluster.routes:
        if route.published:
            ports[f"{route.listen}/tcp"] = ("127.0.0.1", None)
    container = cluster.client.containers.create(
        cluster.toxiproxy_image,
        command=["-host=0.0.0.0", f"-port={TOXIPROXY_API_PORT}"],
        name=f"splitbrain-{cluster.run_id}-toxiproxy",
        hostname=TOXIPROXY_ALIAS,
        labels=harness_labels(cluster.run_id, "toxiproxy"),
        ports=ports,
        **_on_network(cluster, TOXIPROXY_ALIAS),
    )
    container.start()
    container.reload()
    published = _published_ports(container)
    cluster._containers["toxiproxy"] = container
    cluster._toxiproxy_url = f"http://127.0.0.1:{published[TOXIPROXY_API_PORT]}"
    for route in cluster.routes:
        if route.published:
            group, node = route.name.split("-", 1)
            cluster._client_ports[(group, node)] = published[route.listen]
    _wait_http(cluster._toxiproxy_url + "/version", 20.0, what="Toxiproxy", container=container)


def _create_proxies(cluster: DockerCluster) -> None:
    """Create every proxy of the run (enabled, no toxics) through the nemesis's client."""
    for route in cluster.routes:
        cluster.proxies.create(route.name, f"0.0.0.0:{route.listen}", route.upstream)


def _start_node(cluster: DockerCluster, node: str) -> None:
    spec, image = cluster.spec, cluster.node_image
    run_dir = str(spec.run_dir.resolve())
    launch = node_launch(spec, node, image.python, cluster.routes)
    write_launch_files(launch)
    mounts = [*image.mounts, Mount(target=run_dir, source=run_dir, type="bind")]
    mounted = {m["Target"] for m in mounts}
    for path in launch.host_paths:
        host = str(Path(path).resolve())
        if host not in mounted and not any(host.startswith(m.rstrip("/") + "/") for m in mounted):
            mounts.append(Mount(target=host, source=host, type="bind", read_only=True))
    labels = {**harness_labels(cluster.run_id, "node"), LABEL_NODE: node}
    status_inside = container_port(spec, spec.system.status_port)
    last_error: Exception | None = None
    for _attempt in range(3):  # a probed free port may be taken before Docker binds it
        status_port = free_port()
        container = cluster.client.containers.create(
            image.tag,
            command=list(launch.argv),
            name=f"splitbrain-{cluster.run_id}-{node}",
            hostname=node,
            labels=labels,
            mounts=mounts,
            tmpfs={"/tmp": ""},
            environment={**image.environment, **launch.env},
            working_dir=image.working_dir,
            ports={f"{status_inside}/tcp": ("127.0.0.1", status_port)},
            **_on_network(cluster, node),
        )
        try:
            container.start()
        except docker.errors.APIError as exc:
            last_error = exc
            container.remove(force=True)
            continue
        cluster._containers[node] = container
        cluster._status_ports[node] = status_port
        return
    raise DockerBackendError(f"cannot start the container of {node}: {last_error}")


def _on_network(cluster: DockerCluster, alias: str) -> dict[str, Any]:
    """Container-create arguments that join the run's network under the DNS name ``alias``."""
    endpoint = cluster.client.api.create_endpoint_config(aliases=[alias])
    return {"network": cluster.network_name, "networking_config": {cluster.network_name: endpoint}}


def _wait_ready(cluster: DockerCluster, timeout: float) -> None:
    """Wait until every node says it is ready; fail early, with its output, if one exits."""
    deadline = time.monotonic() + timeout
    for node in cluster.spec.nodes:

        def ready(node: str = node) -> bool:
            status = cluster.status(node, timeout=2.0)
            return status is not None and bool(status.get("ready", True))

        _wait_until(
            ready, deadline, timeout, what=f"node {node}", waits="say ready",
            container=cluster._node(node),
        )  # fmt: skip


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
        return False


def _wait_http(url: str, timeout: float, *, what: str, container: Container) -> None:
    """Poll ``url`` until it answers 200; fail early if the container exits."""
    _wait_until(
        lambda: _answers(url), time.monotonic() + timeout, timeout, what=what,
        waits=f"answer {url}", container=container,
    )  # fmt: skip


def _wait_until(
    done: Callable[[], bool],
    deadline: float,
    timeout: float,
    *,
    what: str,
    waits: str,
    container: Container,
) -> None:
    """Poll ``done`` until it holds; a DockerBackendError with the container's last output when
    the container exits first or ``deadline`` passes."""
    while not done():
        container.reload()
        if container.status in ("exited", "dead"):
            raise DockerBackendError(
                f"{what} exited while starting; its output ends with:\n{_tail(container)}"
            )
        if time.monotonic() > deadline:
            raise DockerBackendError(
                f"{what} did not {waits} within {timeout:.0f}s; its output ends with:\n"
                f"{_tail(container)}"
            )
        time.sleep(0.2)


def remove_run(
    client: docker.DockerClient, run_id: str, *, logs_dir: Path | None = None
) -> list[str]:
    """Remove every container and network labelled with ``run_id``; return what was removed.

    With ``logs_dir``, each container's output is first written to ``<logs_dir>/<name>.log`` for
    the toxiproxy container and ``<logs_dir>/<node>.console.log`` for nodes (the node's own log
    is already there). Never raises: problems go to stderr with the command that finishes the job.
    """
    removed: list[str] = []
    label: dict[str, str | list[str] | bool] = {"label": f"{LABEL_RUN}={run_id}"}
    try:
        for container in client.containers.list(all=True, filters=label):
            if logs_dir is not None:
                _save_output(container, logs_dir)
            container.remove(force=True, v=True)
            removed.append(f"container {container.name}")
        for network in client.networks.list(filters=label):
            network.remove()
            removed.append(f"network {network.name}")
    except docker.errors.DockerException as exc:
        print(
            f"splitbrain: could not remove everything of run {run_id} ({exc}); "
            "run `splitbrain clean` to remove the leftovers",
            file=sys.stderr,
        )
    return removed


def _save_output(container: Container, logs_dir: Path) -> None:
    labels = container.labels or {}
    node = labels.get(LABEL_NODE)
    name = f"{node}.console.log" if node else f"{labels.get(LABEL_ROLE, container.name)}.log"
    with contextlib.suppress(docker.errors.DockerException, OSError):
        logs_dir.mkdir(parents=True, exist_ok=True)
        (logs_dir / name).write_bytes(container.logs(stdout=True, stderr=True))


def _published_ports(container: Container) -> dict[int, int]:
    ports = container.attrs["NetworkSettings"]["Ports"] or {}
    published: dict[int, int] = {}
    for key, bindings in ports.items():
        for binding in bindings or ():
            if binding.get("HostIp") in ("127.0.0.1", "") and binding.get("HostPort"):
                published[int(key.split("/")[0])] = int(binding["HostPort"])
    return published


def _tail(container: Container, lines: int = 30) -> str:
    try:
        return container.logs(tail=lines).decode(errors="replace") or "(no output)"
    except docker.errors.DockerException as exc:
        return f"(output unavailable: {exc})"
