"""Small helpers shared across track: statistics, timing, throttling, signals and logging."""

from __future__ import annotations

from typing import Any

#: the seeds' socket helpers, kept in :mod:`track.compat.sockets`
_COMPAT = {"open_socket": "sockets", "listen_socket": "sockets"}


class ItemNotFound(Exception):
    """Raised when a looked-up item (trial, project, group...) does not exist.

    A dedicated exception lets callers tell "missing" apart from genuine storage errors.
    """


def __getattr__(name: str) -> Any:
    """The seeds' ``open_socket``/``listen_socket`` (:mod:`track.compat.sockets`), on first use."""
    if name not in _COMPAT:  # checked here, so that a probe (``__path__``) imports nothing
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from track.compat import compat_attribute

    return compat_attribute(__name__, name, _COMPAT)
