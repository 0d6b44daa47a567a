"""Pure parts of the NATS system: option parsing, the server's config file, and names.

Nothing here does I/O, so the config a node gets is tested without a server.

Two settings of every node's ``cluster`` block keep the harness's proxies on every link:

* ``routes`` lists, for each other node, the ``host:port`` of the proxy this node dials it through
  (:attr:`NodeAddresses.peers`).
* ``advertise`` names a closed port. NATS gossips the route address each server advertises, and a
  server that learns of a peer it has no route to dials that address directly: with the real
  listen address advertised, a healed link elsewhere would let two nodes meet around a cut proxy.
  A dial to the closed port fails at once, and the explicit route through the proxy stays the only
  way in. ``no_advertise`` keeps clients from learning other nodes' addresses the same way.

NATS keeps one route connection (a pool of them since 2.10, all dialled by the same side) per node
pair, whichever side dialled first: traffic in both directions shares it. A one-way cut of a pair
is therefore not a one-way partition; cut both directions of a pair together.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from systems.seam import NodeAddresses, SystemConfigError

CLUSTER_NAME = "splitbrain"
CLOSED_ADVERTISE = "127.0.0.1:1"
STORE_SUBDIR = "jetstream"
CONFIG_NAME = "nats-server.conf"
MAX_REPLICAS = 5
_DURATION = re.compile(r"^\d+(ms|s|m|h)$")
_SIZE = re.compile(r"^(\d+)\s*([KMGT]?)B?$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SAFE = re.compile(r"[^A-Za-z0-9_-]")


def parse_sync_interval(value: Any) -> str:
    """``always`` (fsync every write) or a Go duration such as ``2m``, ``10s``, ``100ms``."""
    text = str(value).strip().lower()
    if text == "always" or _DURATION.match(text):
        return text
    raise ValueError("expected 'always' or a duration such as 2m, 10s or 100ms")


def parse_replicas(value: Any) -> int | None:
    """``auto`` (None: 3, or 5 from five nodes on) or a count from 1 to 5."""
    text = str(value).strip().lower()
    if text in ("auto", ""):
        return None
    count = int(text)
    if not 1 <= count <= MAX_REPLICAS:
        raise ValueError(f"JetStream replicates a stream on 1 to {MAX_REPLICAS} nodes")
    return count


def parse_size(value: Any) -> int | None:
    """Bytes from ``1073741824``, ``512MB``, ``1G``; None for ``none``/empty (no limit)."""
    if value is None:
        return None
    text = str(value).strip()
    if text.lower() in ("", "none"):
        return None
    match = _SIZE.match(text)
    if not match:
        raise ValueError("expected a size such as 512MB, 1GB or a number of bytes")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2).upper()]


def parse_seconds(value: Any) -> float:
    """A positive number of seconds."""
    seconds = float(value)
    if seconds <= 0:
        raise ValueError("expected a positive number of seconds")
    return seconds


def stream_replicas(setting: int | None, nodes: int) -> int:
    """How many nodes hold each stream: the setting, or 3 (5 from five nodes on) capped at
    ``nodes``; SystemConfigError when the setting asks for more nodes than the cluster has."""
    if setting is None:
        return MAX_REPLICAS if nodes >= MAX_REPLICAS else min(3, nodes)
    if setting > nodes:
        raise SystemConfigError(
            f"system nats: option replicas = {setting} needs at least {setting} nodes, the cluster "
            f"has {nodes}; lower replicas or raise --nodes"
        )
    return setting


@dataclass(frozen=True)
class ServerOptions:
    """The server settings that matter to durability, as the config file states them."""

    sync_interval: str
    max_file_store: int | None
    max_memory_store: int | None
    domain: str | None

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> ServerOptions:
        return cls(
            sync_interval=settings["sync_interval"],
            max_file_store=settings["max_file_store"],
            max_memory_store=settings["max_memory_store"],
            domain=settings["domain"],
        )

    def jetstream_block(self, store_dir: Path) -> dict[str, Any]:
        """The ``jetstream { }`` block, as key -> value."""
        block: dict[str, Any] = {"store_dir": str(store_dir), "sync_interval": self.sync_interval}
        if self.max_file_store is not None:
            block["max_file_store"] = self.max_file_store
        if self.max_memory_store is not None:
            block["max_memory_store"] = self.max_memory_store
        if self.domain is not None:
            block["domain"] = self.domain
        return block


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return json.dumps(str(value))


def _block(name: str, body: Mapping[str, Any], indent: str = "") -> list[str]:
    lines = [f"{indent}{name} {{"]
    lines += [f"{indent}  {key}: {_value(value)}" for key, value in body.items()]
    lines.append(f"{indent}}}")
    return lines


def server_config(node: NodeAddresses, options: ServerOptions, extra: str = "") -> str:
    """The ``nats-server`` config file of ``node``: its ports, data dir, JetStream and routes,
    then ``extra`` (the user's own settings; a later key overrides an earlier one)."""
    host = node.bind_host
    top = {
        "server_name": node.name,
        "listen": f"{host}:{node.ports['client']}",
        "http": f"{host}:{node.ports['http']}",
        "max_payload": 1 << 20,
    }
    routes = [f"nats-route://{node.peers[peer]}" for peer in sorted(node.peers)]
    cluster = {
        "name": CLUSTER_NAME,
        "listen": f"{host}:{node.ports['cluster']}",
        "advertise": CLOSED_ADVERTISE,
        "no_advertise": True,
        "connect_retries": -1,
        "routes": routes,
    }
    lines = [f"# written by splitbrain for node {node.name}; regenerated before every start"]
    lines += [f"{key}: {_value(value)}" for key, value in top.items()]
    lines += _block("jetstream", options.jetstream_block(node.data_dir / STORE_SUBDIR))
    lines += _block("cluster", cluster)
    if extra.strip():
        lines += ["# from the extra_config system option", extra.rstrip()]
    return "\n".join(lines) + "\n"


def safe_token(text: str) -> str:
    """``text`` as a NATS name/subject token: letters, digits, ``-``, ``_``; others as ``_xx``
    hex, so two different inputs never give one token."""
    return _SAFE.sub(
        lambda m: "".join(f"_{b:02x}" for b in m.group().encode()), text.replace("_", "_5f")
    )


def stream_name(conv: str) -> str:
    """The JetStream stream that holds conversation ``conv``."""
    return f"conv-{safe_token(conv)}"


def subject(conv: str) -> str:
    """The subject a send to ``conv`` is published on."""
    return f"chat.{safe_token(conv)}"


def durable_name(user: str) -> str:
    """The durable pull consumer of ``user`` (one per stream it belongs to)."""
    return f"user-{safe_token(user)}"


def envelope(msg_id: str, sender: str, conv: str, body: bytes) -> bytes:
    """What is published: the id, sender and conversation beside the body, so a delivery names
    them without trusting headers; the body is latin-1 text of its bytes (lossless)."""
    return json.dumps(
        {"id": msg_id, "from": sender, "conv": conv, "body": body.decode("latin-1")},
        separators=(",", ":"),
    ).encode()


def open_envelope(data: bytes) -> tuple[str, str, str, bytes]:
    """``(id, from, conv, body)`` of a published envelope; ValueError when it is not one."""
    try:
        fields = json.loads(data)
        return fields["id"], fields["from"], fields["conv"], fields["body"].encode("latin-1")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"not a splitbrain envelope: {exc}") from None
