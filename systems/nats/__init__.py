"""NATS JetStream behind the system seam: ``nats-server`` nodes in one cluster, ``nats-py`` clients.

Modules: :mod:`~systems.nats.install` builds the server from the Go module proxy (one cached
binary per version), :mod:`~systems.nats.config` writes a node's config file (pure),
:mod:`~systems.nats.status` reads a node's monitoring port, :mod:`~systems.nats.client` is the
user's client (the message mapping is described there).

What the harness may rely on:

* Ports per node: ``client`` (clients), ``cluster`` (routes between nodes, the ``peer_port``),
  ``http`` (monitoring, the ``status_port``). Each node's routes point at the addresses in
  :attr:`NodeAddresses.peers`, and nothing lets two nodes meet around them (see
  :mod:`~systems.nats.config`).
* NATS keeps one route connection per node pair whichever side dialled it, so both directions of
  a pair must be cut together: a cut of only the proxy one node dials through does not stop the
  pair's traffic once the other side has dialled.
* ``primary`` (declared) is the node leading the most streams, not the meta leader: see
  :mod:`~systems.nats.status` for why.
* Everything JetStream needs (streams, consumers) is created by the clients on ``connect``;
  ``provision`` only records the plan (no server is up at that point).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, TextIO

from systems.nats import install
from systems.nats.client import NatsClient, StreamPlan, client_conversations, plan_from
from systems.nats.config import (
    CLOSED_ADVERTISE,
    CLUSTER_NAME,
    CONFIG_NAME,
    STORE_SUBDIR,
    ServerOptions,
    parse_replicas,
    parse_seconds,
    parse_size,
    parse_sync_interval,
    server_config,
    stream_replicas,
)
from systems.nats.status import cluster_healthy, cluster_primary, fetch_status
from systems.seam import (
    Accounts,
    AtRest,
    Capabilities,
    ClientSettings,
    DeliveryCallback,
    MessagingClient,
    NodeAddresses,
    NodeLaunch,
    Option,
    Shortcut,
    SystemConfigError,
    parse_optional,
)

PLAN_FILE = "nats-plan.json"


class NatsSystem:
    """NATS JetStream: one stream per conversation, a durable consumer per member."""

    name: ClassVar[str] = "nats"
    description: ClassVar[str] = (
        "NATS JetStream (nats-server built from the Go module proxy, nats-py clients)"
    )
    options: ClassVar[tuple[Option, ...]] = (
        Option(
            "version",
            install.DEFAULT_VERSION,
            "nats-server release to build and run, e.g. 2.10.22",
            parse=install.parse_version,
        ),
        Option(
            "sync_interval",
            "2m",
            "JetStream fsync interval: a duration (NATS default 2m) or 'always' (every write)",
            parse=parse_sync_interval,
        ),
        Option(
            "replicas",
            None,
            "replicas per stream: 1-5, or auto/None (3; 5 from five nodes on)",
            parse=parse_replicas,
        ),
        Option("storage", "file", "stream storage", choices=("file", "memory"), parse=str.lower),
        Option(
            "max_file_store", None, "JetStream max_file_store per node, e.g. 1GB", parse=parse_size
        ),
        Option(
            "max_memory_store",
            None,
            "JetStream max_memory_store per node, e.g. 256MB",
            parse=parse_size,
        ),
        Option("domain", None, "JetStream domain (none by default)", parse=parse_optional),
        Option(
            "extra_config",
            None,
            "path of a nats-server config fragment appended to every node's config (top-level "
            "settings such as write_deadline; a jetstream or cluster block there replaces ours)",
            parse=parse_optional,
        ),
        Option(
            "duplicate_window",
            3600.0,
            "seconds a Nats-Msg-Id is remembered for de-duplicating retries",
            parse=parse_seconds,
        ),
        Option(
            "ack_wait",
            10.0,
            "seconds before an unacked delivery is redelivered",
            parse=parse_seconds,
        ),
        Option(
            "redeliveries",
            "hide",
            "hide: a client drops a redelivery of a message it already delivered; "
            "report: every arrival is a deliver",
            choices=("hide", "report"),
            parse=str.lower,
        ),
    )
    shortcuts: ClassVar[tuple[Shortcut, ...]] = ()
    capabilities: ClassVar[Capabilities] = Capabilities(
        primary=True, process_faults=True, pair_links=True
    )
    port_names: ClassVar[tuple[str, ...]] = ("client", "cluster", "http")
    client_port: ClassVar[str] = "client"
    peer_port: ClassVar[str | None] = "cluster"
    status_port: ClassVar[str] = "http"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.settings = dict(settings)
        self._conversations: dict[str, tuple[str, ...]] = {}
        self._nodes: tuple[str, ...] = ()
        self._replicas: int | None = None

    @property
    def binary(self) -> Path:
        """Where this run's ``nats-server`` is cached."""
        return install.binary_path(self.settings["version"])

    def server_options(self) -> ServerOptions:
        return ServerOptions.from_settings(self.settings)

    def extra_config(self) -> str:
        """The text of the ``extra_config`` file ("" without one); SystemConfigError naming
        the path when it cannot be read."""
        path = self.settings["extra_config"]
        if path is None:
            return ""
        try:
            return Path(path).expanduser().read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise SystemConfigError(
                f"system nats: option extra_config = {path!r} cannot be read ({exc}); give the "
                "path of a nats-server config fragment"
            ) from None

    @property
    def version(self) -> str:
        """The nats-server release that runs (the ``version`` option)."""
        return str(self.settings["version"])

    def at_rest(self) -> AtRest:
        """JetStream stores what clients publish: the bodies as sent."""
        return "plaintext"

    def details(self) -> dict[str, Any]:
        options = self.server_options()
        jetstream = options.jetstream_block(Path("<data_dir>") / STORE_SUBDIR)
        plan = self._plan(self._replicas or 0)
        return {
            "server": {
                "module": f"{install.MODULE}@v{self.settings['version']}",
                "binary": str(self.binary),
                "jetstream": jetstream,
                "extra_config": self.extra_config(),
                "cluster": {
                    "name": CLUSTER_NAME,
                    "advertise": CLOSED_ADVERTISE,
                    "no_advertise": True,
                    "connect_retries": -1,
                },
            },
            "streams": {
                "per": "conversation",
                "replicas": self._replicas,
                "storage": plan.storage,
                "duplicate_window_s": plan.duplicate_window,
                "retention": "limits",
            },
            "consumers": {
                "per": "member and conversation",
                "kind": "durable pull",
                "ack_policy": "explicit",
                "ack_wait_s": plan.ack_wait,
                "redeliveries": self.settings["redeliveries"],
            },
        }

    def prepare(self, out: TextIO | None = None) -> None:
        out = out or sys.stderr  # at call time: a captured stderr may be gone later
        install.ensure_server(self.settings["version"], out)

    def provision(self, accounts: Accounts, run_dir: Path, nodes: Sequence[str], seed: int) -> None:
        self._nodes = tuple(nodes)
        self._replicas = stream_replicas(self.settings["replicas"], len(nodes))
        self._conversations = {c: tuple(m) for c, m in accounts.conversations.items()}
        plan = {
            "replicas": self._replicas,
            "users": list(accounts.users),
            "conversations": {c: list(m) for c, m in self._conversations.items()},
        }
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / PLAN_FILE).write_text(json.dumps(plan, indent=2) + "\n")

    def launch(self, node: NodeAddresses) -> NodeLaunch:
        binary = self.binary
        if not binary.is_file():
            raise SystemConfigError(
                f"nats-server {self.settings['version']} is not built yet ({binary} is missing): "
                f"run scripts/install-nats.sh {self.settings['version']}"
            )
        missing = [p for p in self.port_names if p not in node.ports]
        if missing:
            raise SystemConfigError(f"node {node.name}: no port given for {', '.join(missing)}")
        conf = node.data_dir / CONFIG_NAME
        return NodeLaunch(
            argv=(str(binary), "--config", str(conf)),
            files={conf: server_config(node, self.server_options(), self.extra_config()).encode()},
            host_paths=(binary,),
        )

    def status(self, host: str, port: int, timeout: float) -> dict[str, Any] | None:
        return fetch_status(host, port, timeout)

    def healthy(self, statuses: Mapping[str, dict[str, Any] | None]) -> bool:
        return cluster_healthy(statuses)

    def primary(self, statuses: Mapping[str, dict[str, Any] | None]) -> str | None:
        return cluster_primary(statuses)

    def _plan(self, replicas: int) -> StreamPlan:
        return plan_from(self.settings, replicas)

    def client(
        self,
        user: str,
        endpoints: Mapping[str, str],
        on_deliver: DeliveryCallback,
        settings: ClientSettings,
    ) -> MessagingClient:
        if self._replicas is None:
            raise SystemConfigError("system nats: provision() must run before client()")
        return NatsClient(
            user,
            endpoints,
            on_deliver,
            settings,
            client_conversations(user, self._conversations),
            self._plan(self._replicas),
        )
