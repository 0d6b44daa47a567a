"""Facts of the history format that clients, servers and the harness all write or look for.

``digest`` (history-format.md) is the hex SHA-256 of a plaintext body: a client records it, the
confidentiality scan looks for it in what servers stored. :data:`UNDECRYPTABLE` is the digest a
client records for a body it could not open.
"""

from __future__ import annotations

import hashlib
from typing import Final

UNDECRYPTABLE: Final = "undecryptable"


def digest(body: bytes) -> str:
    """The history's ``digest`` of a plaintext body: its SHA-256 in lower-case hex."""
    return hashlib.sha256(body).hexdigest()
