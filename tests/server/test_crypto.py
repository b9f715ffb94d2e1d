"""The AES layer: a signed X25519 handshake and sealed frames that detect tampering and replay."""

from __future__ import annotations

from pathlib import Path

import pytest

from track.server.crypto import (
    HandshakeError,
    client_finish,
    client_start,
    identity_fingerprint,
    load_identity,
    server_accept,
)
from track.server.wire import FrameError


def pair(tmp_path: Path, pin: str | None = None):
    """A client and server channel after a real handshake."""
    identity = load_identity(str(tmp_path / "key.pem"))
    private, hello = client_start()
    reply, server = server_accept(hello, identity)
    client, seen = client_finish(private, reply, pin)
    return client, server, seen, identity


def test_both_directions_decrypt_in_order(tmp_path: Path) -> None:
    """Frames sealed by one end open at the other, in both directions."""
    client, server, _, _ = pair(tmp_path)
    assert server.open(client.seal(b"one")) == b"one"
    assert client.open(server.seal(b"two")) == b"two"
    assert server.open(client.seal(b"three")) == b"three"


def test_tampered_replayed_and_reordered_frames_fail(tmp_path: Path) -> None:
    """A flipped bit, a replay or a reordering is refused."""
    client, server, _, _ = pair(tmp_path)
    first, second = client.seal(b"a"), client.seal(b"b")
    with pytest.raises(FrameError):
        server.open(second)
    tampered = bytes([first[0] ^ 1]) + first[1:]
    with pytest.raises(FrameError):
        server.open(tampered)
    assert server.open(first) == b"a"
    with pytest.raises(FrameError):
        server.open(first)


def test_pinned_fingerprint_is_enforced(tmp_path: Path) -> None:
    """The right pin connects; a wrong pin is refused; the key file is reused and private."""
    _, _, seen, _ = pair(tmp_path)
    assert seen == identity_fingerprint(load_identity(str(tmp_path / "key.pem")))
    assert (tmp_path / "key.pem").stat().st_mode & 0o077 == 0
    pair(tmp_path, pin=seen)
    with pytest.raises(HandshakeError, match="does not match the pinned"):
        pair(tmp_path, pin="ab" * 32)


def test_a_forged_signature_is_refused(tmp_path: Path) -> None:
    """A reply whose signature does not cover this handshake is refused."""
    identity = load_identity(str(tmp_path / "key.pem"))
    private, hello = client_start()
    reply, _ = server_accept(hello, identity)
    reply["sig"] = bytes(64)
    with pytest.raises(HandshakeError, match="signature"):
        client_finish(private, reply, None)
