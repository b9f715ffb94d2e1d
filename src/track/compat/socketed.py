"""The seeds' message helpers of ``track.persistence.socketed``, on today's wire format.

A message is msgpack (:mod:`track.server.wire`: track objects as typed extensions, never
pickle; malformed input raises :class:`~track.server.wire.FrameError`); on a stream each
message is one frame, its 4-byte big-endian length then its bytes, as between a track client
and server. :func:`send`/:func:`recv` work on blocking sockets, including an
:class:`~track.utils.encrypted.EncryptedSocket`; :func:`read`/:func:`write` on asyncio streams.
"""

from __future__ import annotations

import asyncio
import socket
from types import FrameType
from typing import Any

from track.server import wire
from track.utils.signal import SignalHandler

__all__ = ["ServerSignalHandler", "read", "recv", "send", "to_bytes", "to_obj", "write"]

#: how long a frame that began to arrive may take to finish, when read() has no timeout
FRAME_TIMEOUT = 60.0


def to_bytes(message: Any) -> bytes:
    """A message (plain values and track objects) as its payload bytes."""
    return wire.encode(message)


def to_obj(message: bytes) -> Any:
    """The message of a payload; malformed or hostile bytes raise ``FrameError``."""
    return wire.decode(message)


def send(socket: socket.socket, msg: Any) -> None:
    """Send ``msg`` as one frame on a blocking socket."""
    socket.sendall(wire.frame(to_bytes(msg)))


def recv(socket: socket.socket, timeout: float | None = None) -> Any:
    """The next message of a blocking socket, waiting up to ``timeout`` seconds per read.

    ``timeout`` (None: the socket's own) applies to this call only. A frame longer than
    ``wire.DEFAULT_MAX_FRAME`` raises ``FrameError``; a peer that closes raises
    ``ConnectionError``.
    """
    previous = socket.gettimeout()
    if timeout is not None:
        socket.settimeout(timeout)
    try:
        return to_obj(wire.recv_frame(socket, wire.DEFAULT_MAX_FRAME))
    finally:
        if timeout is not None:
            socket.settimeout(previous)


async def read(reader: asyncio.StreamReader, timeout: float | None = None) -> Any:
    """The next message of an asyncio stream: waits up to ``timeout`` for it to start.

    Once started, a frame must arrive within ``timeout`` (:data:`FRAME_TIMEOUT` without one).
    """
    frame = await wire.read_frame(
        reader,
        wire.DEFAULT_MAX_FRAME,
        timeout,
        FRAME_TIMEOUT if timeout is None else timeout,
    )
    return to_obj(frame)


def write(writer: asyncio.StreamWriter, msg: Any) -> None:
    """Queue ``msg`` as one frame on an asyncio stream (``await writer.drain()`` to flush)."""
    writer.write(wire.frame(to_bytes(msg)))


class ServerSignalHandler(SignalHandler):
    """Closes ``server`` (anything with ``close()``) at SIGINT, SIGTERM and exit (seed API).

    A server started by ``track serve`` or :func:`~track.persistence.socketed.
    start_track_server` stops cleanly on those signals by itself (it drains its requests and
    commits its store); this handler is for a server the program runs its own way. The
    previous handler runs after it (by default: KeyboardInterrupt, or exit status 143).
    """

    def __init__(self, server: Any) -> None:
        self.server = server
        self._closed = False
        super().__init__()

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            self.server.close()

    def sigterm(self, signum: int, frame: FrameType | None) -> None:
        """On SIGTERM, close the server."""
        self._close()

    def sigint(self, signum: int, frame: FrameType | None) -> None:
        """On SIGINT, close the server."""
        self._close()

    def atexit(self) -> None:
        """At exit, close the server (once)."""
        self._close()
