"""Users, their keys and the conversations they are in.

Every user has one 32-byte secret seed. From it come both the Ed25519 signing key (client
authentication) and, through ``to_curve25519_private_key``, the Curve25519 key of PyNaCl ``Box``
(end-to-end encryption). Seeds are random unless a caller asks for seeded ones (to replay a run
with the same keys). Nodes only ever see the public directory (the users file) and the cluster
secret their peers authenticate with; the user seeds are kept by the harness in a separate secrets
file. Every secret file is created with mode 0600 and refused when others may read it.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets as _random
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from nacl.public import PrivateKey, PublicKey
from nacl.signing import SigningKey, VerifyKey


@dataclass(frozen=True)
class UserKeys:
    """The public keys of one user."""

    verify_key: bytes  # Ed25519 public key, 32 bytes
    box_key: bytes  # Curve25519 public key, 32 bytes


@dataclass(frozen=True)
class Directory:
    """The public directory every node and client shares: users' keys and conversation members."""

    users: Mapping[str, UserKeys]
    conversations: Mapping[str, tuple[str, ...]]

    def members(self, conv: str) -> tuple[str, ...]:
        """Members of ``conv``; empty when the conversation does not exist."""
        return self.conversations.get(conv, ())

    def conversations_of(self, user: str) -> list[str]:
        """Names of the conversations ``user`` is in, sorted."""
        return sorted(c for c, members in self.conversations.items() if user in members)

    def verify_key(self, user: str) -> VerifyKey:
        return VerifyKey(self.users[user].verify_key)

    def box_key(self, user: str) -> PublicKey:
        return PublicKey(self.users[user].box_key)


@dataclass(frozen=True)
class Provisioned:
    """What :func:`provision` makes: each user's secret seed and the public directory."""

    secrets: Mapping[str, bytes]
    directory: Directory


def signing_key(secret: bytes) -> SigningKey:
    """The Ed25519 key that authenticates the holder of ``secret``."""
    return SigningKey(secret)


def box_private_key(secret: bytes) -> PrivateKey:
    """The Curve25519 key that opens the ``Box`` messages sent to the holder of ``secret``."""
    return signing_key(secret).to_curve25519_private_key()


def public_keys(secret: bytes) -> UserKeys:
    verify = signing_key(secret).verify_key
    return UserKeys(bytes(verify), bytes(verify.to_curve25519_public_key()))


def provision(
    users: list[str], conversations: dict[str, list[str]], seed: int | None = None
) -> Provisioned:
    """Keys for ``users``: random, or derived from ``seed`` when one is given (the same seed gives
    the same keys, which anyone knowing the seed can rebuild: ask for it only to replay a run).
    Conversation members must be users."""
    unknown = {m for members in conversations.values() for m in members} - set(users)
    if unknown:
        raise ValueError(f"conversation members {sorted(unknown)} are not users: add them to users")
    secrets = {
        u: _random.token_bytes(32)
        if seed is None
        else hashlib.sha256(f"splitbrain:{seed}:{u}".encode()).digest()
        for u in users
    }
    directory = Directory(
        users={u: public_keys(s) for u, s in secrets.items()},
        conversations={c: tuple(m) for c, m in conversations.items()},
    )
    return Provisioned(secrets=secrets, directory=directory)


def directory_to_json(directory: Directory) -> dict:
    return {
        "users": {
            u: {"verify_key": k.verify_key.hex(), "box_key": k.box_key.hex()}
            for u, k in directory.users.items()
        },
        "conversations": {c: list(m) for c, m in directory.conversations.items()},
    }


def directory_from_json(data: Mapping) -> Directory:
    users = {
        u: UserKeys(bytes.fromhex(k["verify_key"]), bytes.fromhex(k["box_key"]))
        for u, k in data["users"].items()
    }
    conversations = {c: tuple(m) for c, m in data["conversations"].items()}
    return Directory(users=users, conversations=conversations)


def write_users_file(path: str | Path, provisioned: Provisioned | Directory) -> None:
    """Write the public users file that every node is started with."""
    directory = provisioned.directory if isinstance(provisioned, Provisioned) else provisioned
    Path(path).write_text(json.dumps(directory_to_json(directory), indent=1))


def load_directory(path: str | Path) -> Directory:
    """Read a users file; raises ValueError naming the file when it is not one."""
    try:
        return directory_from_json(json.loads(Path(path).read_text()))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"{path}: not a users file ({exc}); write one with keys.write_users_file"
        ) from exc


def write_secrets(path: str | Path, provisioned: Provisioned) -> None:
    """Write every user's secret seed (hex); keep this file away from the nodes."""
    data = {"secrets": {u: s.hex() for u, s in provisioned.secrets.items()}}
    write_private(path, json.dumps(data, indent=1).encode())


def load_secrets(path: str | Path) -> dict[str, bytes]:
    """Read a secrets file written by :func:`write_secrets`: user -> 32-byte seed."""
    try:
        data = json.loads(read_private(path))
        return {u: bytes.fromhex(s) for u, s in data["secrets"].items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(
            f"{path}: not a secrets file ({exc}); write one with keys.write_secrets"
        ) from exc


def recipients(directory: Directory, conv: str, sender: str) -> list[str]:
    """Members of ``conv`` other than ``sender``, in directory order."""
    return [m for m in directory.members(conv) if m != sender]


CLUSTER_SECRET_BYTES = 32


def write_private(path: str | Path, data: bytes) -> None:
    """Write ``data`` to a new file only its owner may read or write (mode 0600 from creation,
    never readable by others in between); an existing file is replaced."""
    path = Path(path)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def read_private(path: str | Path) -> bytes:
    """The bytes of a secret file; raises ValueError when it is not a regular file or when its
    group or others may read it (as ssh refuses such keys)."""
    path = Path(path)
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode):
        raise ValueError(f"{path} is not a regular file")
    if mode & 0o077:
        raise ValueError(
            f"{path} is readable by others (mode {stat.S_IMODE(mode):o}); run chmod 600 {path}"
        )
    return path.read_bytes()


def write_cluster_secret(path: str | Path) -> bytes:
    """Make a fresh random cluster secret, write it (hex, mode 0600) and return it. Every node of
    a cluster is started with ``--cluster-secret-file`` naming the same file (or a copy)."""
    secret = _random.token_bytes(CLUSTER_SECRET_BYTES)
    write_private(path, secret.hex().encode() + b"\n")
    return secret


def load_cluster_secret(path: str | Path) -> bytes:
    """Read a file written by :func:`write_cluster_secret`; ValueError names the problem."""
    try:
        secret = bytes.fromhex(read_private(path).decode().strip())
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ValueError(
            f"{path}: not a cluster secret file ({exc}); write one with keys.write_cluster_secret"
        ) from None
    if len(secret) < 16:
        raise ValueError(f"{path}: a cluster secret must be at least 16 bytes (32 hex digits)")
    return secret
