"""The reference cluster (``system_under_test``) as a system behind the seam.

Its options are the design's switches: ``mode`` (cp or ap), ``bug`` (one known-wrong behaviour)
and ``e2e`` (end-to-end encryption), each with a flag of its own (``--mode``, ``--bug``,
``--e2e``; ``compare --modes cp,ap`` and ``compare --e2e on,off`` make its two trade-offs). Each
node is one process on one port that serves clients (``/client``), peers (``/peer``) and
``GET /status``; statuses name the primary. With ``e2e`` on, its servers hold ciphertext only.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from system_under_test import client as chat
from system_under_test import keys
from system_under_test.core import BUGS
from system_under_test.launcher import CLUSTER_SECRET, NodeSpec, fetch_status
from systems.seam import (
    Accounts,
    AtRest,
    Capabilities,
    ClientSettings,
    Delivery,
    DeliveryCallback,
    Indeterminate,
    NodeAddresses,
    NodeLaunch,
    NotCaughtUp,
    Option,
    Refused,
    Sent,
    Shortcut,
    Unreachable,
    parse_optional,
    parse_switch,
)


def _package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


class ReferenceClient:
    """A :class:`~system_under_test.client.ChatClient` speaking the seam's vocabulary.

    One per user for the whole run: the chat client remembers what it received but has not seen
    confirmed, and tells each node it reconnects to, so a failover does not redeliver.
    """

    def __init__(self, chat_client: chat.ChatClient) -> None:
        self._client = chat_client

    @property
    def node(self) -> str | None:
        return self._client.node

    async def connect(self, order: Sequence[str]) -> str:
        try:
            return await self._client.connect(list(order))
        except chat.ConnectFailed as exc:
            with contextlib.suppress(Exception):
                await self._client.close()
            raise Unreachable(str(exc)) from None

    async def send(self, msg_id: str, conv: str, body: bytes) -> Sent:
        try:
            sent = await self._client.send(msg_id, conv, body)
        except chat.SendRejected as exc:
            raise Refused(str(exc) or "rejected") from None
        except (TimeoutError, chat.SendIndeterminate, ConnectionError, OSError) as exc:
            raise Indeterminate(str(exc) or type(exc).__name__) from None
        return Sent(seq=sent.seq, node=sent.node)

    async def sync(self, timeout: float) -> None:
        try:
            await self._client.sync(timeout=timeout)
        except chat.NotSynced as exc:
            raise NotCaughtUp(str(exc)) from None
        except (TimeoutError, ConnectionError, OSError) as exc:
            raise NotCaughtUp(f"{self._client.node}: {exc or type(exc).__name__}") from None

    async def close(self) -> None:
        await self._client.close()


class ReferenceSystem:
    """The reference messaging cluster of this repository."""

    name: ClassVar[str] = "reference"
    description: ClassVar[str] = (
        "the WhatsApp-like reference cluster: WebSocket nodes, a sequencer, a replicated SQLite "
        "store, end-to-end encryption"
    )
    options: ClassVar[tuple[Option, ...]] = (
        Option(
            "mode",
            "cp",
            "cp: refuse sends without a majority; ap: every node accepts, sides merge on heal",
            choices=("cp", "ap"),
        ),
        Option(
            "bug",
            None,
            "switch on one known-wrong behaviour, to show the harness catches it",
            choices=(None, *sorted(BUGS)),
            parse=parse_optional,
        ),
        Option("e2e", True, "end-to-end encryption of bodies (on|off)", parse=parse_switch),
        Option(
            "keys",
            "random",
            "user keys: random per run, or derived from the run's seed (only to replay a run "
            "with the same keys: anyone who knows the seed can rebuild them)",
            choices=("random", "seeded"),
        ),
    )
    shortcuts: ClassVar[tuple[Shortcut, ...]] = (
        Shortcut(
            "mode",
            "cp: refuse without a majority; ap: always accept (reference system)",
            vary_flag="--modes",
            vary_metavar="cp,ap",
        ),
        Shortcut("bug", "switch on one known-wrong behaviour (reference system)"),
        Shortcut(
            "e2e",
            "end-to-end encryption on|off (reference system); with compare, on,off weighs "
            "latency against security",
            vary_flag="--e2e",
            vary_metavar="on,off",
            latency=True,
        ),
    )
    capabilities: ClassVar[Capabilities] = Capabilities(primary=True, process_faults=True)
    port_names: ClassVar[tuple[str, ...]] = ("node",)
    client_port: ClassVar[str] = "node"
    peer_port: ClassVar[str | None] = "node"
    status_port: ClassVar[str] = "node"

    def __init__(self, settings: Mapping[str, Any]) -> None:
        self.settings = dict(settings)
        self._provisioned: keys.Provisioned | None = None
        self._users_file: Path | None = None
        self._cluster_secret: Path | None = None

    @property
    def provisioned(self) -> keys.Provisioned:
        """Every user's keys and the directory (after :meth:`provision`)."""
        if self._provisioned is None:
            raise RuntimeError("provision() must run first")
        return self._provisioned

    @property
    def mode(self) -> str:
        return str(self.settings["mode"])

    @property
    def version(self) -> str:
        """This repository's version: the reference cluster is its own code."""
        return _package_version("splitbrain")

    def details(self) -> dict[str, Any]:
        return {
            "libraries": {
                "websockets": _package_version("websockets"),
                "pynacl": _package_version("pynacl"),
            }
        }

    def at_rest(self) -> AtRest:
        return "ciphertext" if self.settings["e2e"] else "plaintext"

    def prepare(self, out: Any) -> None:
        """Nothing to build: the nodes are this package's Python."""

    def provision(self, accounts: Accounts, run_dir: Path, nodes: Sequence[str], seed: int) -> None:
        """Keys for every user (the users file for nodes, the secrets file for clients)."""
        conversations = {c: list(m) for c, m in accounts.conversations.items()}
        key_seed = seed if self.settings["keys"] == "seeded" else None
        self._provisioned = keys.provision(list(accounts.users), conversations, key_seed)
        self._users_file = run_dir / "users.json"
        keys.write_users_file(self._users_file, self._provisioned)
        keys.write_secrets(run_dir / "secrets.json", self._provisioned)
        self._cluster_secret = run_dir / CLUSTER_SECRET
        keys.write_cluster_secret(self._cluster_secret)

    def launch(self, node: NodeAddresses) -> NodeLaunch:
        if self._users_file is None or self._cluster_secret is None:
            raise RuntimeError("provision() must run before launch()")
        port = node.ports[self.client_port]
        spec = NodeSpec(
            name=node.name,
            host=node.bind_host,
            port=port,
            peers=dict(node.peers),
            db=node.data_dir / f"{node.name}.sqlite",
            users=self._users_file.resolve(),
            cluster_secret=self._cluster_secret.resolve(),
            log=node.log,
            mode=self.mode,
            bug=self.settings["bug"],
            e2e=bool(self.settings["e2e"]),
        )
        return NodeLaunch(argv=tuple(spec.argv(node.python)), env={"PYTHONUNBUFFERED": "1"})

    def status(self, host: str, port: int, timeout: float) -> dict[str, Any] | None:
        return fetch_status(host, port, timeout)

    def healthy(self, statuses: Mapping[str, dict[str, Any] | None]) -> bool:
        """Every node answers; in CP mode they agree on one primary that says it is primary."""
        values = list(statuses.values())
        if any(s is None or not s.get("ready", True) for s in values):
            return False
        if self.mode != "cp":
            return True
        primaries = {s.get("primary") for s in values if s}
        if len(primaries) != 1 or None in primaries:
            return False
        (primary,) = primaries
        return any(s and s.get("node") == primary and s.get("role") == "primary" for s in values)

    def primary(self, statuses: Mapping[str, dict[str, Any] | None]) -> str | None:
        votes = Counter(s.get("primary") for s in statuses.values() if s and s.get("primary"))
        return votes.most_common(1)[0][0] if votes else None

    def client(
        self,
        user: str,
        endpoints: Mapping[str, str],
        on_deliver: DeliveryCallback,
        settings: ClientSettings,
    ) -> ReferenceClient:
        if self._provisioned is None:
            raise RuntimeError("provision() must run before client()")

        def deliver(d: chat.Delivery) -> None:
            on_deliver(Delivery(d.id, d.conv, d.sender, d.user, d.seq, d.digest, d.node))

        return ReferenceClient(
            chat.ChatClient(
                user,
                self._provisioned.secrets[user],
                self._provisioned.directory,
                {node: f"ws://{address}" for node, address in endpoints.items()},
                e2e=bool(self.settings["e2e"]),
                on_deliver=deliver,
                connect_timeout=settings.connect_timeout,
                request_timeout=settings.request_timeout,
                heartbeat=settings.heartbeat,
            )
        )
