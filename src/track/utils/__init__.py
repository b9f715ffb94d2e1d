"""Small helpers shared across track: statistics, timing, throttling, signals and logging."""

from __future__ import annotations

from track.errors import NotFound
from track.registry import lazy_aliases

#: The seeds' name for :class:`track.errors.NotFound`, track's one not-found error.
ItemNotFound = NotFound


#: the seeds' socket helpers, kept in :mod:`track.compat.sockets`
__getattr__ = lazy_aliases(
    __name__, dict.fromkeys(("open_socket", "listen_socket"), "track.compat.sockets")
)
