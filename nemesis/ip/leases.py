"""Which process owns a run, and which /24 it holds: small files under ``/run/splitbrain/ip``.

Each run writes ``<run_id>.json`` (the owner's pid, its start time and the host); a local
topology also claims ``subnet-<index>`` with an exclusive create, which is what keeps two
concurrent runs off the same /24. ``/run`` is a tmpfs, emptied at boot like the namespaces
themselves. :func:`owner_state` tells a live run from a dead one even after its pid is reused,
which is how :mod:`nemesis.ip.cleanup` leaves a concurrent run alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from nemesis.ip.names import RUN_ID
from splitbrain.processes import process_start_time

DEFAULT_LEASE_DIR = Path("/run/splitbrain/ip")
OwnerState = Literal["alive", "dead", "foreign"]


@dataclass(frozen=True)
class Owner:
    """The process that owns a run."""

    pid: int
    started: str | None
    host: str

    @classmethod
    def me(cls) -> Owner:
        return cls(os.getpid(), process_start_time(os.getpid()), socket.gethostname())

    def to_json(self) -> dict[str, object]:
        return {"pid": self.pid, "started": self.started, "host": self.host}

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Owner:
        pid = data.get("pid")
        started = data.get("started")
        return cls(
            pid if isinstance(pid, int) else -1,
            started if isinstance(started, str) else None,
            str(data.get("host", "")),
        )


def owner_state(owner: Owner | None) -> tuple[OwnerState, str]:
    """("alive" | "dead" | "foreign", why) for a run's owner (None: no owner file)."""
    if owner is None:
        return "dead", "no owner recorded"
    if owner.host and owner.host != socket.gethostname():
        return "foreign", f"owned by a process on host {owner.host}"
    started = process_start_time(owner.pid) if owner.pid > 0 else None
    if started is None:
        return "dead", f"owner pid {owner.pid} is gone"
    if owner.started is not None and started != owner.started:
        return "dead", f"owner pid {owner.pid} now belongs to another process"
    return "alive", f"owner pid {owner.pid} still runs"


class Leases:
    """The owner files and subnet claims in ``directory``."""

    def __init__(self, directory: Path = DEFAULT_LEASE_DIR) -> None:
        self.directory = Path(directory)

    def _owner_path(self, run_id: str) -> Path:
        return self.directory / f"{run_id}.json"

    def _subnet_path(self, index: int) -> Path:
        return self.directory / f"subnet-{index}"

    def _owner_data(self, run_id: str, owner: Owner | None) -> str:
        return json.dumps({"run_id": run_id, **(owner or Owner.me()).to_json()})

    def _create(self, path: Path, data: str) -> bool:
        """Write ``data`` to a new file ``path``; False when it exists (another run's)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as f:
            f.write(data)
        return True

    def record_owner(self, run_id: str, owner: Owner | None = None) -> None:
        """Write (or overwrite) the owner file of ``run_id``: this process unless told."""
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self._owner_path(run_id).with_suffix(".tmp")
        tmp.write_text(self._owner_data(run_id, owner))
        tmp.replace(self._owner_path(run_id))

    def claim_run(self, run_id: str, owner: Owner | None = None) -> bool:
        """Create the owner file of ``run_id`` unless it exists (False: the id is taken)."""
        return self._create(self._owner_path(run_id), self._owner_data(run_id, owner))

    def owner(self, run_id: str) -> Owner | None:
        try:
            data = json.loads(self._owner_path(run_id).read_text())
        except (OSError, ValueError):
            return None
        return Owner.from_json(data) if isinstance(data, dict) else None

    def claim_subnet(self, index: int, run_id: str) -> bool:
        """Claim /24 number ``index`` for ``run_id``; False when another run holds it."""
        return self._create(self._subnet_path(index), run_id)

    def subnet_holder(self, index: int) -> str | None:
        try:
            return self._subnet_path(index).read_text().strip() or None
        except OSError:
            return None

    def release(self, run_id: str) -> None:
        """Remove the owner file of ``run_id`` and every subnet claim it holds (idempotent)."""
        for index, holder in self.subnets():
            if holder == run_id:
                with contextlib.suppress(FileNotFoundError):
                    self._subnet_path(index).unlink()
        with contextlib.suppress(FileNotFoundError):
            self._owner_path(run_id).unlink()

    def subnets(self) -> Iterator[tuple[int, str | None]]:
        """Every claimed /24: (index, holder run id)."""
        if not self.directory.is_dir():
            return
        for path in sorted(self.directory.glob("subnet-*")):
            suffix = path.name.removeprefix("subnet-")
            if suffix.isdigit():
                yield int(suffix), self.subnet_holder(int(suffix))

    def run_ids(self) -> set[str]:
        """Every run with an owner file or a subnet claim."""
        found = {holder for _, holder in self.subnets() if holder}
        if self.directory.is_dir():
            found |= {p.stem for p in self.directory.glob("*.json") if RUN_ID.match(p.stem)}
        return found
