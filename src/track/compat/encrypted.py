"""The seeds' ``EncryptedSocket``: a socket whose bytes cross in track's authenticated channel.

The seeds encrypted with AES-CBC and no authentication: a tampered byte went unnoticed. This
socket speaks the track server's AES layer instead (:mod:`track.server.crypto`): an X25519
key exchange signed by the server side's Ed25519 key, then AES-256-GCM frames numbered in
each direction, so a tampered, replayed, dropped or reordered frame fails to decrypt and
``recv`` raises :class:`~track.server.wire.FrameError`. The handshake frames are the track
server's, so a client socket can also open a connection to ``track serve --security-layer
AES``.

A client that pins the server's key (``server_key=``, the fingerprint the server side's
:attr:`EncryptedSocket.fingerprint` shows) detects a man in the middle; without it the channel
is encrypted and authenticated but the peer's identity is not checked (it is left in
:attr:`EncryptedSocket.peer_fingerprint` to check). Data is sent in frames of at most 1 MiB.
"""

from __future__ import annotations

import os
import socket
from typing import Any, NoReturn

from track.server import crypto, wire

__all__ = ["EncryptedSocket", "new_identity", "wrap_socket"]

#: plaintext bytes per frame
CHUNK = 1 << 20


def new_identity() -> Any:
    """A fresh Ed25519 key for a server side that has no key file (kept in memory only)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate()


class EncryptedSocket(socket.socket):
    """A socket with an encrypted, authenticated layer; made by :func:`wrap_socket`.

    ``send``/``sendall`` seal the data into frames, ``recv``/``recv_into`` return the
    decrypted bytes (``b""`` at the end of the stream), ``accept`` (on a listening server
    side) returns connections whose handshake is done. The handshake runs at the first
    ``send``/``recv`` unless :meth:`do_handshake` ran it. Calls that would bypass the layer
    (``sendto``, ``recvfrom``, ``sendmsg``, ``recvmsg``, ``dup``) raise.
    """

    def __init__(
        self,
        family: int = -1,
        type: int = -1,
        proto: int = -1,
        fileno: int | None = None,
        *,
        server_side: bool = False,
        identity: Any = None,
        server_key: str | None = None,
        max_frame: int = wire.DEFAULT_MAX_FRAME,
    ) -> None:
        super().__init__(family, type, proto, fileno)
        self.server_side = server_side
        self.identity = identity
        self.server_key = server_key
        self.max_frame = max_frame
        #: the fingerprint of the peer's key, once a client side's handshake checked it
        self.peer_fingerprint: str | None = None
        self._channel: crypto.AESChannel | None = None
        self._buffer = bytearray()

    @property
    def fingerprint(self) -> str | None:
        """The fingerprint of this server side's key, for clients to pin (None on a client)."""
        return None if self.identity is None else crypto.identity_fingerprint(self.identity)

    # ---- raw frames ---------------------------------------------------------------------

    def _recv_raw(self, size: int, eof_ok: bool) -> bytes | None:
        chunks = bytearray()
        while len(chunks) < size:
            chunk = super().recv(size - len(chunks))
            if not chunk:
                if eof_ok and not chunks:
                    return None
                raise ConnectionError("the peer closed the connection in the middle of a frame")
            chunks += chunk
        return bytes(chunks)

    def _read_frame(self, eof_ok: bool = False) -> bytes | None:
        header = self._recv_raw(wire.HEADER.size, eof_ok)
        if header is None:
            return None
        (length,) = wire.HEADER.unpack(header)
        if length > self.max_frame:
            raise wire.FrameError(
                f"frame of {length} bytes exceeds the maximum of {self.max_frame}"
            )
        return self._recv_raw(length, eof_ok=False)

    def _send_plain(self, message: dict[str, Any]) -> None:
        super().sendall(wire.frame(wire.encode(message)))

    def _read_plain(self) -> Any:
        frame = self._read_frame()
        assert frame is not None
        return wire.decode(frame)

    # ---- handshake ----------------------------------------------------------------------

    def do_handshake(self) -> None:
        """Run the key exchange now (once); raises HandshakeError if the peer's is invalid."""
        if self._channel is not None:
            return
        if self.server_side:
            if self.identity is None:
                raise crypto.HandshakeError("a server side needs an identity (its signing key)")
            hello = self._read_plain()
            if not isinstance(hello, dict) or hello.get("track") != wire.VERSION:
                raise crypto.HandshakeError(f"not a track AES hello: {hello!r}")
            if hello.get("layer") != "AES":
                raise crypto.HandshakeError(f"the peer asked for layer {hello.get('layer')!r}")
            reply, channel = crypto.server_accept(hello, self.identity)
            self._send_plain({"track": wire.VERSION, "layer": "AES", **reply})
        else:
            private, extra = crypto.client_start()
            self._send_plain({"track": wire.VERSION, "layer": "AES", **extra})
            reply = self._read_plain()
            if not isinstance(reply, dict) or "error" in reply:
                raise crypto.HandshakeError(f"the peer refused the AES handshake: {reply!r}")
            channel, self.peer_fingerprint = crypto.client_finish(private, reply, self.server_key)
        self._channel = channel

    def _ready(self) -> crypto.AESChannel:
        self.do_handshake()
        assert self._channel is not None
        return self._channel

    # ---- the socket interface -----------------------------------------------------------

    def accept(self) -> tuple[EncryptedSocket, Any]:
        """Accept a connection and run its handshake (this side signs with its identity)."""
        plain, address = super().accept()
        conn = EncryptedSocket(
            self.family,
            self.type,
            self.proto,
            fileno=plain.detach(),
            server_side=True,
            identity=self.identity,
            max_frame=self.max_frame,
        )
        conn.settimeout(plain.gettimeout())
        try:
            conn.do_handshake()
        except BaseException:
            conn.close()
            raise
        return conn, address

    def send(self, data: Any, flags: int = 0) -> int:
        """Seal and send all of ``data``; returns its length."""
        _no_flags(flags)
        channel = self._ready()
        view = memoryview(data).cast("B")
        for start in range(0, len(view), CHUNK):
            super().sendall(wire.frame(channel.seal(bytes(view[start : start + CHUNK]))))
        return len(view)

    def sendall(self, data: Any, flags: int = 0) -> None:
        """Seal and send all of ``data``."""
        self.send(data, flags)

    def sendfile(self, file: Any, offset: int = 0, count: int | None = None) -> int:
        """Send a file's bytes through the layer (never by ``os.sendfile``, which would not)."""
        if offset:
            file.seek(offset)
        sent = 0
        while count is None or sent < count:
            chunk = file.read(CHUNK if count is None else min(CHUNK, count - sent))
            if not chunk:
                break
            self.sendall(chunk)
            sent += len(chunk)
        return sent

    def _fill(self) -> bool:
        """Decrypt frames into the buffer until it has bytes; False at the end of the stream."""
        channel = self._ready()
        while not self._buffer:
            frame = self._read_frame(eof_ok=True)
            if frame is None:
                return False
            self._buffer += channel.open(frame)
        return True

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        """Up to ``bufsize`` decrypted bytes; ``b""`` once the peer closed the stream."""
        _no_flags(flags)
        if not self._buffer and not self._fill():
            return b""
        data = bytes(self._buffer[:bufsize])
        del self._buffer[:bufsize]
        return data

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        """``recv`` into ``buffer``; returns the number of bytes written."""
        view = memoryview(buffer).cast("B")
        data = self.recv(nbytes or len(view), flags)
        view[: len(data)] = data
        return len(data)

    def readsize(self) -> int:
        """The number of decrypted bytes ready to read, waiting for a frame if none is (0: end)."""
        if not self._buffer:
            self._fill()
        return len(self._buffer)

    def _bypass(self, name: str) -> NoReturn:
        raise NotImplementedError(f"{name}() would bypass the encryption of an EncryptedSocket")

    def dup(self) -> NoReturn:
        """Refused: a duplicate would share the stream but not the channel's state."""
        self._bypass("dup")

    def sendto(self, *args: Any) -> NoReturn:
        """Refused: datagrams would bypass the layer."""
        self._bypass("sendto")

    def sendmsg(self, *args: Any) -> NoReturn:
        """Refused: would bypass the layer."""
        self._bypass("sendmsg")

    def recvfrom(self, *args: Any) -> NoReturn:
        """Refused: would bypass the layer."""
        self._bypass("recvfrom")

    def recvfrom_into(self, *args: Any) -> NoReturn:
        """Refused: would bypass the layer."""
        self._bypass("recvfrom_into")

    def recvmsg(self, *args: Any) -> NoReturn:
        """Refused: would bypass the layer."""
        self._bypass("recvmsg")

    def recvmsg_into(self, *args: Any) -> NoReturn:
        """Refused: would bypass the layer."""
        self._bypass("recvmsg_into")


def _no_flags(flags: int) -> None:
    if flags:
        raise ValueError("an EncryptedSocket takes no send/recv flags")


def wrap_socket(
    sock: socket.socket,
    server_side: bool = False,
    handshake: bool = False,
    *,
    identity: Any = None,
    server_key: str | None = None,
) -> EncryptedSocket:
    """``sock`` (which is detached, so use only the result) with the encrypted layer.

    A server side signs its handshakes with ``identity``: an Ed25519 private key, the path
    of a key file (created, mode 0600, if missing; e.g. ``track serve``'s), or None for a new
    key kept in memory. A client side may pin the server's key fingerprint (``server_key``).
    ``handshake=True`` runs the handshake now (on a connected socket).
    """
    if isinstance(identity, (str, os.PathLike)):
        identity = crypto.load_identity(os.fspath(identity))
    elif identity is None and server_side:
        identity = new_identity()
    timeout = sock.gettimeout()
    wrapped = EncryptedSocket(
        sock.family,
        sock.type,
        sock.proto,
        fileno=sock.detach(),
        server_side=server_side,
        identity=identity,
        server_key=server_key,
    )
    wrapped.settimeout(timeout)
    if handshake:
        wrapped.do_handshake()
    return wrapped
