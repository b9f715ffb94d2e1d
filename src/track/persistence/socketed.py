"""``socket://``: log to a track server that owns the store (seed API module).

The implementation lives in :mod:`track.server`; this module re-exports the seeds' names:
``start_track_server``, ``SocketServer``, ``SocketClient`` and ``RPCCallFailure``, and the
message helpers ``send``, ``recv``, ``read``, ``write``, ``to_bytes``, ``to_obj`` and
``ServerSignalHandler`` (kept in :mod:`track.compat.socketed`), on today's wire format.
"""

from __future__ import annotations

from track.compat.socketed import ServerSignalHandler, read, recv, send, to_bytes, to_obj, write
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
    "ServerSignalHandler",
    "ServerUnreachable",
    "SocketClient",
    "SocketServer",
    "read",
    "recv",
    "send",
    "start_track_server",
    "to_bytes",
    "to_obj",
    "write",
]
