"""The seeds' ``track.utils.open_socket`` and ``listen_socket``: TCP sockets, optionally encrypted.

``backend`` is the security layer: None (or ``"none"``) for a plain socket, ``"AES"`` for an
:class:`~track.utils.encrypted.EncryptedSocket` (track's authenticated channel).
"""

from __future__ import annotations

import socket
from typing import Any

from track.compat.encrypted import wrap_socket

__all__ = ["listen_socket", "open_socket"]


def _encrypted(backend: str | None) -> bool:
    if backend in (None, "", "none", "None"):
        return False
    if backend == "AES":
        return True
    raise ValueError(f"backend must be 'AES' or None, not {backend!r}")


def open_socket(
    add: str,
    port: int,
    backend: str | None = None,
    *,
    server_key: str | None = None,
    timeout: float | None = None,
) -> socket.socket:
    """A socket connected to ``add:port``; with ``backend="AES"``, past its handshake.

    ``server_key`` pins the server's key fingerprint (AES only).
    """
    encrypted = _encrypted(backend)
    sock = socket.create_connection((add, port), timeout=timeout)
    if not encrypted:
        return sock
    try:
        return wrap_socket(sock, handshake=True, server_key=server_key)
    except BaseException:
        sock.close()
        raise


def listen_socket(
    add: str, port: int, backend: str | None = None, *, identity: Any = None, backlog: int = 128
) -> socket.socket:
    """A socket listening on ``add:port`` (port 0: any free one).

    With ``backend="AES"``, ``accept()`` returns encrypted connections whose handshakes are
    signed with ``identity`` (a key, a key file's path, or None for a new in-memory key).
    """
    encrypted = _encrypted(backend)
    sock = socket.create_server((add, port), backlog=backlog)
    if not encrypted:
        return sock
    return wrap_socket(sock, server_side=True, identity=identity)
