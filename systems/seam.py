"""The seam between the harness and a messaging system under test (Jepsen's db/client split).

A :class:`System` says how to provision accounts, how to launch one node given its addresses, how
to read a node's status, and how to make a :class:`MessagingClient` for one user. The backends
only run what a system says to launch, and route every link through their own proxies; the driver
only speaks the client protocol below, in the history's vocabulary. Nothing here does I/O.

What a caller may rely on:

* ``MessagingClient.send`` returns :class:`Sent` (the send is ``ok``), raises :class:`Refused`
  when the system certainly did not take the message (``fail``) and :class:`Indeterminate` when
  nobody knows (``info``). Any other exception is a bug in the client.
* Deliveries arrive through the ``on_deliver`` callback given to :meth:`System.client`, one call
  per arrival, with the digest of the plaintext the client saw
  (:func:`splitbrain.messages.digest`).
* ``sync`` returns only when the node confirmed that everything committed before the call has
  been delivered to this client; it raises :class:`NotCaughtUp` (or :class:`Unreachable`) when it
  could not confirm that.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

from splitbrain.errors import SplitbrainError


class ClientError(Exception):
    """Base of the errors a client raises on purpose; anything else is a bug in the client."""


class Refused(ClientError):
    """The system certainly did not take the send: recorded as ``fail``."""


class Indeterminate(ClientError):
    """Nobody knows whether the system took the send (timeout, lost connection): ``info``."""


class Unreachable(ClientError, ConnectionError):
    """No node of the ones given could be reached (or the client is not connected)."""


class NotCaughtUp(ClientError):
    """A sync could not confirm that this client has everything committed before it."""


class SystemConfigError(SplitbrainError, ValueError):
    """A system option is unknown or has a bad value; the message names it and what is allowed."""


@dataclass(frozen=True)
class Sent:
    """A send the system took: its ``seq`` in the conversation (None if the system gives none)
    and the node that answered."""

    seq: int | None
    node: str | None


@dataclass(frozen=True)
class Delivery:
    """One arrival of a message at ``user``; ``digest`` is
    :data:`splitbrain.messages.UNDECRYPTABLE` when the body did not open."""

    id: str
    conv: str
    sender: str
    user: str
    seq: int | None
    digest: str
    node: str | None


@dataclass(frozen=True)
class Accounts:
    """Who takes part in a run: users and the members of each conversation."""

    users: tuple[str, ...]
    conversations: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True)
class ClientSettings:
    """Timeouts every client honours; ``heartbeat`` is how often a silent link is probed."""

    connect_timeout: float = 1.5
    request_timeout: float = 3.0
    heartbeat: float = 1.0


@dataclass(frozen=True)
class NodeAddresses:
    """Where one node listens and whom it dials, as the backend decided.

    ``ports`` maps each of the system's port names (:attr:`System.port_names`) to the port the
    node binds on ``bind_host``; ``peers`` maps every other node to the ``host:port`` this node
    dials for it (a proxy of that link, on the peer's ``peer_port``). ``data_dir`` is the node's own
    directory (it exists and survives restarts); ``python`` is the interpreter that runs Python
    code where the node runs (the host's, or an image's).
    """

    name: str
    bind_host: str
    ports: Mapping[str, int]
    peers: Mapping[str, str]
    data_dir: Path
    log: Path
    run_dir: Path
    python: str


@dataclass(frozen=True)
class NodeLaunch:
    """How to start one node: its command line, environment, the files to write before it
    starts (path -> bytes, mode 0600), and host paths it reads (the docker backend mounts them
    read-only at the same place)."""

    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    files: Mapping[Path, bytes] = field(default_factory=dict)
    host_paths: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Capabilities:
    """What a system offers the nemesis, declared rather than guessed.

    ``primary``: node statuses name one primary (for primary-aimed faults). ``process_faults``:
    its nodes are processes the backend started, so kill, pause and power loss apply.
    ``pair_links``: two nodes share one connection whichever side dialled it (NATS routes), so
    the proxy of one direction may carry both directions' traffic: a one-way cut is not a one-way
    partition, and the nemesis must cut (and delay) both directions of a pair together.
    """

    primary: bool = False
    process_faults: bool = True
    pair_links: bool = False


@dataclass(frozen=True)
class Option:
    """One system option: ``--system-opt NAME=VALUE`` or ``[system] NAME = VALUE`` in TOML."""

    name: str
    default: Any
    help: str
    choices: tuple[Any, ...] | None = None
    parse: Callable[[Any], Any] = str

    def coerce(self, value: Any, system: str) -> Any:
        """``value`` parsed and checked; raises :class:`SystemConfigError` naming the option."""
        try:
            parsed = self.parse(value)
        except (TypeError, ValueError) as exc:
            raise SystemConfigError(
                f"system {system}: option {self.name} = {value!r} is not valid ({exc}); {self.help}"
            ) from None
        if self.choices is not None and parsed not in self.choices:
            raise SystemConfigError(
                f"system {system}: option {self.name} = {value!r}; use one of "
                + ", ".join(str(c) for c in self.choices)
            )
        return parsed


@dataclass(frozen=True)
class Shortcut:
    """A command-line flag of a system's own for one of its options: ``--mode ap`` is
    ``--system-opt mode=ap``. ``flag`` defaults to ``--<option>``.

    With ``vary_flag``, ``splitbrain compare VARY_FLAG V1,V2`` is ``compare --vary option=V1,V2``
    (the same seed, workload and schedule with each value); ``vary_metavar`` shows the values in
    help (``cp,ap``), and ``latency`` says that comparison weighs latency, as ``compare
    --latency`` does (clients stay online, each payload size runs apart, send-to-deliver figures).
    A shortcut option is also read at the top level of a TOML file or an older test.json.
    """

    option: str
    help: str
    flag: str | None = None
    vary_flag: str | None = None
    vary_metavar: str = "V1,V2"
    latency: bool = False

    @property
    def run_flag(self) -> str:
        return self.flag or "--" + self.option.replace("_", "-")


AtRest = Literal["plaintext", "ciphertext"]
"""What a system's servers keep of a message body: the plaintext, or only ciphertext (end-to-end
encryption), in which case the harness scans every file of a run for the bodies sent."""


@dataclass(frozen=True)
class SystemDescription:
    """How every system describes itself, for test.json, results.json, the report, JUnit and
    comparisons: its ``name``, the ``version`` that runs, ``options`` (every option whose value
    differs from its declared default; the full settings follow from the run's configuration),
    and free ``details`` (server settings, how messages map, library versions).
    """

    name: str
    version: str
    options: Mapping[str, Any] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "options": dict(self.options),
            "details": dict(self.details),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SystemDescription:
        """Read :meth:`to_json`'s data; ValueError when it is not that shape."""
        name, version = data.get("name"), data.get("version")
        options, details = data.get("options", {}), data.get("details", {})
        if not isinstance(name, str) or not isinstance(version, str):
            raise ValueError("a system description needs a name and a version (strings)")
        if not isinstance(options, Mapping) or not isinstance(details, Mapping):
            raise ValueError("a system description's options and details are objects")
        return cls(name, version, dict(options), dict(details))

    def words(self) -> str:
        """``reference 0.1.0 (mode=ap, bug=no-dedup)`` or ``nats 2.15.3 (defaults)``."""
        changed = ", ".join(f"{k}={show_value(v)}" for k, v in self.options.items())
        return f"{self.name} {self.version} ({changed or 'defaults'})"


def show_value(value: Any) -> str:
    """An option's value as ``--system-opt`` takes it back: ``on``/``off``, ``none``, text."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return "none" if value is None else str(value)


def parse_switch(value: Any) -> bool:
    """``on/off/true/false/yes/no/1/0`` (or a bool) as a bool."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("on", "true", "yes", "1"):
        return True
    if text in ("off", "false", "no", "0"):
        return False
    raise ValueError(f"{value!r} is not on or off")


def parse_optional(value: Any) -> str | None:
    """A string, or None for ``""``/``none``."""
    if value is None:
        return None
    text = str(value).strip()
    return None if text.lower() in ("", "none") else text


def resolve_options(
    system: str, declared: Sequence[Option], given: Mapping[str, Any]
) -> dict[str, Any]:
    """Every declared option with its value: given ones parsed and checked, others defaulted."""
    known = {o.name: o for o in declared}
    unknown = sorted(set(given) - set(known))
    if unknown:
        listing = ", ".join(sorted(known)) or "none"
        raise SystemConfigError(
            f"system {system}: unknown option(s) {', '.join(unknown)}; its options are: {listing}"
            f" (see `splitbrain run --system {system} --help`)"
        )
    return {
        name: option.coerce(given[name], system) if name in given else option.default
        for name, option in known.items()
    }


def changed_options(declared: Sequence[Option], settings: Mapping[str, Any]) -> dict[str, Any]:
    """The options of ``settings`` whose value differs from their declared default, in the
    order they are declared."""
    return {
        o.name: settings[o.name]
        for o in declared
        if o.name in settings and settings[o.name] != o.default
    }


class MessagingClient(Protocol):
    """One user's client. Never reconnects by itself: the driver decides where to connect."""

    @property
    def node(self) -> str | None:
        """The node this client is connected to now, or None."""
        ...

    async def connect(self, order: Sequence[str]) -> str:
        """Connect to the first node of ``order`` that answers and return its name; raise
        :class:`Unreachable` when none does. Deliveries may start right away."""
        ...

    async def send(self, msg_id: str, conv: str, body: bytes) -> Sent:
        """Send ``body`` to the other members of ``conv``; a retry reuses ``msg_id``."""
        ...

    async def sync(self, timeout: float) -> None:
        """Catch up: return once everything committed before the call reached this client."""
        ...

    async def close(self) -> None:
        """Close the connection, if any; safe to call twice."""
        ...


DeliveryCallback = Callable[[Delivery], None]


class System(Protocol):
    """A messaging system under test; one instance serves one run.

    Class attributes declare what the harness may ask of it: ``name``, ``options`` (with
    ``--system-opt``), ``shortcuts`` (flags of its own for some options), ``capabilities``, and
    its ports: ``port_names`` are the ports one node listens on; clients dial ``client_port``,
    peers dial ``peer_port`` (None if nodes never dial each other), and the harness reads status
    on ``status_port``. :func:`describe` makes its description from ``version`` and
    ``details``.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    options: ClassVar[tuple[Option, ...]]
    shortcuts: ClassVar[tuple[Shortcut, ...]]
    capabilities: ClassVar[Capabilities]
    port_names: ClassVar[tuple[str, ...]]
    client_port: ClassVar[str]
    peer_port: ClassVar[str | None]
    status_port: ClassVar[str]

    settings: Mapping[str, Any]

    @property
    def version(self) -> str:
        """The version of the system that runs (a server release, or this package's)."""
        ...

    def details(self) -> dict[str, Any]:
        """Free facts for test.json: server settings, how messages map, library versions."""
        ...

    def at_rest(self) -> AtRest:
        """What its servers keep of a body with these settings (see :data:`AtRest`)."""
        ...

    def prepare(self, out: Any) -> None:
        """Make sure the system's binaries exist (build or install them, showing progress on
        ``out``); raise :class:`SystemConfigError` with what to do when that is impossible."""
        ...

    def provision(self, accounts: Accounts, run_dir: Path, nodes: Sequence[str], seed: int) -> None:
        """Create users, keys and conversations (files under ``run_dir``, secrets 0600)."""
        ...

    def launch(self, node: NodeAddresses) -> NodeLaunch:
        """How to start ``node``; called once per node before the first start."""
        ...

    def status(self, host: str, port: int, timeout: float) -> dict[str, Any] | None:
        """The node's status (at least ``{"ready": bool}``), or None when it does not answer."""
        ...

    def healthy(self, statuses: Mapping[str, dict[str, Any] | None]) -> bool:
        """Whether the cluster, as these statuses show it, can serve every client."""
        ...

    def primary(self, statuses: Mapping[str, dict[str, Any] | None]) -> str | None:
        """The node most statuses name as primary, or None (only with ``capabilities.primary``)."""
        ...

    def client(
        self,
        user: str,
        endpoints: Mapping[str, str],
        on_deliver: DeliveryCallback,
        settings: ClientSettings,
    ) -> MessagingClient:
        """A client for ``user``; ``endpoints`` maps node -> ``host:port`` of its client port
        (through the backend's proxy for this client's group)."""
        ...


def describe(system: System) -> SystemDescription:
    """``system`` described in the one shape every system shares."""
    return SystemDescription(
        name=system.name,
        version=system.version,
        options=changed_options(system.options, system.settings),
        details=system.details(),
    )
