"""The docker backend against a real Docker daemon and a real Toxiproxy (no mocks).

Nodes are the stand-in of ``tests/helpers/docker_standin.py``, so these tests check the backend's
plumbing (images, network, proxies, labels, process faults, clean-up) whatever the state of the
reference node. Without a daemon they skip on a laptop and fail in CI, where .ci/run starts one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from harness import cli
from harness.backends import docker as backend
from harness.backends.base import ClusterSpec
from harness.backends.docker_images import (
    ensure_node_image,
    ensure_toxiproxy_image,
    host_root_paths,
    is_static_elf,
)
from harness.commands import clean as clean_cmd
from tests.helpers.docker_daemon import require_daemon
from tests.helpers.standin_system import standin_spec


@pytest.fixture(scope="module")
def docker_client() -> Iterator[docker.DockerClient]:
    client = require_daemon()
    clean_cmd.clean(client)  # what an earlier, killed test run left would clash by name
    yield client
    client.close()


def _labelled(client: docker.DockerClient, run_id: str) -> tuple[list[Any], list[Any]]:
    label = {"label": f"{backend.LABEL_RUN}={run_id}"}
    return (
        client.containers.list(all=True, filters=label),
        client.networks.list(filters=label),
    )


def _get(url: str, timeout: float = 3.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError as exc:
        return 0, str(exc).encode()


def _via(cluster: backend.DockerCluster, src: str, dst: str) -> int:
    """HTTP status of ``src`` fetching ``dst``'s status through the proxy ``src-dst``."""
    return _get(_status_url(cluster, src).replace("/status", f"/via/{dst}/status"))[0]


def _status_url(cluster: backend.DockerCluster, node: str) -> str:
    host, port = cluster.status_address(node)
    return f"http://{host}:{port}/status"


def _set_enabled(cluster: backend.DockerCluster, proxy: str, enabled: bool) -> None:
    request = urllib.request.Request(
        f"{cluster.toxiproxy_url}/proxies/{proxy}",
        data=json.dumps({"enabled": enabled}).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5):
        pass


def _spec(
    tmp_path: Path, nodes: tuple[str, ...] = ("n1", "n2", "n3"), module: str | None = None
) -> ClusterSpec:
    return standin_spec(tmp_path, nodes, *(() if module is None else (module,)))


# -- no daemon needed -------------------------------------------------------------------------


def test_static_elf_detection_tells_go_static_from_python() -> None:
    assert not is_static_elf(Path(sys.executable).resolve())  # CPython is dynamically linked
    assert not is_static_elf(Path(__file__))  # not an ELF at all


def test_host_root_paths_mount_python_and_project_once() -> None:
    paths = host_root_paths()
    assert "/usr" in paths and "/etc" in paths
    assert any(sys.base_prefix == p or sys.base_prefix.startswith(p + "/") for p in paths)
    for path in paths:  # nothing nested in another mount
        assert not any(path.startswith(other + "/") for other in paths if other != path)


def test_routes_give_every_directed_link_its_own_proxy(tmp_path: Path) -> None:
    spec = dataclasses.replace(_spec(tmp_path), client_groups=2)
    routes = backend.plan_routes(spec)
    names = [r.name for r in routes]
    assert len(names) == len(set(names)) == 3 * 2 + 2 * 3
    assert len({r.listen for r in routes}) == len(routes)
    assert {r.name for r in routes if r.published} == {
        f"c{k}-n{j}" for k in (0, 1) for j in (1, 2, 3)
    }
    argv = backend.node_launch(spec, "n2", "python", routes).argv
    peers = [argv[i + 1] for i, a in enumerate(argv) if a == "--peer"]
    by_name = {r.name: r.listen for r in routes}
    assert peers == [f"n1=toxiproxy:{by_name['n2-n1']}", f"n3=toxiproxy:{by_name['n2-n3']}"]


def test_compose_file_wires_the_same_proxies_as_the_backend(tmp_path: Path) -> None:
    docker_dir = Path(__file__).resolve().parents[1] / "docker"
    spec = _spec(tmp_path)
    proxies = json.loads((docker_dir / "toxiproxy.json").read_text())
    assert proxies == [
        {"name": r.name, "listen": f"0.0.0.0:{r.listen}", "upstream": r.upstream, "enabled": True}
        for r in backend.plan_routes(spec)
    ]
    compose = (docker_dir / "docker-compose.yml").read_text()
    by_port = {int(p["listen"].rsplit(":", 1)[1]): p for p in proxies}
    services = re.split(r"\n  (?=n\d:)", compose)[1:]
    dialled = set()
    for service in services:
        src = service.split(":", 1)[0]
        for dst, port in re.findall(r'"(n\d)=toxiproxy:(\d+)"', service):
            assert by_port[int(port)]["name"] == f"{src}-{dst}"
            dialled.add(f"{src}-{dst}")
    assert dialled == {p["name"] for p in proxies if p["name"].startswith("n")}
    assert "127.0.0.1:20000-20002:20000-20002" in compose  # the c0-n* proxies


# -- with a daemon ----------------------------------------------------------------------------


@pytest.mark.docker
def test_images_build_without_a_registry_and_are_reused(docker_client: docker.DockerClient) -> None:
    toxiproxy = ensure_toxiproxy_image(docker_client)
    node = ensure_node_image(docker_client)
    image = docker_client.images.get(toxiproxy)
    assert image.labels["splitbrain.image"] == "toxiproxy"
    assert image.attrs["Config"]["Entrypoint"] == ["/toxiproxy-server"]
    assert node.python == sys.executable and node.source == "local"
    started = time.monotonic()
    assert ensure_toxiproxy_image(docker_client) == toxiproxy
    assert ensure_node_image(docker_client).tag == node.tag
    assert time.monotonic() - started < 5.0, "an unchanged image was rebuilt"


