"""``socket://``: log to a track server that owns the store (seed API module).

The implementation lives in :mod:`track.server`; this module re-exports the seeds' names:
``start_track_server``, ``SocketServer``, ``SocketClient`` and ``RPCCallFailure``.
"""

from __future__ import annotations

from track.server.client import (
    AuthenticationFailed,
    RPCCallFailure,
    ServerRefused,
    ServerUnreachable,
    SocketClient,
)
from track.server.server import ServerOptions, SocketServer, start_track_server

__all__ = [
    "AuthenticationFailed",
    "RPCCallFailure",
    "ServerOptions",
    "ServerRefused",
    "ServerUnreachable",
    "SocketClient",
    "SocketServer",
    "start_track_server",
]
