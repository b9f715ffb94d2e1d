"""``socket://``: log to a track server that owns the store (seed API module).

The implementation lives in :mod:`track.server`; this module re-exports the seeds' names:
``start_track_server``, ``SocketServer``, ``SocketClient`` and ``RPCCallFailure``, and the
message helpers ``send``, ``recv``, ``read``, ``write``, ``to_bytes``, ``to_obj`` and
``ServerSignalHandler`` (kept in :mod:`track.compat.socketed`), on today's wire format. Each is
imported on first access, so importing this module imports neither the server nor track.compat.
"""

from __future__ import annotations

from track.registry import lazy_aliases

#: each name -> the module defining it, imported on first access
_ALIASES = {
    **dict.fromkeys(
        (
            "AuthenticationFailed",
            "RPCCallFailure",
            "ServerRefused",
            "ServerUnreachable",
            "SocketClient",
        ),
        "track.server.client",
    ),
    **dict.fromkeys(("ServerOptions", "SocketServer", "start_track_server"), "track.server.server"),
    **dict.fromkeys(
        ("ServerSignalHandler", "read", "recv", "send", "to_bytes", "to_obj", "write"),
        "track.compat.socketed",
    ),
}
__all__ = sorted(_ALIASES)
__getattr__ = lazy_aliases(__name__, _ALIASES)