@pytest.mark.docker
def test_cluster_routes_links_applies_process_faults_and_leaves_nothing(
    docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    cluster = backend.start(_spec(tmp_path), run_id="t-faults")
    try:
        containers, networks = _labelled(docker_client, "t-faults")
        assert len(containers) == 4 and [n.name for n in networks] == ["splitbrain-t-faults"]
        assert sorted(c.labels[backend.LABEL_ROLE] for c in containers) == ["node"] * 3 + [
            "toxiproxy"
        ]
        assert {c.labels[backend.LABEL_PID] for c in containers} == {str(os.getpid())}

        # A client proxy on loopback reaches the node it is named after.
        for node, address in cluster.client_endpoints("c0").items():
            status = _get(f"http://{address}/status")
            assert status[0] == 200 and json.loads(status[1])["node"] == node

        # A node reaches its peer through its own proxy, and a cut of that proxy only.
        assert _via(cluster, "n1", "n3") == 200
        _set_enabled(cluster, "n1-n3", False)
        assert _via(cluster, "n1", "n3") == 504
        assert _via(cluster, "n3", "n1") == 200  # the other direction is its own link
        _set_enabled(cluster, "n1-n3", True)
        assert _via(cluster, "n1", "n3") == 200

        # kill / restart keep the status URL; pause freezes the node until resume.
        url = _status_url(cluster, "n3")
        cluster.kill("n3")
        assert cluster.status("n3") is None and _via(cluster, "n1", "n3") == 504
        cluster.kill("n3")  # killing a dead node, as the local backend, does nothing
        cluster.restart("n3")
        assert _wait(lambda: cluster.status("n3") is not None) and _status_url(cluster, "n3") == url
        cluster.pause("n2")
        cluster.pause("n2")
        assert cluster.status("n2", timeout=0.5) is None
        cluster.resume("n2")
        assert cluster.status("n2") == {
            "node": "n2",
            "role": "standin",
            "epoch": 0,
            "primary": None,
            "ready": True,
        }
        cluster.pause("n1")
        cluster.kill("n1")  # a paused node can be killed, and comes back
        cluster.restart("n1")
        assert _wait(lambda: cluster.status("n1") is not None)
    finally:
        cluster.stop()
    cluster.stop()  # twice is fine
    assert _labelled(docker_client, "t-faults") == ([], [])
    logs = tmp_path / "logs"
    assert "standin n1 mode=cp" in (logs / "n1.log").read_text()
    assert (logs / "toxiproxy.log").read_text().strip(), "Toxiproxy's output was not kept"
    assert (tmp_path / "data" / "n3" / "n3.sqlite").exists()


@pytest.mark.docker
def test_a_start_that_fails_half_way_removes_what_it_made(
    docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    with pytest.raises(backend.DockerBackendError, match="No module named"):
        backend.start(_spec(tmp_path, ("n1",), "no_such_module"), run_id="t-broken")
    assert _labelled(docker_client, "t-broken") == ([], [])


CTRL_C_SCRIPT = """
import sys, time
from pathlib import Path
from harness.backends.docker import start
from tests.helpers.standin_system import standin_spec
spec = standin_spec(Path(sys.argv[1]), ("n1", "n2"))
with start(spec, run_id="t-ctrl-c"):
    print("up", flush=True)
    time.sleep(120)
"""


@pytest.mark.docker
def test_ctrl_c_removes_the_runs_containers_and_network(
    docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    (tmp_path / "users.json").write_text("{}")
    root = Path(__file__).resolve().parents[1]
    harness = subprocess.Popen(
        [sys.executable, "-c", CTRL_C_SCRIPT, str(tmp_path)],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert harness.stdout is not None and harness.stdout.readline() == "up\n"
        assert len(_labelled(docker_client, "t-ctrl-c")[0]) == 3
        harness.send_signal(signal.SIGINT)
        assert harness.wait(timeout=60) != 0  # KeyboardInterrupt propagates after the clean-up
        assert _labelled(docker_client, "t-ctrl-c") == ([], [])
    finally:
        harness.kill()
        backend.remove_run(docker_client, "t-ctrl-c")


@pytest.mark.docker
def test_clean_removes_runs_whose_harness_died_and_keeps_live_ones(
    docker_client: docker.DockerClient, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    image = ensure_toxiproxy_image(docker_client)
    # names unique to this test process, so leftovers of an earlier, killed test run cannot clash
    leaked, live = f"t-leaked-{os.getpid()}", f"t-live-{os.getpid()}"
    try:
        for run, pid in ((leaked, dead.pid), (live, os.getpid())):
            labels = {**backend.harness_labels(run, "node"), backend.LABEL_PID: str(pid)}
            if pid != os.getpid():
                labels[backend.LABEL_PIDSTART] = ""
            network = docker_client.networks.create(
                f"splitbrain-{run}",
                driver="bridge",
                labels={**labels, "splitbrain.role": "network"},
            )
            docker_client.containers.create(
                image, name=f"splitbrain-{run}-n1", labels=labels, network=network.name
            )

        assert cli.main(["clean", "--dry-run"]) == 0
        assert f"would remove run {leaked}" in capsys.readouterr().out
        assert _labelled(docker_client, leaked)[0], "--dry-run removed something"

        assert cli.main(["clean"]) == 0
        out = capsys.readouterr().out
        assert f"removed run {leaked}" in out and f"container splitbrain-{leaked}-n1" in out
        assert f"kept run {live}" in out
        assert _labelled(docker_client, leaked) == ([], [])
        containers, networks = _labelled(docker_client, live)
        assert len(containers) == 1 and len(networks) == 1
    finally:
        for run in (leaked, live):
            backend.remove_run(docker_client, run)


def _wait(predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False
