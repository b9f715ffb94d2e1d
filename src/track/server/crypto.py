"""The AES security layer: X25519 key exchange, HKDF, AES-256-GCM with counter nonces.

Handshake (two plaintext frames, then everything is sealed)::

    client -> server  {"track": 1, "layer": "AES", "pub": <client ephemeral X25519 key>}
    server -> client  {"track": 1, "layer": "AES", "pub": <server ephemeral X25519 key>,
                       "key": <server long-term Ed25519 public key>, "sig": <signature>}

The server signs ``CONTEXT + client_pub + server_pub`` with its long-term key, so a client
that pinned the key's fingerprint (``?server_key=``) detects a man in the middle. Both sides
derive two 32-byte keys (client->server, server->client) with HKDF-SHA256 over the X25519
secret, salted with the transcript hash. Each direction numbers its frames from 0 and uses the
number as the GCM nonce: a tampered, replayed, dropped or reordered frame fails to decrypt.
All primitives come from the ``cryptography`` package.
"""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING, Any

from track.errors import ConfigurationError, ServerError

if TYPE_CHECKING:  # cryptography is imported when a channel is set up, not with track
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

__all__ = [
    "AESChannel",
    "HandshakeError",
    "PlainChannel",
    "client_finish",
    "client_start",
    "fingerprint",
    "identity_fingerprint",
    "load_identity",
    "server_accept",
]

CONTEXT = b"track-aes-v1"


class HandshakeError(ServerError, ValueError):
    """The peer's handshake is malformed, unsigned or from an unexpected key."""


class PlainChannel:
    """No encryption (loopback, or under TLS): frames pass through unchanged."""

    def seal(self, data: bytes) -> bytes:
        """``data`` as sent."""
        return data

    def open(self, data: bytes) -> bytes:
        """``data`` as received."""
        return data


class AESChannel:
    """AES-256-GCM with one key and one frame counter per direction."""

    def __init__(self, send_key: bytes, receive_key: bytes) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self._send = AESGCM(send_key)
        self._receive = AESGCM(receive_key)
        self._sent = 0
        self._received = 0

    def seal(self, data: bytes) -> bytes:
        """Encrypt and authenticate the next outgoing frame."""
        nonce = self._sent.to_bytes(12, "big")
        self._sent += 1
        return self._send.encrypt(nonce, data, None)

    def open(self, data: bytes) -> bytes:
        """Decrypt the next incoming frame; raises if it was tampered with, replayed or reordered."""
        from cryptography.exceptions import InvalidTag

        from track.server.wire import FrameError

        nonce = self._received.to_bytes(12, "big")
        try:
            plain = self._receive.decrypt(nonce, data, None)
        except InvalidTag:
            raise FrameError(
                f"frame {self._received} failed authentication (tampered, replayed or reordered)"
            ) from None
        self._received += 1
        return plain


def fingerprint(public_key: bytes) -> str:
    """The fingerprint a client pins: SHA-256 of the raw Ed25519 public key, in hex."""
    return hashlib.sha256(public_key).hexdigest()


def _raw_public(key: X25519PrivateKey | Ed25519PrivateKey) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def load_identity(path: str) -> Ed25519PrivateKey:
    """The server's long-term Ed25519 key from ``path``, created (mode 0600) if missing."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        load_pem_private_key,
    )

    if os.path.exists(path):
        with open(path, "rb") as file:
            try:
                key = load_pem_private_key(file.read(), password=None)
            except (ValueError, TypeError) as error:
                raise ConfigurationError(f"{path} is not an unencrypted PEM key: {error}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ConfigurationError(f"{path} does not hold an Ed25519 private key")
        return key
    key = Ed25519PrivateKey.generate()
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    return key


def identity_fingerprint(identity: Ed25519PrivateKey) -> str:
    """The fingerprint of a long-term key, as the server logs it."""
    return fingerprint(_raw_public(identity))


def _derive(secret: bytes, client_pub: bytes, server_pub: bytes) -> tuple[bytes, bytes]:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    salt = hashlib.sha256(CONTEXT + client_pub + server_pub).digest()
    keys = HKDF(hashes.SHA256(), length=64, salt=salt, info=CONTEXT).derive(secret)
    return keys[:32], keys[32:]


def _exchange(private: X25519PrivateKey, peer_pub: bytes, peer: str) -> bytes:
    """The X25519 shared secret; a low-order peer key (e.g. all zeros) is a handshake error."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

    try:
        return private.exchange(X25519PublicKey.from_public_bytes(peer_pub))
    except ValueError:
        raise HandshakeError(
            f"the {peer}'s X25519 public key is invalid "
            "(not 32 bytes, or a low-order point such as all zeros)"
        ) from None


def client_start() -> tuple[X25519PrivateKey, dict[str, Any]]:
    """A fresh ephemeral key and the hello that carries its public half."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    private = X25519PrivateKey.generate()
    return private, {"pub": _raw_public(private)}


def server_accept(
    hello: dict[str, Any], identity: Ed25519PrivateKey
) -> tuple[dict[str, Any], AESChannel]:
    """Answer a client's hello: the signed reply and the server's end of the channel."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    client_pub = hello.get("pub")
    if not isinstance(client_pub, bytes) or len(client_pub) != 32:
        raise HandshakeError("the AES hello must carry a 32-byte X25519 public key")
    private = X25519PrivateKey.generate()
    server_pub = _raw_public(private)
    secret = _exchange(private, client_pub, "client")
    to_server, to_client = _derive(secret, client_pub, server_pub)
    reply = {
        "pub": server_pub,
        "key": _raw_public(identity),
        "sig": identity.sign(CONTEXT + client_pub + server_pub),
    }
    return reply, AESChannel(send_key=to_client, receive_key=to_server)


def client_finish(
    private: X25519PrivateKey, reply: dict[str, Any], pinned: str | None
) -> tuple[AESChannel, str]:
    """Check the server's signed reply (and pinned fingerprint); the client's channel end."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    server_pub, key, signature = reply.get("pub"), reply.get("key"), reply.get("sig")
    if not (
        isinstance(server_pub, bytes) and isinstance(key, bytes) and isinstance(signature, bytes)
    ):
        raise HandshakeError("the server's AES reply is malformed")
    seen = fingerprint(key)
    if pinned is not None and seen != pinned.lower():
        raise HandshakeError(
            f"server key fingerprint {seen} does not match the pinned {pinned}: refusing to "
            "connect (a different server, or a man in the middle)"
        )
    client_pub = _raw_public(private)
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(signature, CONTEXT + client_pub + server_pub)
    except (InvalidSignature, ValueError):
        raise HandshakeError("the server's handshake signature is invalid") from None
    secret = _exchange(private, server_pub, "server")
    to_server, to_client = _derive(secret, client_pub, server_pub)
    return AESChannel(send_key=to_server, receive_key=to_client), seen
