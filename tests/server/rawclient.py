"""A bare-socket client for hostile tests: it speaks the wire protocol by hand."""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

from trackserver import PASSWORD, USER

from track.server import crypto, wire


def connect(port: int, timeout: float = 5.0, source: str | None = None) -> socket.socket:
    """A TCP connection to the server on 127.0.0.1 (from the loopback address ``source``)."""
    address = (source, 0) if source else None
    return socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=address)


def greet(
    port: int, layer: str | None = "AES", source: str | None = None
) -> tuple[socket.socket, Any]:
    """A connection past the handshake, before the login, with its channel."""
    sock = connect(port, source=source)
    hello: dict[str, Any] = {"track": wire.VERSION, "layer": layer}
    private = None
    if layer == "AES":
        private, extra = crypto.client_start()
        hello.update(extra)
    sock.sendall(wire.frame(wire.encode(hello)))
    reply = wire.decode(wire.recv_frame(sock, 1 << 20))
    assert "error" not in reply, reply
    channel: Any = crypto.PlainChannel()
    if private is not None:
        channel, _ = crypto.client_finish(private, reply, None)
    return sock, channel


def send_login(sock: socket.socket, channel: Any, login_message: Any) -> None:
    """Send a login frame (any value: hostile tests send malformed ones)."""
    sock.sendall(wire.frame(channel.seal(wire.encode(login_message))))


def answer(sock: socket.socket, channel: Any) -> Any:
    """The server's next (sealed) frame."""
    return wire.decode(channel.open(wire.recv_frame(sock, 1 << 20)))


def login(port: int, layer: str | None = "AES") -> tuple[socket.socket, Any]:
    """A connection past the handshake and login, with its channel."""
    sock, channel = greet(port, layer)
    send_login(sock, channel, {"user": USER, "password": PASSWORD, "session": "raw"})
    assert answer(sock, channel) == {"ok": True}
    return sock, channel


def closed_by_peer(sock: socket.socket) -> bool:
    """True when the server closed the connection (reads EOF or reset before the timeout)."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


class FlippingProxy:
    """Forwards 127.0.0.1 traffic to a server, flipping one byte of the Nth client chunk once."""

    def __init__(self, port: int, flip_chunk: int) -> None:
        self.target, self.flip_chunk = port, flip_chunk
        self.flipped = False
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, upstream: bool) -> None:
        chunks = 0
        try:
            while data := source.recv(65536):
                chunks += 1
                if upstream and not self.flipped and chunks == self.flip_chunk:
                    self.flipped = True
                    data = data[:-1] + bytes([data[-1] ^ 0x01])
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()

    def close(self) -> None:
        """Stop accepting."""
        self.listener.close()
