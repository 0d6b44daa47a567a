"""End-to-end encryption and authentication helpers (PyNaCl), used by clients and nodes.

Bodies are sealed with ``Box(sender's key, recipient's key)`` once per recipient; a node only ever
sees the base64 ciphertexts. With e2e off the same framing carries base64 plaintext. A ``Box``
holds the pair's shared key, whose derivation (a Curve25519 scalar multiplication) costs far more
than sealing a short body: a client makes one per counterpart and keeps it (:func:`shared_box`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import os

from nacl.exceptions import CryptoError
from nacl.public import Box, PrivateKey, PublicKey
from nacl.signing import SigningKey, VerifyKey

BOX_OVERHEAD = Box.NONCE_SIZE + 16


def auth_payload(node: str, nonce: bytes) -> bytes:
    """What a client signs to answer ``node``'s challenge ``nonce``."""
    return b"splitbrain-auth\x00" + node.encode() + b"\x00" + nonce


def sign_challenge(key: SigningKey, node: str, nonce: bytes) -> str:
    return key.sign(auth_payload(node, nonce)).signature.hex()


def verify_challenge(key: VerifyKey, node: str, nonce: bytes, signature_hex: str) -> bool:
    """True when ``signature_hex`` signs this node's challenge with ``key``."""
    try:
        key.verify(auth_payload(node, nonce), bytes.fromhex(signature_hex))
    except (CryptoError, ValueError, TypeError):
        return False
    return True


def peer_mac(secret: bytes, direction: str, server: str, dialer: str, nonce: bytes) -> str:
    """HMAC-SHA256 (hex) proving knowledge of the cluster secret for one peer handshake.

    ``direction`` is "dial" (the dialer answers the server's nonce) or "serve" (the server answers
    the dialer's nonce), so neither answer can be replayed as the other; both names are bound in,
    so an answer for one link cannot be used on another.
    """
    text = b"\x00".join([b"splitbrain-peer", direction.encode(), server.encode(), dialer.encode()])
    return hmac.new(secret, text + b"\x00" + nonce, hashlib.sha256).hexdigest()


def peer_mac_ok(
    secret: bytes, direction: str, server: str, dialer: str, nonce: bytes, mac: object
) -> bool:
    """True when ``mac`` is :func:`peer_mac` of these values (compared in constant time)."""
    expected = peer_mac(secret, direction, server, dialer, nonce)
    return isinstance(mac, str) and mac.isascii() and hmac.compare_digest(expected, mac)


def shared_box(own: PrivateKey, other: PublicKey) -> Box:
    """The Box between this user and ``other``: it seals to ``other`` and opens what ``other``
    sealed to this user (the shared key is symmetric)."""
    return Box(own, other)


class Nonces:
    """Box nonces that never repeat for one sender, without a system call each.

    A random 16-byte prefix drawn once, then a 64-bit counter: two senders share a prefix with
    probability 2**-128, and one sender never reuses a counter value. Drawing 24 random bytes per
    seal (PyNaCl's default) costs a ``getrandom`` call per recipient of every message.
    """

    def __init__(self) -> None:
        self._prefix = os.urandom(Box.NONCE_SIZE - 8)
        self._counter = itertools.count()

    def __next__(self) -> bytes:
        return self._prefix + next(self._counter).to_bytes(8, "big")

    def __iter__(self) -> Nonces:
        return self


def seal(box: Box, body: bytes, e2e: bool, nonce: bytes | None = None) -> str:
    """The base64 text the recipient's copy of ``body`` travels as (``box``: to that recipient).

    ``nonce`` must never have sealed anything with this box before (see :class:`Nonces`);
    None draws a random one.
    """
    raw = bytes(box.encrypt(body, nonce)) if e2e else body
    return base64.b64encode(raw).decode()


def open_body(box: Box, text: str, e2e: bool) -> bytes | None:
    """The plaintext of a copy made by :func:`seal` (``box``: with its sender), or None when it
    does not open or verify."""
    try:
        raw = base64.b64decode(text, validate=True)
        return box.decrypt(raw) if e2e else raw
    except (CryptoError, ValueError, TypeError):
        return None
