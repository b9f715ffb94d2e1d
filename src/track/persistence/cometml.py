"""Track 0.0.1's path of the Comet store and forwarder, now in :mod:`track.forward.comet`.

Each name is imported on first access, so that ``track.persistence`` (below ``track.forward`` in
the layers of docs/architecture.md) never imports ``track.forward``.
"""

from __future__ import annotations

from track.registry import lazy_aliases

#: each name -> the module defining it, imported on first access
_ALIASES = dict.fromkeys(("CometForwarder", "CometProtocol"), "track.forward.comet")
__all__ = sorted(_ALIASES)
__getattr__ = lazy_aliases(__name__, _ALIASES)
